"""Apply a disclosure policy to a statistics table: primary and secondary suppression,
rounding, a status for every cell and an information-loss summary.

Status of each measure cell (long-format ``SdcResult.status`` table, one row per row ×
measure column, with the row's dimension values, ``column``, ``status`` and ``rule``):

- ``published``: published, value unchanged by rounding;
- ``rounded``: published, rounded (counts to the base, earnings to £100, percentages 0.1);
- ``primary``: suppressed, sensitive itself (rule: threshold, disclosive_zero,
  min_contributors, p_percent, nk_dominance);
- ``secondary``: suppressed to protect other cells (rule: secondary), or a derived value
  whose source is suppressed (rule: derived);
- ``not_applicable``: no value in the input (a magnitude with nothing to measure).

Secondary rules: ``secondary`` (protects another cell), ``derived``, ``repair`` (added
because the independent audit could narrow a cell, see ``repair.py``), ``block`` (the
repair loop's last resort), ``previous`` (suppressed in a release consumers already hold).

The status table is internal (audit log, catalog metadata): publishing it would tell an
attacker which suppressed cells are small. The published table is ``SdcResult.table``:
suppressed and not-applicable cells are null; ``export.human_table`` marks them 'c' / 'z'.

Every decision is deterministic: budgets are counted in LP solves and audit rounds, never
in seconds (``timings`` are for reporting only).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from labour_trust.disclosure import audit as audit_module
from labour_trust.disclosure.cells import Grid, build_grid
from labour_trust.disclosure.description import Derived, TableDescription
from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.disclosure.primary import count_primaries, magnitude_primaries
from labour_trust.disclosure.repair import (
    REPAIR_ROUNDS,
    RepairRecord,
    close_singletons,
    repair,
)
from labour_trust.disclosure.rounding import (
    count_bounds,
    magnitude_bounds,
    round_counts,
    round_step,
    round_steps,
)
from labour_trust.disclosure.secondary import (
    CLEANUP_LPS,
    Criterion,
    SecondaryResult,
    problem_from_grid,
    solve,
)

PUBLISHED, ROUNDED, PRIMARY, SECONDARY, NOT_APPLICABLE = (
    "published",
    "rounded",
    "primary",
    "secondary",
    "not_applicable",
)
SUPPRESSED = (PRIMARY, SECONDARY)
METADATA_POLICY = b"labour_trust.sdc.policy_version"
METADATA_TABLE = b"labour_trust.sdc.table"
METHODS = ("lp", "partner", "repair")
# The "repair" method grows its pattern one partner per narrow cell per audit.
REPAIR_ONLY_ROUNDS = 50


@dataclass(frozen=True)
class InformationLoss:
    """What disclosure control cost. ``suppressed_value_share`` is over additive cells
    (counts and sums, margins included): suppressed true value / total true value."""

    cells: int
    published: int
    rounded: int
    primary: int
    secondary: int
    not_applicable: int
    suppressed_value_share: float
    by_column: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_tally(
        cls,
        tally: Mapping[str, int],
        hidden: float,
        total: float,
        by_column: dict[str, dict[str, float]],
    ) -> InformationLoss:
        """From cell counts by status and the suppressed / total true value."""
        return cls(
            cells=sum(tally.values()),
            published=tally[PUBLISHED],
            rounded=tally[ROUNDED],
            primary=tally[PRIMARY],
            secondary=tally[SECONDARY],
            not_applicable=tally[NOT_APPLICABLE],
            suppressed_value_share=float(hidden / total) if total else 0.0,
            by_column=by_column,
        )

    @property
    def suppressed(self) -> int:
        return self.primary + self.secondary

    def as_dict(self) -> dict[str, object]:
        return {
            "cells": self.cells,
            "published": self.published,
            "rounded": self.rounded,
            "primary": self.primary,
            "secondary": self.secondary,
            "not_applicable": self.not_applicable,
            "suppressed_value_share": self.suppressed_value_share,
            "by_column": self.by_column,
        }


@dataclass(frozen=True)
class SdcResult:
    table: pa.Table  # what may be published
    status: pa.Table  # internal: per cell status and rule
    loss: InformationLoss
    policy: DisclosurePolicy
    description: TableDescription
    timings: dict[str, float]
    lp_count: int
    cleanup_complete: bool  # False: clean-up budget ran out (safe, possibly not minimal)
    audits: int = 0  # independent audits run by the repair loop (1 = first pattern passed)
    audit_passed: bool | None = None  # the repair loop's last audit (None: not run)
    repaired_cells: tuple[str, ...] = ()  # suppressed by the repair loop (rule "repair")
    blocked_cells: tuple[str, ...] = ()  # suppressed as a whole block (rule "block")

    def sdc_metadata(self) -> dict[str, object]:
        """Plain figures for catalog metadata (no cell values, no statuses)."""
        return {
            "lp_count": self.lp_count,
            "cleanup_complete": self.cleanup_complete,
            "audits": self.audits,
            "audit_passed": self.audit_passed,
            "cells_repaired": len(self.repaired_cells),
            "cells_block_suppressed": len(self.blocked_cells),
        }

    def status_of(self, column: str, **dims: object) -> str:
        """Status of one cell, e.g. ``status_of("claimants", area="E06000001")``."""
        return self._cell(column, dims)["status"]

    def rule_of(self, column: str, **dims: object) -> str:
        return self._cell(column, dims)["rule"]

    def cells_with(self, status: str) -> list[dict[str, object]]:
        return [r for r in self.status.to_pylist() if r["status"] == status]

    def _cell(self, column: str, dims: Mapping[str, object]) -> dict[str, object]:
        for r in self.status.to_pylist():
            if r["column"] == column and all(r[k] == v for k, v in dims.items()):
                return r
        raise KeyError(f"no cell {column} {dict(dims)} in {self.description.name}")


def apply_policy(
    table: pa.Table,
    description: TableDescription,
    policy: DisclosurePolicy | None = None,
    *,
    contributors: pa.Table | Mapping[str, pa.Table] | None = None,
    cleanup: bool = True,
    cleanup_lps: int = CLEANUP_LPS,
    repair_rounds: int | None = None,
    method: str = "lp",
) -> SdcResult:
    """Suppress, protect and round ``table`` under ``policy``.

    ``contributors``: contributor-level values for the magnitude columns — one Arrow table
    (used for every magnitude) or a mapping column → table; each has the description's
    dimension columns at the finest level, ``value``, and optionally ``contributor``.
    ``cleanup`` re-publishes unnecessary secondary suppressions, within ``cleanup_lps``
    attacker LP solves. The independent audit then attacks the result; cells it can
    narrow are repaired within ``repair_rounds`` rounds (``repair.py``).

    ``method="partner"`` is the baseline for information-loss comparisons, what the
    "hide the smallest partner" rule would hide: no LP protection and no audit (so
    ``audit_passed`` is None); the cheapest published partner is hidden wherever a hidden
    cell is alone in an equation, until none is. ``method="repair"``: the repair loop
    alone, from the primaries (suppress the cheapest published partner of each cell the
    audit narrows until it passes).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    policy = policy or DisclosurePolicy()
    rounds = repair_rounds
    if rounds is None:
        rounds = REPAIR_ROUNDS if method == "lp" else REPAIR_ONLY_ROUNDS
    timings: dict[str, float] = {}
    start = time.perf_counter()
    prepared = prepare(table, description, policy, contributors)
    timings["primary_s"] = time.perf_counter() - start

    start = time.perf_counter()
    grid = prepared.grid
    problem = problem_from_grid(grid, prepared.bounds, _criteria(grid, policy), policy)
    last: list[SecondaryResult] = []

    def protect(forced: set[int]) -> set[int]:
        if method == "repair":
            return set(forced)
        last.append(solve(problem, forced, cleanup=cleanup, cleanup_lps=cleanup_lps))
        return last[-1].suppressed

    def narrow(suppressed: set[int]) -> list[int]:
        secondaries = {c: "secondary" for c in suppressed if c not in prepared.primaries}
        published = assemble(table, prepared, policy, secondaries)[0]
        return narrow_cells(grid, audit_module.audit(published, description, policy))

    if method == "partner":  # a yardstick, not a publication: no LP, no audit
        suppressed, added = close_singletons(problem, set(prepared.primaries)), {}
        record = None
    else:
        suppressed, added, record = repair(
            problem, set(prepared.primaries), protect, narrow, rounds=rounds
        )
    timings["secondary_s"] = time.perf_counter() - start

    start = time.perf_counter()
    secondaries = {c: added.get(c, "secondary") for c in suppressed - set(prepared.primaries)}
    published, status, loss = assemble(table, prepared, policy, secondaries)
    result = SdcResult(
        table=published,
        status=status,
        loss=loss,
        policy=policy,
        description=description,
        timings=timings,
        lp_count=sum(r.lp_count for r in last),
        cleanup_complete=all(r.cleanup_complete for r in last) and cleanup and method == "lp",
        **(repair_fields(record, grid.describe) if record else {}),
    )
    timings["assemble_s"] = time.perf_counter() - start
    return result


@dataclass(frozen=True)
class Prepared:
    """One table after validation, primary suppression and rounding."""

    grid: Grid
    primaries: dict[int, str]  # cell → rule
    magnitude_rules: dict[str, dict[int, str]]
    rounded: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray]


def prepare(
    table: pa.Table,
    description: TableDescription,
    policy: DisclosurePolicy,
    contributors: pa.Table | Mapping[str, pa.Table] | None = None,
) -> Prepared:
    """Validate, find the primaries and round: everything before secondary suppression."""
    grid = build_grid(table, description)
    primaries = count_primaries(grid, policy)
    magnitude_rules = magnitude_primaries(table, description, policy, contributors)
    for column, rules in magnitude_rules.items():
        if column in grid.additive:  # sums also take part in secondary suppression
            c = grid.additive.index(column)
            primaries.update({grid.cell(row, c): rule for row, rule in rules.items()})
    rounded, bounds = _rounded_additive(grid, policy)
    return Prepared(grid, primaries, magnitude_rules, rounded, bounds)


def assemble(
    table: pa.Table,
    prepared: Prepared,
    policy: DisclosurePolicy,
    secondaries: Mapping[int, str],
) -> tuple[pa.Table, pa.Table, InformationLoss]:
    """Published table, status table and loss for a suppression pattern (cell → rule)."""
    grid = prepared.grid
    columns = _column_outcomes(
        table,
        grid,
        policy,
        prepared.primaries,
        secondaries,
        prepared.rounded,
        prepared.magnitude_rules,
    )
    return (
        _published_table(table, grid.description, policy, columns),
        _status_table(grid, columns),
        _information_loss(grid, columns),
    )


def narrow_cells(grid: Grid, report: audit_module.AuditReport) -> list[int]:
    """Cell ids of the audit's failures (suppressed cells it can narrow too far)."""
    row_of = {key: row for row, key in enumerate(grid.keys)}
    dims = grid.description.dimension_columns
    cells = []
    for failure in report.failures:
        row = row_of[tuple(failure.cell[d] for d in dims)]
        cells.append(grid.cell(row, grid.additive.index(failure.column)))
    return cells


def repair_fields(record: RepairRecord, describe) -> dict[str, object]:
    """SdcResult fields from a repair record (``describe``: cell id → text)."""
    return {
        "audits": record.audits,
        "audit_passed": record.passed,
        "repaired_cells": tuple(describe(c) for c in record.repaired),
        "blocked_cells": tuple(describe(c) for c in record.blocked),
    }


def _criteria(grid: Grid, policy: DisclosurePolicy) -> dict[str, Criterion]:
    """Counts keep an absolute interval width; sums one relative to their size."""
    return {
        c: Criterion("count", policy.count_protection)
        if c in grid.description.counts
        else Criterion("sum", policy.p_percent)
        for c in grid.additive
    }


@dataclass
class _Outcome:
    """Per-row published value, status and rule of one measure column."""

    values: list[float | int | None]
    status: list[str]
    rule: list[str]
    integer: bool

    def add(self, value: float | None, status: str, rule: str) -> None:
        if value is not None and self.integer:
            value = int(value)
        self.values.append(value)
        self.status.append(status)
        self.rule.append(rule)


def _rounded_additive(
    grid: Grid, policy: DisclosurePolicy
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Published (rounded) values and attacker bounds of every additive cell, flat."""
    rounded = np.zeros_like(grid.values)
    lower, upper = np.zeros_like(grid.values), np.zeros_like(grid.values)
    for c, column in enumerate(grid.additive):
        missing = np.isnan(grid.values[:, c])
        a = np.where(missing, 0.0, grid.values[:, c])
        if column in grid.description.counts:
            r = round_counts(a.astype(np.int64), policy.count_rounding_base).astype(float)
            lo, hi = count_bounds(r, policy.count_rounding_base, policy.threshold)
        else:
            step = policy.rounding_step(grid.description.unit_of(column))
            r = round_steps(a, step)
            lo, hi = magnitude_bounds(r, step)
        rounded[:, c] = np.where(missing, np.nan, r)
        lower[:, c], upper[:, c] = lo, hi
    return rounded, (lower.ravel(), upper.ravel())


def _column_outcomes(
    table: pa.Table,
    grid: Grid,
    policy: DisclosurePolicy,
    primaries: dict[int, str],
    secondaries: Mapping[int, str],
    rounded: np.ndarray,
    magnitude_rules: dict[str, dict[int, str]],
) -> dict[str, _Outcome]:
    description = grid.description
    outcomes: dict[str, _Outcome] = {}
    for c, column in enumerate(grid.additive):
        outcome = _Outcome([], [], [], integer=column in description.counts)
        for row in range(grid.n_rows):
            cell = grid.cell(row, c)
            true, pub = grid.values[row, c], rounded[row, c]
            if np.isnan(true):
                outcome.add(None, NOT_APPLICABLE, "")
            elif cell in primaries:
                outcome.add(None, PRIMARY, primaries[cell])
            elif cell in secondaries:
                outcome.add(None, SECONDARY, secondaries[cell])
            else:
                outcome.add(pub, PUBLISHED if pub == true else ROUNDED, "")
        outcomes[column] = outcome
    for magnitude in description.magnitudes:
        if not magnitude.additive:
            outcomes[magnitude.column] = _non_additive(
                table,
                magnitude.column,
                magnitude_rules[magnitude.column],
                policy.rounding_step(magnitude.unit),
            )
    for derived in description.derived:
        outcomes[derived.column] = _derived(
            table, derived, outcomes, policy.rounding_step(derived.unit)
        )
    return outcomes


def _non_additive(
    table: pa.Table, column: str, rules: dict[int, str], step: float | None
) -> _Outcome:
    values = table.column(column).to_pylist()
    outcome = _Outcome([], [], [], integer=False)
    for row, value in enumerate(values):
        if value is None:
            outcome.add(None, NOT_APPLICABLE, "")
        elif row in rules:
            outcome.add(None, PRIMARY, rules[row])
        else:
            pub = float(round_steps(np.array([value]), step)[0])
            outcome.add(pub, PUBLISHED if pub == value else ROUNDED, "")
    return outcome


def _derived(
    table: pa.Table, derived: Derived, outcomes: dict[str, _Outcome], step: float | None
) -> _Outcome:
    """Suppressed wherever a source is: a rate next to its denominator gives back its
    numerator. A share is recomputed from its published (rounded) numerator and denominator:
    a precise share of the true counts would undo their rounding."""
    values = table.column(derived.column).to_pylist()
    sources = derived.sources
    outcome = _Outcome([], [], [], integer=False)
    for row, value in enumerate(values):
        hidden = any(outcomes[s].status[row] in SUPPRESSED for s in sources if s in outcomes)
        if value is None:
            outcome.add(None, NOT_APPLICABLE, "")
        elif hidden:
            outcome.add(None, SECONDARY, "derived")
        else:
            if derived.unit == "share":
                numerator, denominator = (outcomes[s].values[row] for s in sources)
                value = numerator / denominator if denominator else value
            pub = round_step(value, step) if step else float(value)
            outcome.add(pub, PUBLISHED if pub == values[row] else ROUNDED, "")
    return outcome


def _published_table(
    table: pa.Table,
    description: TableDescription,
    policy: DisclosurePolicy,
    outcomes: dict[str, _Outcome],
) -> pa.Table:
    arrays, names = [], []
    for name in table.column_names:
        if name in description.hidden_columns:
            continue  # contributor counts feed the rules but are not for publication
        names.append(name)
        if name in outcomes:
            o = outcomes[name]
            arrays.append(pa.array(o.values, type=pa.int64() if o.integer else pa.float64()))
        else:
            arrays.append(table.column(name))
    metadata = {
        METADATA_POLICY: policy.version.encode(),
        METADATA_TABLE: description.name.encode(),
    }
    return pa.table(arrays, names=names).replace_schema_metadata(metadata)


def _status_table(grid: Grid, outcomes: dict[str, _Outcome]) -> pa.Table:
    dims = grid.description.dimension_columns
    columns: dict[str, list] = {d: [] for d in dims} | {"column": [], "status": [], "rule": []}
    for name, outcome in outcomes.items():
        for row, key in enumerate(grid.keys):
            for d, v in zip(dims, key, strict=True):
                columns[d].append(v)
            columns["column"].append(name)
            columns["status"].append(outcome.status[row])
            columns["rule"].append(outcome.rule[row])
    return pa.table(columns)


def _information_loss(grid: Grid, outcomes: dict[str, _Outcome]) -> InformationLoss:
    tally = {s: 0 for s in (PUBLISHED, ROUNDED, PRIMARY, SECONDARY, NOT_APPLICABLE)}
    by_column: dict[str, dict[str, float]] = {}
    suppressed_value = total_value = 0.0
    for name, outcome in outcomes.items():
        statuses = np.array(outcome.status)
        column_tally = {s: int((statuses == s).sum()) for s in tally}
        for s, n in column_tally.items():
            tally[s] += n
        stats: dict[str, float] = {k: float(v) for k, v in column_tally.items()}
        if name in grid.additive:
            values = np.nan_to_num(grid.values[:, grid.additive.index(name)])
            hidden, total = values[np.isin(statuses, SUPPRESSED)].sum(), values.sum()
            suppressed_value += hidden
            total_value += total
            stats["suppressed_value_share"] = float(hidden / total) if total else 0.0
        by_column[name] = stats
    return InformationLoss.from_tally(tally, suppressed_value, total_value, by_column)
