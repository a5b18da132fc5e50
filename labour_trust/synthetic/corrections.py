"""Revisions: what changes when a department re-publishes a month.

Revision 0 is the first publication. A later revision is a correction of a few percent
of rows (late-reported claims, revised pay, amended course records, restated turnover),
drawn per row from (seed, month, revision) so each revision is reproducible and differs
from every other one.
"""

from __future__ import annotations

import numpy as np

from labour_trust.synthetic import rng

_S_CORRECTION = 501


def draws(seed: int, t: int, revision: int, ids: np.ndarray, salt: int = 0) -> np.ndarray:
    """A 64-bit hash per row for the corrections of one revision."""
    return rng.hash64(rng.stream_key(seed, _S_CORRECTION), ids, t, revision, salt)


def dropped(h: np.ndarray, rate: float) -> np.ndarray:
    """Rows withdrawn by the correction (reported in error)."""
    return rng.u16(h, 0) < rate


def amended(h: np.ndarray, rate: float) -> np.ndarray:
    """Rows whose values the correction changes."""
    return rng.u16(h, 1) < rate


def factor(h: np.ndarray, spread: float) -> np.ndarray:
    """A multiplicative revision in [1 - spread, 1 + spread]."""
    return 1.0 + spread * (2.0 * rng.u16(h, 2) - 1.0)


def other(h: np.ndarray, current: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """Replace ``current`` by a different value from ``choices`` (current must be in it)."""
    pos = np.searchsorted(choices, current)
    step = 1 + np.floor(rng.u16(h, 3) * (len(choices) - 1)).astype(np.int64)
    return choices[(pos + step) % len(choices)]
