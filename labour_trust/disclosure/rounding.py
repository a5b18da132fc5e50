"""Rounding of published values, and what a rounded value tells an attacker.

Counts are integers rounded half up to a base b: a published r means the true value lies
in [r - floor(b/2), r + ceil(b/2) - 1] (b = 5: [r - 2, r + 2]). Because counts between 1
and threshold - 1 are always suppressed, an attacker also knows that a published non-zero
count is at least the threshold, and that a published 0 is a true 0.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np


def round_counts(values: np.ndarray, base: int) -> np.ndarray:
    """Integers rounded half up to a multiple of ``base`` (exact integer arithmetic)."""
    values = np.asarray(values, dtype=np.int64)
    return (2 * values + base) // (2 * base) * base


def round_step(value: float, step: float) -> float:
    """``value`` rounded half up to a multiple of ``step`` (decimal, so 12.35 → 12.4)."""
    d_step = Decimal(repr(step))
    units = (Decimal(repr(float(value))) / d_step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return float(units * d_step)


def round_steps(values: np.ndarray, step: float | None) -> np.ndarray:
    if step is None:
        return np.asarray(values, dtype=float)
    return np.array([round_step(v, step) for v in np.asarray(values, dtype=float)])


def count_bounds(rounded: np.ndarray, base: int, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """The attacker's interval for published (rounded) counts."""
    rounded = np.asarray(rounded, dtype=float)
    lo = np.maximum(rounded - base // 2, threshold)
    hi = rounded + (base + 1) // 2 - 1
    zero = rounded == 0
    return np.where(zero, 0.0, lo), np.where(zero, 0.0, hi)


def magnitude_bounds(rounded: np.ndarray, step: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The attacker's interval for published non-negative sums rounded to ``step``."""
    rounded = np.asarray(rounded, dtype=float)
    half = 0.0 if step is None else step / 2
    return np.maximum(rounded - half, 0.0), rounded + half
