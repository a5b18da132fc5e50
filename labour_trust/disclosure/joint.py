"""One protection problem over linked tables: all of a month's publications at once.

Tables protected one at a time each pass their own audit, yet an attacker who combines
them can difference across them: the same count published in two tables, a subset count
bounded by its superset (``employed_m6 <= achievers``), breakdowns sharing a total, and an
earlier release of the same month with another pattern. ``apply_policy_joint`` builds one
``secondary.Problem`` over every table (*part*: a table or a view of one):

- one cell per distinct (table, row, column): views of a table share their common rows;
- ``Relation.equal`` merges the two cells into one (so they share one suppression status;
  the data must agree, or the description is wrong);
- ``Relation.at_most`` adds a structural slack cell ``s = larger - smaller >= 0`` and the
  equation ``larger - smaller - s = 0``;
- ``previous`` (the release consumers hold for the month): a cell suppressed there is
  forced to stay suppressed (rule ``previous``); a cell published there keeps that
  interval for the attacker (intersected with the new one when the new value is
  inside it), and is *exempt*: already public, it is never protected, only not allowed
  to narrow its partners.

The joint audit (``audit.audit_joint``, its own code) then attacks every table, their
equations, the relations and the old release together, and the repair loop
(``repair.py``) runs on the joint problem. See ``audit.py`` for the two-release model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from labour_trust.disclosure import audit as audit_module
from labour_trust.disclosure.description import DescriptionError, Relation, TableDescription
from labour_trust.disclosure.engine import (
    Prepared,
    SdcResult,
    _criteria,
    assemble,
    prepare,
)
from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.disclosure.repair import REPAIR_ROUNDS, RepairRecord, repair
from labour_trust.disclosure.rounding import count_bounds, magnitude_bounds
from labour_trust.disclosure.secondary import (
    CLEANUP_LPS,
    Criterion,
    Problem,
    SecondaryResult,
    cell_weights,
    solve,
)

PREVIOUS, LINKED = "previous", "linked"


@dataclass(frozen=True)
class JointPart:
    """One table, or one view of a table, in a joint problem."""

    table: str  # the published table's name (what relations refer to)
    rows: pa.Table  # the rows this part covers (trust data, unprotected)
    description: TableDescription
    contributors: pa.Table | Mapping[str, pa.Table] | None = None
    previous: pa.Table | None = None  # these rows as published in the earlier release


@dataclass(frozen=True)
class JointResult:
    results: list[SdcResult]  # one per part, in order
    report: audit_module.AuditReport  # the last joint audit
    record: RepairRecord
    lp_count: int
    cleanup_complete: bool
    seconds: float  # for reporting only


@dataclass
class _Builder:
    """Cells of every part, merged and linked; see the module docstring."""

    policy: DisclosurePolicy
    index: dict[tuple, int]
    values: list[float]
    lower: list[float]
    upper: list[float]
    criteria: list[Criterion]
    structural: list[bool]
    label: list[str]

    def cell(self, key: tuple, value: float, bounds: tuple[float, float], crit, label) -> int:
        k = self.index.get(key)
        if k is not None:
            if not _same(self.values[k], value):
                raise DescriptionError(f"{label}: views of one table disagree on its value")
            return k
        self.index[key] = len(self.values)
        self.values.append(value)
        self.lower.append(bounds[0])
        self.upper.append(bounds[1])
        self.criteria.append(crit)
        self.structural.append(False)
        self.label.append(label)
        return len(self.values) - 1


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


def _row_key(description: TableDescription, key: tuple) -> tuple:
    return tuple(sorted(zip(description.dimension_columns, key, strict=True)))


def apply_policy_joint(
    parts: Sequence[JointPart],
    relations: Sequence[Relation],
    policy: DisclosurePolicy | None = None,
    *,
    cleanup: bool = True,
    cleanup_lps: int = CLEANUP_LPS,
    repair_rounds: int = REPAIR_ROUNDS,
    audit_only: Sequence[Relation] = (),
) -> JointResult:
    """Protect every part together; each part's result has its own published table.

    ``audit_only``: relations the audit attacks with but the protection model leaves out
    (the repair loop then has to cover them; tests use it as a positive control)."""
    policy = policy or DisclosurePolicy()
    started = time.perf_counter()
    prepared = [prepare(p.rows, p.description, policy, p.contributors) for p in parts]
    b = _Builder(policy, {}, [], [], [], [], [], [])
    cell_of: list[np.ndarray] = []  # per part: grid cell → joint cell
    for part, prep in zip(parts, prepared, strict=True):
        grid = prep.grid
        crit = _criteria(grid, policy)
        flat = grid.values.ravel()
        ids = np.empty(grid.n_cells, dtype=np.int64)
        for row, key in enumerate(grid.keys):
            row_key = _row_key(part.description, key)
            for c, column in enumerate(grid.additive):
                g = grid.cell(row, c)
                ids[g] = b.cell(
                    (part.table, row_key, column),
                    float(flat[g]),
                    (float(prep.bounds[0][g]), float(prep.bounds[1][g])),
                    crit[column],
                    f"{part.table}.{column} [{_where(key, part.description)}]",
                )
        cell_of.append(ids)

    # Equalities merge cells (union–find, the smaller id is the representative).
    parent = list(range(len(b.values)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    pairs = [
        (relation, list(_pairs(relation, parts, prepared, b.index, b.values)))
        for relation in relations
    ]
    for relation, found in pairs:
        if relation.kind != "equal":
            continue
        for left, right in found:
            if not _same(b.values[left], b.values[right]):
                raise DescriptionError(
                    f"{b.label[left]} = {b.values[left]:g} but {b.label[right]} = "
                    f"{b.values[right]:g}: the data contradict the relation {relation}"
                )
            x, y = sorted((find(left), find(right)))
            parent[y] = x
    roots = sorted({find(k) for k in range(len(b.values))})
    new_id = {r: n for n, r in enumerate(roots)}
    merged = np.array([new_id[find(k)] for k in range(len(b.values))], dtype=np.int64)
    n = len(roots)
    values = np.array([b.values[r] for r in roots])
    lower = np.full(n, -np.inf)
    upper = np.full(n, np.inf)
    for k in range(len(b.values)):  # merged cells: the attacker knows both intervals
        lower[merged[k]] = max(lower[merged[k]], b.lower[k])
        upper[merged[k]] = min(upper[merged[k]], b.upper[k])
    criteria = [b.criteria[r] for r in roots]
    labels = [b.label[r] for r in roots]

    # Equations of every part, once each (views repeat their shared rows' equations).
    equations: dict[tuple, dict[int, float]] = {}
    for ids, prep in zip(cell_of, prepared, strict=True):
        for eq in prep.grid.equations:
            row = {int(merged[ids[eq.parent]]): 1.0}
            for child in eq.children:
                row[int(merged[ids[child]])] = row.get(int(merged[ids[child]]), 0.0) - 1.0
            equations.setdefault(tuple(sorted(row.items())), row)
    slack_values: list[float] = []
    slack_criteria: list[Criterion] = []
    for relation, found in pairs:
        if relation.kind != "at_most":
            continue
        for left, right in found:
            small, large = int(merged[left]), int(merged[right])
            if small == large:
                continue
            gap = values[large] - values[small]
            if gap < 0:
                raise DescriptionError(
                    f"{labels[small]} = {values[small]:g} exceeds {labels[large]} = "
                    f"{values[large]:g}: the data contradict the relation {relation}"
                )
            s = n + len(slack_values)
            slack_values.append(gap)
            slack_criteria.append(criteria[small])
            equations.setdefault((("slack", s),), {large: 1.0, small: -1.0, s: -1.0})
    total = n + len(slack_values)
    triples = [(e, k, v) for e, row in enumerate(equations.values()) for k, v in row.items()]
    if triples:
        ei, ej, ev = zip(*triples, strict=True)
        matrix = sp.csr_matrix((ev, (ei, ej)), shape=(len(equations), total))
    else:
        matrix = sp.csr_matrix((0, total))
    all_values = np.concatenate([values, np.array(slack_values)])
    problem = Problem(
        matrix=matrix,
        values=all_values,
        lower=np.concatenate([lower, np.zeros(len(slack_values))]),
        upper=np.concatenate([upper, np.full(len(slack_values), np.inf)]),
        weight=np.concatenate(
            [cell_weights(np.nan_to_num(values), policy), np.zeros(len(slack_values))]
        ),
        criteria=criteria + slack_criteria,
        structural=np.arange(total) >= n,
    )

    # Primaries (first part's rule wins) and the previous release.
    rule_of: dict[int, str] = {}
    for ids, prep in zip(cell_of, prepared, strict=True):
        for g, rule in sorted(prep.primaries.items()):
            rule_of.setdefault(int(merged[ids[g]]), rule)
    forced = set(rule_of)
    kept = _previous(parts, prepared, b.index, merged, problem, policy)
    forced |= kept

    last: list[SecondaryResult] = []

    def protect(cells: set[int]) -> set[int]:
        last.append(solve(problem, cells, cleanup=cleanup, cleanup_lps=cleanup_lps))
        return last[-1].suppressed

    reports: list[audit_module.AuditReport] = []

    def outputs(suppressed: set[int], added: Mapping[int, str]) -> list[tuple]:
        out = []
        for part, prep, ids in zip(parts, prepared, cell_of, strict=True):
            secondaries = {}
            for g in range(prep.grid.n_cells):
                k = int(merged[ids[g]])
                if k in suppressed and g not in prep.primaries:
                    rule = added.get(k) or (PREVIOUS if k in kept else None)
                    rule = rule or (LINKED if k in rule_of else "secondary")
                    secondaries[g] = rule
            out.append(assemble(part.rows, prep, policy, secondaries))
        return out

    def narrow(suppressed: set[int]) -> list[int]:
        published = outputs(suppressed, {})
        report = audit_module.audit_joint(
            [(p.table, o[0], p.description) for p, o in zip(parts, published, strict=True)],
            [*relations, *audit_only],
            policy,
            [(p.table, p.previous, p.description) for p in parts if p.previous is not None],
        )
        reports.append(report)
        cells = []
        for failure in report.failures:
            part = next(p for p in parts if p.table == failure.table)
            key = tuple(failure.cell[d] for d in part.description.dimension_columns)
            k = b.index[(failure.table, _row_key(part.description, key), failure.column)]
            cells.append(int(merged[k]))
        return cells

    suppressed, added, record = repair(problem, forced, protect, narrow, rounds=repair_rounds)
    seconds = time.perf_counter() - started
    results = []
    lp_count = sum(r.lp_count for r in last)
    complete = all(r.cleanup_complete for r in last) and cleanup
    for part, (table, status, loss) in zip(parts, outputs(suppressed, added), strict=True):
        results.append(
            SdcResult(
                table=table,
                status=status,
                loss=loss,
                policy=policy,
                description=part.description,
                timings={"joint_s": seconds},
                lp_count=lp_count,
                cleanup_complete=complete,
                audits=record.audits,
                audit_passed=record.passed,
                repaired_cells=tuple(labels[c] for c in record.repaired),
                blocked_cells=tuple(labels[c] for c in record.blocked),
            )
        )
    return JointResult(results, reports[-1], record, lp_count, complete, seconds)


def _where(key: tuple, description: TableDescription) -> str:
    return ", ".join(f"{d}={v}" for d, v in zip(description.dimension_columns, key, strict=True))


def _pairs(
    relation: Relation,
    parts: Sequence[JointPart],
    prepared: Sequence[Prepared],
    index: Mapping[tuple, int],
    values: list[float],
):
    """(left cell, right cell) pairs of a relation, both available, in left-cell order."""
    right_cells: dict[tuple, int] = {}
    lefts: list[tuple[int, dict[str, object]]] = []
    for part, prep in zip(parts, prepared, strict=True):
        dims = part.description.dimension_columns
        for key in prep.grid.keys:
            cell = dict(zip(dims, key, strict=True))
            row_key = _row_key(part.description, key)
            if part.table == relation.right.table and _matches(cell, relation.right.where):
                k = index.get((part.table, row_key, relation.right.column))
                if k is not None:
                    free = tuple(
                        sorted((d, v) for d, v in cell.items() if d not in relation.right.where)
                    )
                    right_cells[free] = k
            if part.table == relation.left.table and _matches(cell, relation.left.where):
                k = index.get((part.table, row_key, relation.left.column))
                if k is not None:
                    lefts.append((k, cell))
    seen = set()
    for k, cell in sorted(lefts, key=lambda item: item[0]):
        if k in seen:
            continue
        seen.add(k)
        on = relation.on
        if on is None:
            on = tuple(d for d in cell if d not in relation.left.where)
        right = right_cells.get(tuple(sorted((d, cell[d]) for d in on)))
        if right is None or right == k or np.isnan(values[k]) or np.isnan(values[right]):
            continue
        yield k, right


def _matches(cell: Mapping[str, object], where: Mapping[str, str]) -> bool:
    return all(cell.get(d) == v for d, v in where.items())


def _previous(
    parts: Sequence[JointPart],
    prepared: Sequence[Prepared],
    index: Mapping[tuple, int],
    merged: np.ndarray,
    problem: Problem,
    policy: DisclosurePolicy,
) -> set[int]:
    """Apply the earlier release: cells it suppressed (returned, to stay suppressed) and
    the intervals it published (attacker knowledge, exempt from protection)."""
    kept: set[int] = set()
    for part in parts:
        if part.previous is None:
            continue
        description = part.description
        dims = description.dimension_columns
        keys = zip(*(part.previous.column(d).to_pylist() for d in dims), strict=True)
        columns = {c: part.previous.column(c).to_pylist() for c in description.additive_columns}
        for r, key in enumerate(keys):
            row_key = _row_key(description, tuple(key))
            for column in description.additive_columns:
                k = index.get((part.table, row_key, column))
                if k is None:
                    continue
                k = int(merged[k])
                if np.isnan(problem.values[k]):
                    continue
                old = columns[column][r]
                if old is None:
                    kept.add(k)
                    continue
                lo, hi = _old_interval(description, column, float(old), policy)
                if lo <= problem.values[k] <= hi:  # unchanged as far as the attacker sees
                    problem.lower[k] = max(problem.lower[k], lo)
                    problem.upper[k] = min(problem.upper[k], hi)
                    problem.hidden_lower[k], problem.hidden_upper[k] = lo, hi
                    problem.exempt[k] = True
    return kept


def _old_interval(
    description: TableDescription, column: str, value: float, policy: DisclosurePolicy
) -> tuple[float, float]:
    if column in description.counts:
        lo, hi = count_bounds(np.array([value]), policy.count_rounding_base, policy.threshold)
    else:
        lo, hi = magnitude_bounds(
            np.array([value]), policy.rounding_step(description.unit_of(column))
        )
    return float(lo[0]), float(hi[0])
