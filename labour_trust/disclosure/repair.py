"""Audit-driven repair: make the engine's pattern pass the independent audit.

The engine protects cells under its own attacker model; the audit (``audit.py``) attacks
what is actually published with code of its own. Should they ever disagree — the audit
finds a suppressed cell whose feasible interval is narrower than the protection level —
the pattern is not published as it is: the cheapest published partner of each narrow cell
(a cell sharing an equation with it, cheapest by suppression weight, ties by cell id) is
suppressed as well, the engine protects the enlarged pattern and the audit runs again.
After ``rounds`` such rounds a cell that still fails takes its whole block (every cell of
its connected component of the equation graph) with it: blunt, but always safe, and
recorded so that the caller can say so in the publication's metadata.

The loop is deterministic: failing cells, partners and blocks are taken in cell-id order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from labour_trust.disclosure.secondary import Problem

REPAIR_ROUNDS = 3
REPAIR, BLOCK = "repair", "block"


@dataclass(frozen=True)
class RepairRecord:
    """What the repair loop did: ``audits`` run, cells it added, whether the last passed."""

    audits: int
    repaired: tuple[int, ...]  # cell ids suppressed as partners of narrow cells
    blocked: tuple[int, ...]  # cell ids suppressed by the block fallback
    passed: bool


def repair(
    problem: Problem,
    forced: set[int],
    protect: Callable[[set[int]], set[int]],
    narrow: Callable[[set[int]], list[int]],
    *,
    rounds: int = REPAIR_ROUNDS,
) -> tuple[set[int], dict[int, str], RepairRecord]:
    """Protect ``forced`` with ``protect`` (forced cells → suppressed cells) until
    ``narrow`` (suppressed cells → cells the audit can narrow) finds nothing.

    Returns the suppressed cells, the cells added by the loop (→ ``repair`` / ``block``)
    and a record."""
    added: dict[int, str] = {}
    suppressed = protect(set(forced))
    audits = 0
    failing: list[int] = []
    for round_ in range(rounds + 1):
        failing = sorted(set(narrow(suppressed)))
        audits += 1
        if not failing:
            return suppressed, added, _record(audits, added, passed=True)
        if round_ == rounds:
            break
        partners = _partners(problem, failing, suppressed)
        if not partners:
            break  # nothing left to add next to the narrow cells: go to the blocks
        added.update(dict.fromkeys(partners, REPAIR))
        suppressed = protect(set(forced) | set(added))
    for j in _blocks(problem, failing):
        if j not in suppressed:
            added[j] = BLOCK
            suppressed.add(j)
    audits += 1
    passed = not narrow(suppressed)
    return suppressed, added, _record(audits, added, passed=passed)


def _record(audits: int, added: dict[int, str], *, passed: bool) -> RepairRecord:
    return RepairRecord(
        audits,
        tuple(sorted(j for j, why in added.items() if why == REPAIR)),
        tuple(sorted(j for j, why in added.items() if why == BLOCK)),
        passed,
    )


def _partners(problem: Problem, failing: list[int], suppressed: set[int]) -> list[int]:
    """For each narrow cell, its cheapest published partner in a shared equation."""
    by_cell = problem.matrix.tocsc()
    rows_of = problem.matrix.tocsr()
    chosen: set[int] = set()
    for i in failing:
        rows = by_cell.indices[by_cell.indptr[i] : by_cell.indptr[i + 1]]
        candidates = {
            int(j)
            for r in rows.tolist()
            for j in rows_of.indices[rows_of.indptr[r] : rows_of.indptr[r + 1]].tolist()
            # Exempt cells are public from an earlier release: hiding them adds nothing.
            if j != i
            and j not in suppressed
            and not problem.structural[j]
            and not problem.exempt[j]
        }
        if candidates:
            chosen.add(min(candidates, key=lambda j: (problem.weight[j], j)))
    return sorted(chosen)


def close_singletons(problem: Problem, suppressed: set[int]) -> set[int]:
    """``suppressed`` plus, in every equation where it is the only hidden cell, the
    cheapest published partner of that cell — repeated until no equation gives a hidden
    cell away by subtraction. The "hide the smallest partner" rule of hypercube-style
    methods, the "partner" baseline: cheap (no LP), and not a guarantee of protection."""
    matrix = problem.matrix.tocsr()
    incidence = (matrix != 0).astype(np.int32)
    hidden = np.zeros(problem.n_cells, dtype=bool)
    hidden[list(suppressed)] = True
    hidden |= problem.structural
    while True:
        counts = np.asarray(incidence @ hidden.astype(np.int32)).ravel()
        added = False
        for r in np.flatnonzero(counts == 1).tolist():
            cells = matrix.indices[matrix.indptr[r] : matrix.indptr[r + 1]]
            if hidden[cells].sum() != 1:
                continue  # an earlier partner this pass already hid a second cell
            open_ = cells[~hidden[cells] & ~problem.exempt[cells]]
            if open_.size:
                hidden[min(open_.tolist(), key=lambda j: (problem.weight[j], j))] = True
                added = True
        if not added:
            return set(np.flatnonzero(hidden & ~problem.structural).tolist())


def _blocks(problem: Problem, failing: list[int]) -> list[int]:
    """Every non-structural cell connected to a failing cell through the equations."""
    matrix = problem.matrix.tocsr()
    n = problem.n_cells
    incidence = (matrix != 0).astype(np.int8)
    adjacency = (incidence.T @ incidence).tocsr() + sp.identity(n, format="csr")
    _, labels = connected_components(adjacency, directed=False)
    wanted = set(labels[failing].tolist())
    available = ~np.isnan(problem.values)
    return [
        int(j)
        for j in np.flatnonzero(np.isin(labels, list(wanted)) & available).tolist()
        if not problem.structural[j]
    ]
