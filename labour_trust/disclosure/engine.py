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

The status table is internal (audit log, catalog metadata): publishing it would tell an
attacker which suppressed cells are small. The published table is ``SdcResult.table``:
suppressed and not-applicable cells are null; ``export.human_table`` marks them 'c' / 'z'.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from labour_trust.disclosure.cells import Grid, build_grid
from labour_trust.disclosure.description import TableDescription
from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.disclosure.primary import count_primaries, magnitude_primaries
from labour_trust.disclosure.rounding import (
    count_bounds,
    magnitude_bounds,
    round_counts,
    round_steps,
)
from labour_trust.disclosure.secondary import Criterion, suppress_secondary

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
    cleanup_seconds: float = 3.0,
) -> SdcResult:
    """Suppress, protect and round ``table`` under ``policy``.

    ``contributors``: contributor-level values for the magnitude columns — one Arrow table
    (used for every magnitude) or a mapping column → table; each has the description's
    dimension columns at the finest level, ``value``, and optionally ``contributor``.
    ``cleanup`` re-publishes unnecessary secondary suppressions, within ``cleanup_seconds``.
    """
    policy = policy or DisclosurePolicy()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    grid = build_grid(table, description)
    primaries = count_primaries(grid, policy)
    magnitude_rules = magnitude_primaries(table, description, policy, contributors)
    for column, rules in magnitude_rules.items():
        if column in grid.additive:  # sums also take part in secondary suppression
            c = grid.additive.index(column)
            primaries.update({grid.cell(row, c): rule for row, rule in rules.items()})
    timings["primary_s"] = time.perf_counter() - start

    start = time.perf_counter()
    rounded, bounds = _rounded_additive(grid, policy)
    secondary = suppress_secondary(
        grid,
        set(primaries),
        bounds,
        _criteria(grid, policy),
        policy,
        cleanup=cleanup,
        cleanup_seconds=cleanup_seconds,
    )
    timings["secondary_s"] = time.perf_counter() - start

    start = time.perf_counter()
    columns = _column_outcomes(
        table, grid, policy, primaries, secondary.secondary, rounded, magnitude_rules
    )
    result = SdcResult(
        table=_published_table(table, description, policy, columns),
        status=_status_table(grid, columns),
        loss=_information_loss(grid, columns),
        policy=policy,
        description=description,
        timings=timings,
        lp_count=secondary.lp_count,
        cleanup_complete=secondary.cleanup_complete,
    )
    timings["assemble_s"] = time.perf_counter() - start
    return result


def _criteria(grid: Grid, policy: DisclosurePolicy) -> dict[str, Criterion]:
    """Counts keep an absolute interval width; sums one relative to their size."""
    return {
        c: Criterion("count", policy.count_protection)
        if c in grid.description.counts
        else Criterion("sum", policy.p_percent)
        for c in grid.additive
    }


def unit_step(unit: str | None, policy: DisclosurePolicy) -> float | None:
    """The rounding step of a magnitude unit (None = not rounded)."""
    return {"earnings": policy.earnings_rounding, "percentage": policy.percentage_rounding}.get(
        unit or ""
    )


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
            step = unit_step(grid.description.unit_of(column), policy)
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
    secondaries: set[int],
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
                outcome.add(None, SECONDARY, "secondary")
            else:
                outcome.add(pub, PUBLISHED if pub == true else ROUNDED, "")
        outcomes[column] = outcome
    for magnitude in description.magnitudes:
        if not magnitude.additive:
            outcomes[magnitude.column] = _non_additive(
                table,
                magnitude.column,
                magnitude_rules[magnitude.column],
                unit_step(magnitude.unit, policy),
            )
    for derived in description.derived:
        outcomes[derived.column] = _derived(
            table, derived.column, derived.sources, outcomes, unit_step(derived.unit, policy)
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
    table: pa.Table,
    column: str,
    sources: tuple[str, ...],
    outcomes: dict[str, _Outcome],
    step: float | None,
) -> _Outcome:
    """Suppressed wherever a source is: a rate next to its denominator gives back its
    numerator."""
    values = table.column(column).to_pylist()
    outcome = _Outcome([], [], [], integer=False)
    for row, value in enumerate(values):
        hidden = any(outcomes[s].status[row] in SUPPRESSED for s in sources if s in outcomes)
        if value is None:
            outcome.add(None, NOT_APPLICABLE, "")
        elif hidden:
            outcome.add(None, SECONDARY, "derived")
        else:
            pub = float(round_steps(np.array([value]), step)[0])
            outcome.add(pub, PUBLISHED if pub == value else ROUNDED, "")
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
    return InformationLoss(
        cells=sum(tally.values()),
        published=tally[PUBLISHED],
        rounded=tally[ROUNDED],
        primary=tally[PRIMARY],
        secondary=tally[SECONDARY],
        not_applicable=tally[NOT_APPLICABLE],
        suppressed_value_share=float(suppressed_value / total_value) if total_value else 0.0,
        by_column=by_column,
    )
