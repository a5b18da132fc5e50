"""Independent audit of a published table: what can an attacker derive about its gaps?

This module deliberately shares no code with the suppression engine (``cells``,
``primary``, ``secondary``, ``rounding``, ``engine``): it re-derives everything from the
*published* table and the table description (data), so that a bug in the engine's
constraint builder cannot hide itself. It is the blocking check before publication.

For each block of the table that an attacker can analyse on its own — one combination of
the non-hierarchical dimensions (e.g. a month) × one set of linked measure columns — it
sets up the attacker's linear programme:

- a variable for every additive cell (counts, sum magnitudes);
- a published count r: the true value lies in [r - floor(b/2), r + b - 1 - floor(b/2)] for
  rounding base b, and is at least the threshold (smaller counts are never published);
  a published 0 is exactly 0;
- a published sum rounded to a step s: [r - s/2, r + s/2], and non-negative;
- a suppressed cell (null): only non-negative;
- every parent cell equals the sum of its child cells present, for each dimension
  hierarchy and column group in the description.

With scipy's HiGHS it minimises and maximises each suppressed cell, giving the interval
the attacker can narrow it to. A cell fails when the interval is too narrow:

- counts: width < the policy's protection level (default: the threshold);
- sums: width < p% of the interval's upper end (the attacker could estimate it to p%).

The published table does not say which gaps are primary, so every gap is checked.
Non-additive magnitudes (means, medians) and derived rates enter no equation and are not
intervals here; ``checks`` covers them.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from scipy.optimize import linprog

from labour_trust.disclosure.description import TableDescription
from labour_trust.disclosure.policy import DisclosurePolicy

# Tests switch this off to compare the warm-started HiGHS path with plain linprog.
FAST_SOLVER = True


@dataclass(frozen=True)
class CellInterval:
    """What an attacker can derive about one suppressed cell."""

    column: str
    cell: dict[str, object]
    lower: float
    upper: float  # math.inf when unbounded
    required: float  # minimum width
    protected: bool

    @property
    def width(self) -> float:
        return self.upper - self.lower


@dataclass(frozen=True)
class AuditFailure:
    table: str
    column: str
    cell: dict[str, object]
    lower: float
    upper: float
    required: float
    message: str


@dataclass(frozen=True)
class AuditReport:
    table: str
    policy_version: str
    passed: bool
    failures: list[AuditFailure]
    intervals: list[CellInterval]
    lp_count: int
    seconds: float

    def intervals_table(self) -> pa.Table:
        return pa.table(
            {
                "column": [i.column for i in self.intervals],
                "cell": [repr(i.cell) for i in self.intervals],
                "lower": [i.lower for i in self.intervals],
                "upper": [i.upper for i in self.intervals],
                "required_width": [i.required for i in self.intervals],
                "protected": [i.protected for i in self.intervals],
            }
        )

    def summary(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} cells)"
        return (
            f"disclosure audit of {self.table} (policy {self.policy_version}): {verdict}; "
            f"{len(self.intervals)} suppressed cells checked with {self.lp_count} LPs "
            f"in {self.seconds:.2f}s"
        )


def audit(
    published: pa.Table, description: TableDescription, policy: DisclosurePolicy
) -> AuditReport:
    """Feasible interval of every suppressed additive cell, from the published table only."""
    started = time.perf_counter()
    model = _AttackerModel(published, description, policy)
    intervals: list[CellInterval] = []
    for rows, columns in model.blocks():
        intervals.extend(model.solve_block(rows, columns))
    failures = [_failure(description.name, i) for i in intervals if not i.protected]
    return AuditReport(
        table=description.name,
        policy_version=policy.version,
        passed=not failures,
        failures=failures,
        intervals=intervals,
        lp_count=model.lp_count,
        seconds=time.perf_counter() - started,
    )


def _failure(table: str, interval: CellInterval) -> AuditFailure:
    cell = ", ".join(f"{k}={v}" for k, v in interval.cell.items())
    message = (
        f"{table}.{interval.column} [{cell}] is suppressed but the published cells, "
        f"margins and hierarchy confine it to [{interval.lower:g}, {interval.upper:g}] "
        f"(width {interval.width:g} < {interval.required:g} required)"
    )
    return AuditFailure(
        table,
        interval.column,
        interval.cell,
        interval.lower,
        interval.upper,
        interval.required,
        message,
    )


class _AttackerModel:
    """The attacker's knowledge, built from the published table and the description."""

    def __init__(
        self, published: pa.Table, description: TableDescription, policy: DisclosurePolicy
    ) -> None:
        self.description = description
        self.policy = policy
        self.lp_count = 0
        self.dims = [d.column for d in description.dimensions]
        self.keys = [
            tuple(values)
            for values in zip(*(published.column(d).to_pylist() for d in self.dims), strict=True)
        ]
        sums = [m.column for m in description.magnitudes if m.statistic == "sum"]
        self.count_columns = set(description.counts)
        self.columns = [*description.counts, *sums]
        self.data = {c: published.column(c).to_pylist() for c in self.columns}
        self.row_of = {key: n for n, key in enumerate(self.keys)}

    # -- partition ---------------------------------------------------------------------

    def blocks(self) -> list[tuple[list[int], list[str]]]:
        """Rows sharing the non-hierarchical dimension values × linked column sets."""
        flat = [i for i, d in enumerate(self.description.dimensions) if not d.parent]
        by_key: dict[tuple, list[int]] = defaultdict(list)
        for n, key in enumerate(self.keys):
            by_key[tuple(key[i] for i in flat)].append(n)
        return [(rows, cols) for rows in by_key.values() for cols in self._column_sets()]

    def _column_sets(self) -> list[list[str]]:
        # Column groups sharing a column are linked; merge them (small, so repeat-merge).
        sets = [set(g.parent) | set(g.parent.values()) for g in self.description.column_groups]
        merged: list[set[str]] = []
        for s in sets:
            for other in [m for m in merged if m & s]:
                merged.remove(other)
                s |= other
            merged.append(s)
        grouped = set().union(*merged) if merged else set()
        singles = [[c] for c in self.columns if c not in grouped]
        return [sorted(m) for m in merged] + singles

    # -- LP per block ------------------------------------------------------------------

    def solve_block(self, rows: list[int], columns: list[str]) -> list[CellInterval]:
        gaps = [(r, c) for r in rows for c in columns if self.data[c][r] is None]
        if not gaps:
            return []
        var = {(r, c): k for k, (r, c) in enumerate((r, c) for r in rows for c in columns)}
        lower, upper = self._bounds(var)
        matrix = self._equations(rows, columns, var)
        linked = set(matrix.indices.tolist()) if matrix.shape[0] else set()
        out = []
        for r, c in gaps:
            k = var[(r, c)]
            if k in linked:
                lo, hi = self._extremes(k, matrix, lower, upper)
            else:  # in no equation: only non-negativity is known
                lo, hi = 0.0, math.inf
            out.append(self._interval(r, c, lo, hi))
        return out

    def _bounds(self, var: dict[tuple[int, str], int]) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = np.zeros(len(var)), np.full(len(var), math.inf)
        for (r, c), k in var.items():
            value = self.data[c][r]
            if value is None:
                continue
            lower[k], upper[k] = self._published_range(c, float(value))
        return lower, upper

    def _published_range(self, column: str, value: float) -> tuple[float, float]:
        p = self.policy
        if column in self.count_columns:
            if value == 0:
                return 0.0, 0.0
            base = p.count_rounding_base
            below, above = base // 2, base - 1 - base // 2
            return max(value - below, float(p.threshold)), value + above
        unit = self.description.unit_of(column)
        step = {"earnings": p.earnings_rounding, "percentage": p.percentage_rounding}.get(
            unit or "", 0.0
        )
        return max(value - step / 2, 0.0), value + step / 2

    def _equations(
        self, rows: list[int], columns: list[str], var: dict[tuple[int, str], int]
    ) -> sp.csr_matrix:
        triples: list[tuple[int, int, float]] = []
        n_eq = 0
        for (parent_row, _dim), child_rows in self._row_families(rows).items():
            for c in columns:
                triples.append((n_eq, var[(parent_row, c)], 1.0))
                triples.extend((n_eq, var[(ch, c)], -1.0) for ch in child_rows)
                n_eq += 1
        for group in self.description.column_groups:
            families: dict[str, list[str]] = defaultdict(list)
            for child, parent in group.parent.items():
                families[parent].append(child)
            for parent, kids in families.items():
                if parent not in columns:
                    continue
                for r in rows:
                    triples.append((n_eq, var[(r, parent)], 1.0))
                    triples.extend((n_eq, var[(r, k)], -1.0) for k in kids)
                    n_eq += 1
        if not triples:
            return sp.csr_matrix((0, len(var)))
        i, j, v = zip(*triples, strict=True)
        return sp.csr_matrix((v, (i, j)), shape=(n_eq, len(var)))

    def _row_families(self, rows: list[int]) -> dict[tuple[int, int], list[int]]:
        """(parent row, dimension) → child rows present. A row can be a parent along
        several dimensions (UK × all sectors), each giving its own equations."""
        families: dict[tuple[int, int], list[int]] = defaultdict(list)
        for pos, dim in enumerate(self.description.dimensions):
            if not dim.parent:
                continue
            for r in rows:
                key = self.keys[r]
                up = dim.parent.get(key[pos])
                if up is None:
                    continue
                parent_row = self.row_of.get((*key[:pos], up, *key[pos + 1 :]))
                if parent_row is not None:
                    families[(parent_row, pos)].append(r)
        return families

    def _extremes(
        self, k: int, matrix: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray
    ) -> tuple[float, float]:
        solver = self._solver_for(matrix, lower, upper)
        self.lp_count += 2
        lowest = solver.extreme(k, +1.0)
        if lowest is None or not math.isfinite(lowest):
            # The published numbers contradict the description: nothing can be concluded
            # safely, so report the narrowest interval (a failure).
            return 0.0, 0.0
        highest = solver.extreme(k, -1.0)
        if highest is None:
            return 0.0, 0.0
        return max(lowest, 0.0), highest

    def _solver_for(
        self, matrix: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray
    ) -> _BlockSolver:
        # One solver per block, reused for all its gaps (same matrix object).
        if getattr(self, "_solver_key", None) is not matrix:
            self._solver = _BlockSolver(matrix, lower, upper)
            self._solver_key = matrix
        return self._solver

    def _interval(self, r: int, c: str, lo: float, hi: float) -> CellInterval:
        cell = dict(zip(self.dims, self.keys[r], strict=True))
        if c in self.count_columns:
            required = self.policy.count_protection
        else:
            required = self.policy.p_percent / 100 * hi if math.isfinite(hi) else 0.0
        tolerance = 1e-6 * max(1.0, abs(hi) if math.isfinite(hi) else 1.0)
        return CellInterval(c, cell, lo, hi, required, hi - lo >= required - tolerance)


class _BlockSolver:
    """min (sense +1) or max (sense -1) of one variable over a block's polytope.

    Uses scipy's vendored HiGHS bindings (``scipy.optimize._highspy``, private) when
    present: one model per block, re-solved with the primal simplex from the previous
    basis after each objective change (~2 ms instead of ~14 ms per solve for a national
    month). Falls back to ``scipy.optimize.linprog`` when they are absent or a solve does
    not end optimal/unbounded. Returns +inf/-inf when unbounded, None when infeasible.
    """

    def __init__(self, matrix: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray) -> None:
        self.matrix, self.lower, self.upper = matrix, lower, upper
        self.previous: int | None = None
        self.highs = _warm_highs(matrix, lower, upper)

    def extreme(self, k: int, sense: float) -> float | None:
        if self.highs is not None:
            found = self._highs(k, sense)
            if found is not None:
                return found
        return self._linprog(k, sense)

    def _highs(self, k: int, sense: float) -> float | None:
        h, core = self.highs
        if self.previous is not None and self.previous != k:
            h.changeColCost(self.previous, 0.0)
        h.changeColCost(k, sense)
        self.previous = k
        h.run()
        status = h.getModelStatus()
        if status == core.HighsModelStatus.kOptimal:
            return sense * h.getInfo().objective_function_value
        if status == core.HighsModelStatus.kUnbounded:
            return -sense * math.inf
        return None

    def _linprog(self, k: int, sense: float) -> float | None:
        objective = np.zeros(len(self.lower))
        objective[k] = sense
        res = linprog(
            objective,
            A_eq=self.matrix,
            b_eq=np.zeros(self.matrix.shape[0]),
            bounds=list(zip(self.lower, self.upper, strict=True)),
            method="highs",
        )
        if res.status == 0:
            return sense * res.fun
        if res.status == 3:
            return -sense * math.inf
        if res.status == 2 and sense < 0:
            # "infeasible or unbounded" on a max after a feasible min: decide with a cap far
            # above anything the published cells can add up to.
            cap = 1e3 * (1.0 + float(self.upper[np.isfinite(self.upper)].sum()))
            capped = [(lo, min(hi, cap)) for lo, hi in zip(self.lower, self.upper, strict=True)]
            res = linprog(
                objective,
                A_eq=self.matrix,
                b_eq=np.zeros(self.matrix.shape[0]),
                bounds=capped,
                method="highs",
            )
            if res.status == 0:
                return math.inf if -res.fun >= cap / 2 else -res.fun
        return None


def _warm_highs(matrix: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray):
    try:
        from scipy.optimize._highspy import _core as core
    except ImportError:  # pragma: no cover - depends on the scipy version
        return None
    if not FAST_SOLVER:
        return None
    columns = matrix.tocsc()
    n_rows, n_cols = columns.shape
    model = core.HighsLp()
    model.num_col_, model.num_row_ = n_cols, n_rows
    model.col_cost_ = np.zeros(n_cols)
    model.col_lower_ = np.asarray(lower, dtype=float)
    model.col_upper_ = np.where(np.isfinite(upper), upper, core.kHighsInf)
    model.row_lower_ = np.zeros(n_rows)
    model.row_upper_ = np.zeros(n_rows)
    model.a_matrix_.format_ = core.MatrixFormat.kColwise
    model.a_matrix_.start_ = columns.indptr
    model.a_matrix_.index_ = columns.indices
    model.a_matrix_.value_ = columns.data
    h = core._Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")  # keep the basis between objective changes
    h.setOptionValue("simplex_strategy", 4)  # primal simplex: the old optimum stays feasible
    if h.passModel(model) != core.HighsStatus.kOk:
        return None
    return h, core
