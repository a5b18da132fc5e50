"""Secondary suppression: protect every suppressed cell against differencing.

Attacker model (Fischetti & Salazar-González, "Models and algorithms for optimizing cell
suppression in tabular data with linear constraints", JASA 2000). The attacker knows the
table's equations (margins, the LAD → ITL1 → UK hierarchy, column totals), that cells
are non-negative, and for each published cell the interval its rounded value implies
(``rounding.count_bounds``: base 5 → [r - 2, r + 2], at least the threshold when r > 0).
For a suppressed cell the attacker's knowledge is the interval [min, max] of that cell
over the resulting polytope (LP relaxation). A suppressed cell is *protected* when

- counts: ``max - min >= protection level`` (default: the threshold);
- sum magnitudes: ``max - min >= p/100 * max`` (the p% rule's accuracy, relative to what
  the attacker can bound; a primary of value X needs ``max >= X * 100 / (100 - p)``).

Every suppressed cell must be protected, secondaries included: the published table does
not say which cells are primary, so the independent audit can only check them all (and
telling primaries apart would itself disclose that they are small).

Method. Each connected component of the equation graph (a month × a set of linked measure
columns) is solved on its own, in two phases. Throughout, a cell's *proof* is a pair of
points of the attacker's polytope whose values in that cell are far enough apart.

1. Protection, in the spirit of the LP heuristics of Kelly, Golden & Assad (1992) and
   Fischetti & Salazar-González (2000): suppressed cells are taken in turn (primaries,
   then each new secondary). A cell already proved by known points, or by the attacker's
   own min/max LPs, needs nothing. Otherwise one LP finds the cheapest pair of points
   ``a + y``, ``a + z`` (``a`` the true table, ``M y = M z = 0``, both non-negative) that
   is far enough apart in the cell: moving a published cell within its rounding interval
   is free (rounding already hides it), moving it beyond costs the cell's weight per
   unit. The cells the LP moved beyond their intervals form a suppression pattern; the
   cheapest single cell of it that protects the cell on its own (checked by the
   attacker's LPs) is suppressed, else a cheapest-first prefix of it. The LP prices a
   cell by how far it must move while a suppressed cell moves freely, so this pruning
   often halves the pattern. Suppressions only grow in this phase, so every point found
   stays feasible and proofs stay valid. Large components confine the LP to cells a few
   equation hops from the target first (cells outside keep their true values, so the
   points are still feasible) and widen it only if that is infeasible.
2. Clean-up (1-opt): secondaries are tried for re-publication, most valuable first. A
   proof that keeps the candidate inside its published interval still holds; others are
   repaired by pulling the points towards ``a`` (convex combinations stay feasible) or
   re-derived by the attacker's LPs. Rounds repeat until no secondary can go, so every
   remaining one is necessary: re-publishing any single one leaves a cell
   under-protected (the property tests check this against the independent audit). The
   clean-up has a budget in attacker LP solves (never in seconds: the same input must
   give the same output on a busy machine); what it has not tried stays suppressed (safe).

The engine works on a ``Problem``: cells, equations ``M x = 0`` and the attacker's bounds.
One table gives one (``problem_from_grid``); linked tables give one joint problem
(``joint.py``). Two kinds of cells exist only in joint problems: *structural* cells (the
slack ``s >= 0`` of an inequality ``a <= b`` written as ``b - a - s = 0``: never published,
never protected) and *exempt* cells (suppressed, but already public from an earlier
release: the attacker keeps their old interval and no protection can be given to them).

Ties are broken by cell id (components, queues and candidates are sorted), never by
set or dict order of unsorted data, so the output depends on the input only.

The attacker's min/max LPs are re-solved warm (``lp.AttackerLp``), ~2 ms each for a
national month.

How it differs from the published methods: tau-Argus "optimal" and sdcTable "OPT" solve
the Fischetti–Salazar mixed-integer model exactly by branch-and-cut (and need a
commercial solver at national scale in tau-Argus); we keep its attacker model and
constraint form but replace the master problem by the LP heuristic, pruning and
clean-up above. On 106 random small hierarchical tables needing secondaries, it found
the minimum-cost pattern (by exhaustive search) in 104, total cost 2% above optimal.
tau-Argus "modular" (HiTaS) and sdcTable "HITAS" cut a hierarchical table into
non-hierarchical sub-tables, protect each and back-track; we protect the whole hierarchy
and all linked columns at once, so no back-tracking is needed. Unlike both, published
cells are rounding intervals rather than exact values, so rounding alone often protects
a cell (many siblings) and secondary suppression is only spent where differencing really
narrows it; and every suppressed cell, not just the primaries, is protected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components, shortest_path

from labour_trust.disclosure.cells import Grid
from labour_trust.disclosure.description import DescriptionError
from labour_trust.disclosure.lp import AttackerLp
from labour_trust.disclosure.policy import DisclosurePolicy

# Components up to this many cells get the protection LP over all their cells; larger
# ones first over the cells a few equation hops around the target (tried in turn).
WHOLE_COMPONENT_CELLS = 1000
NEIGHBOURHOOD_HOPS = (3, 6, np.inf)
# Clean-up budget in attacker LP solves over all components (a national month needs a
# few hundred; each solve costs more on a larger linked problem). Counted, not timed, so
# that the result is reproducible; what the budget does not reach stays suppressed (safe).
CLEANUP_LPS = 400


class SuppressionError(RuntimeError):
    """The LP solver failed on a protection problem."""


@dataclass(frozen=True)
class Criterion:
    """When is a suppressed cell protected: by an absolute width or a relative one."""

    kind: str  # "count" | "sum"
    protection: float  # counts: width; sums: p (percent)

    def needed_max(self, lower: float) -> float:
        """The attacker's upper bound that protects a cell whose lower bound is ``lower``."""
        if self.kind == "count":
            return lower + self.protection
        return lower / (1 - self.protection / 100)

    def upl(self, value: float) -> float:
        """Upper protection level of a cell of true ``value`` (the true table is feasible,
        so the attacker's minimum is at most ``value``)."""
        return self.needed_max(value) - value


@dataclass
class Problem:
    """Cells, equations and the attacker's knowledge; every array is indexed by cell id."""

    matrix: sp.csr_matrix  # equations: rows of M in M x = 0
    values: np.ndarray  # true values (NaN = not available: in no equation)
    lower: np.ndarray  # attacker bounds of a published cell
    upper: np.ndarray
    weight: np.ndarray  # cost of suppressing
    criteria: list[Criterion]  # per cell
    hidden_lower: np.ndarray | None = None  # attacker bounds of a suppressed cell
    hidden_upper: np.ndarray | None = None  # (default [0, inf))
    structural: np.ndarray | None = None  # bool: slack cells, always hidden, never protected
    exempt: np.ndarray | None = None  # bool: need no protection when suppressed

    def __post_init__(self) -> None:
        n = len(self.values)
        if self.hidden_lower is None:
            self.hidden_lower = np.zeros(n)
        if self.hidden_upper is None:
            self.hidden_upper = np.full(n, np.inf)
        if self.structural is None:
            self.structural = np.zeros(n, dtype=bool)
        if self.exempt is None:
            self.exempt = np.zeros(n, dtype=bool)

    @property
    def n_cells(self) -> int:
        return len(self.values)


def problem_from_grid(
    grid: Grid,
    bounds: tuple[np.ndarray, np.ndarray],
    criteria: dict[str, Criterion],
    policy: DisclosurePolicy,
) -> Problem:
    """One table's protection problem: its cells, equations and published intervals."""
    flat = grid.values.ravel()
    return Problem(
        matrix=grid.matrix(),
        values=flat,
        lower=bounds[0],
        upper=bounds[1],
        weight=cell_weights(np.nan_to_num(flat), policy),
        criteria=[criteria[grid.locate(c)[1]] for c in range(grid.n_cells)],
    )


def cell_weights(values: np.ndarray, policy: DisclosurePolicy) -> np.ndarray:
    """Information loss of suppressing each cell (value + 1, or 1 per cell)."""
    return values + 1.0 if policy.secondary_cost == "value" else np.ones(len(values))


@dataclass
class Component:
    """One independent protection problem (cells linked by equations)."""

    cells: np.ndarray  # global cell ids
    matrix: sp.csr_matrix  # local equations
    values: np.ndarray
    lower: np.ndarray  # attacker bounds if published
    upper: np.ndarray
    hidden_lower: np.ndarray  # attacker bounds if suppressed
    hidden_upper: np.ndarray
    weight: np.ndarray  # cost of suppressing
    criterion: Criterion
    suppressed: np.ndarray  # bool
    primary: np.ndarray  # bool: forced (primaries, earlier releases, repairs): never re-published
    protect: np.ndarray  # bool: must be protected when suppressed (not structural, not exempt)
    lp: AttackerLp
    adjacency: sp.csr_matrix  # cells sharing an equation
    proofs: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    pair_lps: int = 0
    has_public: bool = False  # holds cells an earlier release published
    unprotectable: list[int] = field(default_factory=list)

    def distances(self, source: int) -> np.ndarray:
        """Equation hops from ``source`` to every cell (inf when unreachable)."""
        return shortest_path(self.adjacency, unweighted=True, indices=source)

    @property
    def tolerance(self) -> float:
        return 1e-7 * max(1.0, float(self.values.max(initial=0.0)))

    def suppress(self, j: int) -> None:
        self.suppressed[j] = True
        self.lp.set_bounds(j, self.hidden_lower[j], self.hidden_upper[j])

    def publish(self, j: int) -> None:
        self.suppressed[j] = False
        self.lp.set_bounds(j, self.lower[j], self.upper[j])


@dataclass
class SecondaryResult:
    suppressed: set[int]  # global cell ids, primaries included
    secondary: set[int]
    components: int
    lp_count: int
    cleanup_complete: bool  # False when the clean-up budget ran out (safe, less minimal)
    # Cells no pattern can protect because an earlier release already confines them (only
    # with exempt cells; the audit reports them and publication is blocked).
    unprotectable: set[int] = field(default_factory=set)


def suppress_secondary(
    grid: Grid,
    primaries: set[int],
    bounds: tuple[np.ndarray, np.ndarray],
    criteria: dict[str, Criterion],
    policy: DisclosurePolicy,
    *,
    cleanup: bool = True,
    cleanup_lps: int = CLEANUP_LPS,
    force_linprog: bool = False,
) -> SecondaryResult:
    """Suppress additional cells until every suppressed cell is protected.

    ``bounds``: the attacker's interval for each cell if published (flat, by cell id);
    ``criteria``: protection criterion per additive column. The clean-up stops after
    ``cleanup_lps`` attacker LPs in all (what it has not tried stays suppressed: safe).
    """
    return solve(
        problem_from_grid(grid, bounds, criteria, policy),
        primaries,
        cleanup=cleanup,
        cleanup_lps=cleanup_lps,
        force_linprog=force_linprog,
    )


def solve(
    problem: Problem,
    forced: set[int],
    *,
    cleanup: bool = True,
    cleanup_lps: int = CLEANUP_LPS,
    force_linprog: bool = False,
) -> SecondaryResult:
    """Suppress ``forced`` cells (primaries, ...) and enough others that every suppressed
    cell is protected; structural cells are hidden throughout and not reported."""
    forced = {int(c) for c in forced if not problem.structural[c]}
    suppressed: set[int] = set(forced)
    lp_count = 0
    complete = True
    unprotectable: set[int] = set()
    components = list(_components(problem, forced, force_linprog=force_linprog))
    budget = cleanup_lps
    for comp in components:
        if comp.matrix.shape[0]:
            _protect(comp)
            if cleanup:
                before = comp.lp.solves
                complete &= _cleanup(comp, comp.lp.solves + budget)
                budget -= comp.lp.solves - before
            _verify_proofs(comp)
        real = comp.suppressed & ~problem.structural[comp.cells]
        suppressed.update(int(c) for c in comp.cells[real])
        unprotectable.update(int(comp.cells[i]) for i in comp.unprotectable)
        lp_count += comp.lp.solves + comp.pair_lps
    return SecondaryResult(
        suppressed,
        suppressed - forced,
        len(components),
        lp_count,
        complete and cleanup,
        unprotectable,
    )


def _components(problem: Problem, forced: set[int], *, force_linprog: bool) -> Iterator[Component]:
    """Connected components of the equation graph that hold at least one forced cell, in
    order of their smallest cell id."""
    if not forced:
        return
    matrix = problem.matrix.tocsr()
    n = problem.n_cells
    # Cells are linked when they share an equation: cell–equation incidence squared.
    incidence = (matrix != 0).astype(np.int8)
    adjacency = (incidence.T @ incidence).tocsr()
    _, labels = connected_components(adjacency + sp.identity(n, format="csr"), directed=False)
    flat = np.nan_to_num(problem.values)
    # Each equation lies in one component: its first entry labels it.
    equation_label = labels[matrix.indices[matrix.indptr[:-1]]] if matrix.shape[0] else []
    forced_ids = np.array(sorted(forced), dtype=np.int64)
    for label in np.unique(labels[forced_ids]):
        cells = np.flatnonzero(labels == label)
        local = matrix[np.flatnonzero(np.asarray(equation_label) == label)][:, cells].tocsr()
        values = flat[cells]
        structural = problem.structural[cells]
        is_forced = np.isin(cells, forced_ids)
        hidden = is_forced | structural
        lower, upper = problem.lower[cells], problem.upper[cells]
        hidden_lower, hidden_upper = problem.hidden_lower[cells], problem.hidden_upper[cells]
        kinds = {problem.criteria[c] for c in cells[~structural].tolist()}
        if len(kinds) > 1:
            raise DescriptionError(
                "linked cells mix counts and sums (or protection levels): "
                f"{sorted(map(str, kinds))}"
            )
        yield Component(
            cells=cells,
            matrix=local,
            values=values,
            lower=lower,
            upper=upper,
            hidden_lower=hidden_lower,
            hidden_upper=hidden_upper,
            weight=problem.weight[cells],
            criterion=next(iter(kinds)) if kinds else problem.criteria[int(cells[0])],
            suppressed=hidden.copy(),
            primary=hidden.copy(),
            protect=~structural & ~problem.exempt[cells],
            has_public=bool(problem.exempt[cells].any()),
            lp=AttackerLp(
                local,
                np.where(hidden, hidden_lower, lower),
                np.where(hidden, hidden_upper, upper),
                force_linprog=force_linprog,
            ),
            adjacency=adjacency[cells][:, cells].tocsr(),
        )


# -- phase 1: protection -------------------------------------------------------------------


def _protect(comp: Component) -> None:
    # Largest requirement first: big cells need long detours that later ones can reuse.
    upl = np.array([comp.criterion.upl(v) for v in comp.values])
    queue = sorted(
        np.flatnonzero(comp.suppressed & comp.protect).tolist(), key=lambda i: (-upl[i], i)
    )
    # Feasible points found so far, starting with the true table. Suppressions only grow in
    # this phase, so a point once feasible stays feasible and can prove any cell.
    points: list[np.ndarray] = [comp.values]
    while queue:
        i = queue.pop(0)
        if i in comp.proofs or _proved_by(comp, i, points):
            continue
        # Cheap first: most cells are already protected by rounding and other gaps.
        if _prove_by_lp(comp, i, points):
            continue
        try:
            low, high = _cheapest_pair(comp, i)
        except SuppressionError:
            if not comp.has_public:
                raise
            comp.unprotectable.append(i)  # the earlier release already confines it
            continue
        outside = _outside(comp, low) | _outside(comp, high)
        added = _suppress_enough(
            comp, i, np.flatnonzero(~comp.suppressed & outside), (low, high), points
        )
        queue.extend(j for j in added if comp.protect[j])
        if (
            i not in comp.proofs
            and not _proved_by(comp, i, points)
            and not _prove_by_lp(comp, i, points)
        ):
            raise SuppressionError(f"could not protect cell {comp.cells[i]}")


def _suppress_enough(
    comp: Component,
    i: int,
    pattern: np.ndarray,
    pair: tuple[np.ndarray, np.ndarray],
    points: list[np.ndarray],
) -> list[int]:
    """Suppress the LP's pattern for cell i, cheapest cells first, stopping as soon as i
    is protected. The LP prices a cell by the distance it must move, but once suppressed
    a cell moves freely: a single cheap cell often does what the LP spread over several."""
    order = sorted(pattern.tolist(), key=lambda j: (comp.weight[j], j))
    if len(order) > 1:
        for j in order:  # one cell alone, cheapest first
            comp.suppress(j)
            # No pooling here: a point found while j is hidden is not feasible if j is
            # published again.
            if _prove_by_lp(comp, i):
                return [j]
            comp.publish(j)
    added: list[int] = []
    for n, j in enumerate(order, start=1):  # else a cheapest-first prefix
        comp.suppress(j)
        added.append(j)
        if n < len(order) and _prove_by_lp(comp, i, points):
            return added
    points.extend(pair)  # the whole pattern is hidden: the LP's points are feasible
    return added


def _proved_by(comp: Component, i: int, points: list[np.ndarray]) -> bool:
    """Do two known feasible points lie far enough apart in cell i?"""
    at = np.array([p[i] for p in points])
    lo, hi = int(at.argmin()), int(at.argmax())
    if _is_protected(comp, at[lo], at[hi]):
        _record(comp, i, points[lo], points[hi])
        return True
    return False


def _record(comp: Component, i: int, low: np.ndarray, high: np.ndarray) -> None:
    """Keep a proof for cell i, pulled towards the true table as far as protection allows.

    Any convex combination of feasible points is feasible, and the true table ``a`` is
    one, so ``a + t (low - a)``, ``a + t (high - a)`` is a proof for the smallest t that
    keeps cell i protected. Smaller moves of the other cells mean that fewer proofs break
    when the clean-up re-publishes a cell."""
    a = comp.values
    crit = comp.criterion
    # shortfall(t) = needed_max(low_i(t)) - high_i(t) is linear in t; <= 0 is protected.
    at_zero = crit.needed_max(a[i]) - a[i]
    at_one = crit.needed_max(low[i]) - high[i]
    t = 1.0
    if at_zero > 0 and at_one < 0:
        t = min(1.0, at_zero / (at_zero - at_one) + 1e-9)
    low_t, high_t = a + t * (low - a), a + t * (high - a)
    if not _is_protected(comp, low_t[i], high_t[i]):
        low_t, high_t = low, high
    comp.proofs[i] = (low_t, high_t)


def _is_protected(comp: Component, low: float, high: float) -> bool:
    return high >= comp.criterion.needed_max(low) - comp.tolerance


def _prove_by_lp(comp: Component, i: int, points: list[np.ndarray] | None = None) -> bool:
    """The attacker's min and max of cell i; record the proof if wide enough. Optimal
    points join ``points`` (they may prove other cells)."""
    low = comp.lp.optimise(i, maximise=False)
    high = comp.lp.optimise(i, maximise=True)
    if low.x is None:
        raise SuppressionError(f"attacker minimum of cell {comp.cells[i]} is unbounded")
    if points is not None:
        points.extend(p.x for p in (low, high) if p.x is not None)
    if high.x is None:  # unbounded above: any point far enough up proves it
        _record(comp, i, low.x, _far_point(comp, i, low.x))
        return True
    if not _is_protected(comp, low.value, high.value):
        return False
    _record(comp, i, low.x, high.x)
    return True


def _far_point(comp: Component, i: int, start: np.ndarray) -> np.ndarray:
    """A feasible point with (suppressed) cell i as high as protection needs, when its
    maximum is unbounded: re-solve with the cell capped there."""
    low = comp.hidden_lower[i]
    comp.lp.set_bounds(i, low, comp.criterion.needed_max(start[i]) + 1.0)
    try:
        point = comp.lp.optimise(i, maximise=True).x
    finally:
        comp.lp.set_bounds(i, low, comp.hidden_upper[i])
    if point is None:
        raise SuppressionError(f"no feasible point for cell {comp.cells[i]}")
    return point


def _cheapest_pair(comp: Component, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Two feasible points whose values in the target cell are far enough apart, cheapest
    in cells pushed beyond their rounding interval (see ``_pair_lp``). The LP is first
    confined to cells a few equation hops from the target (the rest stay at their true
    values, so the points are feasible for the whole table); the neighbourhood grows
    only if that is infeasible."""
    hops = comp.distances(target)
    depths = NEIGHBOURHOOD_HOPS if len(comp.cells) > WHOLE_COMPONENT_CELLS else (np.inf,)
    for depth in depths:
        cells = np.flatnonzero(hops <= depth)
        found = _pair_lp(comp, target, cells)
        if found is not None:
            return found
        if len(cells) == len(comp.cells):
            break
    raise SuppressionError(f"no protection found for cell {comp.cells[target]}")


def _pair_lp(
    comp: Component, target: int, cells: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Points ``low = a + y`` and ``high = a + z`` moving only ``cells``. Each of y, z is
    s + u - v: s free within the published interval (or above -a when suppressed), u and v
    the excess beyond it, costing the cell's weight per unit."""
    n = len(cells)
    t = int(np.searchsorted(cells, target))
    a = comp.values[cells]
    published = ~comp.suppressed[cells]
    lower_pub, upper_pub = comp.lower[cells], comp.upper[cells]
    weight = comp.weight[cells]
    s_lo = np.where(published, lower_pub - a, comp.hidden_lower[cells] - a)
    s_hi = np.where(published, upper_pub - a, comp.hidden_upper[cells] - a)
    s_lo[t], s_hi[t] = comp.hidden_lower[target] - a[t], comp.hidden_upper[target] - a[t]
    lower = np.concatenate([s_lo, np.zeros(2 * n)])
    # u, v: at most what suppressing the cell would allow (its hidden bounds: [0, inf),
    # or an earlier release's interval), so that the points stay feasible once the cells
    # they move are suppressed.
    hidden_lo, hidden_hi = comp.hidden_lower[cells], comp.hidden_upper[cells]
    with np.errstate(invalid="ignore"):  # inf - inf on hidden cells, discarded by where
        up = np.where(published, np.maximum(hidden_hi - upper_pub, 0.0), 0.0)
        down = np.where(published, np.maximum(lower_pub - hidden_lo, 0.0), 0.0)
    upper = np.concatenate([s_hi, up, down])
    bounds = np.column_stack([np.tile(lower, 2), np.tile(upper, 2)])
    cost = np.tile(np.concatenate([np.zeros(n), weight, weight]), 2)
    # Equations touching the neighbourhood, on its cells only (the rest do not move).
    m = comp.matrix[:, cells]
    m = m[np.flatnonzero(np.diff(m.indptr))]
    block = sp.hstack([m, m, -m], format="csr")
    a_eq = sp.block_diag([block, block], format="csr")
    a_ub = np.zeros((1, 6 * n))
    b_ub = _coupling(comp, target, t, a_ub, n)
    comp.pair_lps += 1
    res = linprog(
        cost,
        A_ub=sp.csr_matrix(a_ub),
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=np.zeros(a_eq.shape[0]),
        bounds=bounds,
        method="highs",
    )
    if res.status == 2:
        return None
    if res.status != 0:
        raise SuppressionError(f"protection LP for cell {comp.cells[target]}: {res.message}")
    low, high = comp.values.copy(), comp.values.copy()
    low[cells] += res.x[:n] + res.x[n : 2 * n] - res.x[2 * n : 3 * n]
    high[cells] += res.x[3 * n : 4 * n] + res.x[4 * n : 5 * n] - res.x[5 * n :]
    return low, high


def _coupling(comp: Component, i: int, t: int, row: np.ndarray, n: int) -> np.ndarray:
    """Protection of cell i (local index t) as one linear inequality between the points:
    counts ``high_i - low_i >= level``; sums ``(1 - p/100) high_i - low_i >= 0``."""
    crit = comp.criterion
    slope = 1.0 if crit.kind == "count" else 1 - crit.protection / 100
    for offset, sign in ((0, 1.0), (3 * n, -slope)):  # low: +y_i, high: -slope * z_i
        row[0, offset + t] = sign
        row[0, offset + n + t] = sign
        row[0, offset + 2 * n + t] = -sign
    a = comp.values[i]
    if crit.kind == "count":
        return np.array([-crit.protection])
    return np.array([slope * a - a])


def _outside(comp: Component, point: np.ndarray) -> np.ndarray:
    tol = comp.tolerance
    return (point < comp.lower - tol) | (point > comp.upper + tol)


# -- phase 2: clean-up ---------------------------------------------------------------------


def _cleanup(comp: Component, last_solve: int) -> bool:
    """Re-publish unnecessary secondaries; False if the LP budget ran out (the attacker
    LP counter passed ``last_solve``)."""
    changed = True
    while changed:
        changed = False
        candidates = np.flatnonzero(comp.suppressed & ~comp.primary)
        for j in sorted(candidates.tolist(), key=lambda c: (-comp.weight[c], c)):
            if comp.lp.solves > last_solve:
                return False
            if _try_publish(comp, j):
                changed = True
    return True


def _try_publish(comp: Component, j: int) -> bool:
    """Re-publish secondary j if every suppressed cell stays protected; keep it otherwise.

    Proofs that do not move j outside its published interval still hold. The others are
    first repaired without an LP (pull the point towards the true table until j is back
    inside), then re-derived by LP, nearest cells first: those are the ones j was
    suppressed for, so a necessary j is found out after few LPs. A proof re-derived
    without j also holds with j suppressed, so a failed attempt loses nothing."""
    own = comp.proofs.pop(j, None)
    comp.publish(j)
    broken = [
        i for i, (p, q) in comp.proofs.items() if not (_within(comp, j, p) and _within(comp, j, q))
    ]
    if broken:
        hops = comp.distances(j)
        broken.sort(key=lambda i: (hops[i], i))
    for i in broken:
        if _repair(comp, i, j) or _prove_by_lp(comp, i):
            continue
        comp.suppress(j)
        if own is not None:
            comp.proofs[j] = own
        return False
    return True


def _repair(comp: Component, i: int, j: int) -> bool:
    """Pull each point of i's proof towards the true table just enough to bring cell j
    back inside its published interval; keep the proof if i is still protected."""
    a, lo, hi = comp.values, comp.lower[j], comp.upper[j]
    pulled = []
    for point in comp.proofs[i]:
        x = point[j]
        t = 0.0
        if x > hi:
            t = (x - hi) / (x - a[j])
        elif x < lo:
            t = (lo - x) / (a[j] - x)
        pulled.append(point + min(1.0, t + 1e-12) * (a - point) if t else point)
    low, high = sorted(pulled, key=lambda p: p[i])
    if _is_protected(comp, low[i], high[i]) and all(_within(comp, j, p) for p in pulled):
        comp.proofs[i] = (low, high)
        return True
    return False


def _within(comp: Component, j: int, point: np.ndarray) -> bool:
    tol = comp.tolerance
    return bool(comp.lower[j] - tol <= point[j] <= comp.upper[j] + tol)


def _verify_proofs(comp: Component) -> None:
    """Every suppressed cell has a proof whose points satisfy the final constraints;
    re-derive any that do not (numerical drift), so the result never rests on a stale
    proof."""
    tol = comp.tolerance * 10
    for i in np.flatnonzero(comp.suppressed & comp.protect).tolist():
        if i in comp.unprotectable:
            continue
        proof = comp.proofs.get(i)
        if proof is not None and all(_feasible(comp, p, tol) for p in proof):
            continue
        comp.proofs.pop(i, None)
        if not _prove_by_lp(comp, i):
            raise SuppressionError(f"cell {comp.cells[i]} lost its protection")


def _feasible(comp: Component, point: np.ndarray, tol: float) -> bool:
    if np.abs(comp.matrix @ point).max(initial=0.0) > tol:
        return False
    lower = np.where(comp.suppressed, comp.hidden_lower, comp.lower)
    upper = np.where(comp.suppressed, comp.hidden_upper, comp.upper)
    return bool(np.all(point >= lower - tol) and np.all(point <= upper + tol))
