"""Counter-based randomness: every draw is a pure hash of (seed, stream, entity, time...).

A synthetic month must be reproducible on its own, for any subset of persons, without
replaying earlier months or keeping state between calls. So nothing here is a sequential
generator: a value is ``hash(seed, stream, id, window)`` mixed with splitmix64, and the
same person gets the same life story whichever month, batch or process asks for it.
"""

from __future__ import annotations

import numpy as np

U64 = np.uint64
_M1 = U64(0xBF58476D1CE4E5B9)
_M2 = U64(0x94D049BB133111EB)
_GOLDEN = U64(0x9E3779B97F4A7C15)
_U16 = 1.0 / 65536.0
_U32 = 1.0 / 4294967296.0


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (in place on a fresh array)."""
    z ^= z >> U64(30)
    z *= _M1
    z ^= z >> U64(27)
    z *= _M2
    z ^= z >> U64(31)
    return z


def stream_key(seed: int, stream: int) -> np.uint64:
    """A 64-bit key for one named stream of one seed."""
    with np.errstate(over="ignore"):
        z = np.array([(seed * 0x100000001B3 + stream) & 0xFFFFFFFFFFFFFFFF], dtype=U64)
        return _mix(_mix(z + _GOLDEN))[0]


def hash64(key: np.uint64, *parts: np.ndarray | int) -> np.ndarray:
    """Hash of a stream key and integer parts (broadcast together) to uint64."""
    with np.errstate(over="ignore"):
        h = np.asarray(key, dtype=U64)
        for part in parts:
            p = (
                np.asarray(part).astype(np.int64).view(U64)
                if np.ndim(part)
                else U64(int(part) & 0xFFFFFFFFFFFFFFFF)
            )
            h = _mix((h ^ p) * _GOLDEN + _GOLDEN)
        return h


def u16(h: np.ndarray, slot: int) -> np.ndarray:
    """One of four independent uniforms in (0, 1) packed in a 64-bit hash (16 bits each)."""
    bits = (h >> U64(16 * slot)) & U64(0xFFFF)
    return (bits.astype(np.float64) + 0.5) * _U16


def u32(h: np.ndarray, slot: int = 0) -> np.ndarray:
    """One of two uniforms in (0, 1) with 32-bit resolution (for rare categories)."""
    bits = (h >> U64(32 * slot)) & U64(0xFFFFFFFF)
    return (bits.astype(np.float64) + 0.5) * _U32


def normal(h: np.ndarray) -> np.ndarray:
    """A standard normal from two 32-bit uniforms of one hash (Box-Muller)."""
    return np.sqrt(-2.0 * np.log(u32(h, 0))) * np.cos(2.0 * np.pi * u32(h, 1))


def choice(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Categorical draw: index into ``weights`` by inverse CDF of uniforms ``u``."""
    cum = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cum / cum[-1], u, side="right")
    return np.minimum(idx, len(weights) - 1)


def cumulative(table: np.ndarray) -> np.ndarray:
    """Row-normalised cumulative probabilities of a (groups, categories) weight table,
    laid end to end as ``group + cum`` so ``choice_by_group`` needs one searchsorted."""
    table = np.asarray(table, dtype=np.float64)
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    return (cum + np.arange(len(table))[:, None]).ravel()


def choice_by_group(u: np.ndarray, group: np.ndarray, cum: np.ndarray, categories: int):
    """Categorical draw whose probabilities depend on a group (row of ``cumulative``)."""
    idx = np.searchsorted(cum, group + u, side="right") - group * categories
    return np.minimum(idx, categories - 1)


def sparse_draws(key: np.uint64, ids: np.ndarray, windows: np.ndarray, rate: np.ndarray):
    """Where a spell exists among (person, window) pairs, and a hash for its details.

    Existence is the only dense test, and one 64-bit hash serves four consecutive
    windows (16 bits each), so a long look-back stays cheap; the details of the few
    spells that exist come from their own hash. ``rate`` broadcasts against
    (len(ids), len(windows)). Returns (rows, cols, hashes).
    """
    groups, slot_group = np.unique(windows // 4, return_inverse=True)
    h = hash64(key, ids[:, None], groups[None, :])
    u = np.empty((len(ids), len(windows)))
    for col, (w, g) in enumerate(zip(windows, slot_group, strict=True)):
        u[:, col] = u16(h[:, g], int(w) % 4)
    rows, cols = np.nonzero(u < rate)
    return rows, cols, hash64(key, ids[rows], windows[cols], 1)


def dense(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, values, fill) -> np.ndarray:
    """Scatter sparse per-spell values into a (persons, windows) array."""
    values = np.asarray(values)
    out = np.full(shape, fill, dtype=values.dtype)
    out[rows, cols] = values
    return out
