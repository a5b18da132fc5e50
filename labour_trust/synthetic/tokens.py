"""Synthetic NINOs and fast HMAC tokenising into Arrow string columns.

Tokenising is the hot spot of generation: one HMAC-SHA256 per *distinct* identifier in
a batch (``hmac.digest`` is a single C call), hex-encoded with numpy and gathered per
row by index, so a person with two jobs is hashed once. Raw NINOs exist only as the
HMAC input here; they are never put in a column.
"""

from __future__ import annotations

import hmac
from functools import cache

import numpy as np
import pyarrow as pa

from labour_trust.feeds.linkage import LinkageKey

_FIRST = "ABCEGHJKLMNOPRSTWXYZ"  # valid first prefix letters
_SECOND = "ABCEGHJKLMNPRSTWXYZ"  # valid second prefix letters (no O)
_BARRED = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
try:  # the C function behind hmac.digest, without its per-call Python wrapper
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - CPython without OpenSSL
    _hmac_digest = hmac.digest

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
TOKEN_WIDTH = 64


@cache
def _prefixes() -> np.ndarray:
    pairs = [a + b for a in _FIRST for b in _SECOND if a + b not in _BARRED]
    return np.frombuffer("".join(pairs).encode(), dtype=np.uint8).reshape(-1, 2)


def nino_capacity() -> int:
    return len(_prefixes()) * 1_000_000 * 4


def ninos(ids: np.ndarray, seed: int) -> np.ndarray:
    """Distinct valid NINOs for distinct person ids, as a (n, 9) uint8 ASCII matrix.

    An affine bijection modulo the NINO space scatters consecutive ids over prefixes.
    """
    capacity = nino_capacity()
    multiplier = 2_654_435_761 % capacity  # odd, not a multiple of 5 or 373: coprime
    offset = (seed * 0x9E3779B1 + 12345) % capacity
    x = (ids.astype(np.int64) % capacity * multiplier + offset) % capacity
    suffix, x = x % 4, x // 4
    digits, prefix = x % 1_000_000, x // 1_000_000
    out = np.empty((len(ids), 9), dtype=np.uint8)
    out[:, :2] = _prefixes()[prefix]
    powers = 10 ** np.arange(5, -1, -1, dtype=np.int64)
    out[:, 2:8] = (digits[:, None] // powers) % 10 + 48
    out[:, 8] = suffix + ord("A")
    return out


def hmac_hex(key: LinkageKey, messages: np.ndarray) -> np.ndarray:
    """HMAC-SHA256 hex of each row of a (n, width) uint8 matrix → (n, 64) uint8 matrix.

    Same bytes as ``key.token(message)``: the messages are already normalised.
    """
    n, width = messages.shape
    # One bytes object per row straight from numpy (no NUL bytes: ASCII, so 'S' is exact).
    rows = np.ascontiguousarray(messages).view(f"S{width}").ravel().tolist()
    secret, digest = key.secret, _hmac_digest
    macs = b"".join([digest(secret, m, "sha256") for m in rows])
    binary = np.frombuffer(macs, dtype=np.uint8).reshape(n, 32)
    out = np.empty((n, TOKEN_WIDTH), dtype=np.uint8)
    out[:, 0::2] = _HEX[binary >> 4]
    out[:, 1::2] = _HEX[binary & 15]
    return out


def string_column(matrix: np.ndarray) -> pa.StringArray:
    """Fixed-width ASCII rows (n, w) uint8 → an Arrow string array without Python objects."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(matrix).reshape(-1)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def token_column(key: LinkageKey, messages: np.ndarray, index: np.ndarray) -> pa.StringArray:
    """Tokens of ``messages`` gathered per row by ``index`` (hash each message once)."""
    return string_column(hmac_hex(key, messages)[index])
