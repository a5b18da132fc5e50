"""The engine's attacker LP: min / max of one cell over ``{M x = 0, lower <= x <= upper}``.

The engine asks this question hundreds of times per table with the same constraints and a
different objective (or one changed bound). Rebuilding the model each time through
``scipy.optimize.linprog`` costs ~14 ms for a national month; keeping one HiGHS model and
re-solving with the primal simplex from the previous basis costs ~2 ms. scipy vendors
HiGHS's Python bindings (``scipy.optimize._highspy``, scipy >= 1.15) but does not make
them public, so they are used when present and ``linprog`` (same solver, cold start)
otherwise; ``force_linprog`` selects the fallback (tests compare the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

try:  # private in scipy; see the module docstring
    from scipy.optimize._highspy import _core as _highs
except ImportError:  # pragma: no cover - depends on the scipy version
    _highs = None


@dataclass(frozen=True)
class Optimum:
    status: str  # "optimal" | "unbounded"
    value: float
    x: np.ndarray | None  # None when unbounded


class LpError(RuntimeError):
    pass


class AttackerLp:
    """Warm-started min/max of single cells; bounds may change between solves."""

    def __init__(
        self,
        matrix: sp.csr_matrix,
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        force_linprog: bool = False,
    ) -> None:
        self.matrix = matrix.tocsc()
        self.lower = np.array(lower, dtype=float)
        self.upper = np.array(upper, dtype=float)
        self.solves = 0
        self._target: int | None = None
        self._model = None if force_linprog or _highs is None else self._build()

    def set_bounds(self, j: int, lower: float, upper: float) -> None:
        self.lower[j], self.upper[j] = lower, upper
        if self._model is not None:
            self._model.changeColBounds(int(j), float(lower), _finite(upper))

    def optimise(self, i: int, *, maximise: bool) -> Optimum:
        self.solves += 1
        if self._model is not None:
            result = self._solve_highs(i, -1.0 if maximise else 1.0)
            if result is not None:
                return result
        return self._solve_linprog(i, -1.0 if maximise else 1.0)

    # -- HiGHS, warm -----------------------------------------------------------------------

    def _build(self):
        n_rows, n = self.matrix.shape
        lp = _highs.HighsLp()
        lp.num_col_, lp.num_row_ = n, n_rows
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = self.lower
        lp.col_upper_ = np.array([_finite(u) for u in self.upper])
        lp.row_lower_ = lp.row_upper_ = np.zeros(n_rows)
        lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = self.matrix.indptr
        lp.a_matrix_.index_ = self.matrix.indices
        lp.a_matrix_.value_ = self.matrix.data
        model = _highs._Highs()
        model.setOptionValue("output_flag", False)
        # Only the objective changes between solves: the previous optimal basis stays
        # primal feasible, so the primal simplex restarts from it (presolve would discard it).
        model.setOptionValue("presolve", "off")
        model.setOptionValue("simplex_strategy", 4)
        if model.passModel(lp) != _highs.HighsStatus.kOk:
            return None
        return model

    def _solve_highs(self, i: int, sign: float) -> Optimum | None:
        model = self._model
        if self._target is not None and self._target != i:
            model.changeColCost(self._target, 0.0)
        model.changeColCost(int(i), sign)
        self._target = int(i)
        model.run()
        status = model.getModelStatus()
        if status == _highs.HighsModelStatus.kOptimal:
            x = np.array(model.getSolution().col_value)
            return Optimum("optimal", float(x[i]), x)
        if status == _highs.HighsModelStatus.kUnbounded:
            return Optimum("unbounded", np.inf if sign < 0 else -np.inf, None)
        return None  # anything else: ask linprog from scratch

    # -- linprog, cold ---------------------------------------------------------------------

    def _solve_linprog(self, i: int, sign: float) -> Optimum:
        cost = np.zeros(self.matrix.shape[1])
        cost[i] = sign
        res = linprog(
            cost,
            A_eq=self.matrix,
            b_eq=np.zeros(self.matrix.shape[0]),
            bounds=np.column_stack([self.lower, self.upper]),
            method="highs",
        )
        if res.status == 0:
            return Optimum("optimal", float(res.x[i]), res.x)
        if res.status == 3:
            return Optimum("unbounded", np.inf if sign < 0 else -np.inf, None)
        raise LpError(f"attacker LP failed: {res.message}")


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else _highs.kHighsInf
