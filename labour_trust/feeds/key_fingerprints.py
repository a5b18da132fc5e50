"""Key uniqueness over a streamed month, without holding the month's keys.

Each row's key is reduced to a 128-bit fingerprint (two independent 64-bit DuckDB
hashes) in the worker thread that checks its batch, which also sorts the batch's first
hashes. The month's end then only merges those sorted runs to find first hashes that
repeat — none, in a good month — and compares whole fingerprints for those rows alone.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

_THREAD = threading.local()
_MIDDLE = np.uint64(1 << 63)  # splits the hash range in two, one half per core


@dataclass(frozen=True)
class BatchFingerprints:
    first: np.ndarray  # uint64 per row, in row order
    second: np.ndarray  # an independent uint64 per row
    sorted_first: np.ndarray  # `first`, sorted: a run for the month-end merge


def fingerprint(table: pa.Table, key_columns: Sequence[str]) -> BatchFingerprints:
    """Fingerprint each row's key (call from the worker thread that checks the batch)."""
    keys = ", ".join(key_columns)
    reversed_keys = ", ".join(reversed(key_columns))
    if not hasattr(_THREAD, "con"):  # one DuckDB connection per worker thread
        _THREAD.con = duckdb.connect()
    con = _THREAD.con
    con.register("batch", table.select(list(key_columns)))
    try:
        arrays = con.execute(
            f"SELECT hash({keys}) AS a, hash({reversed_keys}, 'salt') AS b FROM batch"
        ).fetchnumpy()
    finally:
        con.unregister("batch")
    first = np.asarray(arrays["a"], dtype=np.uint64)
    return BatchFingerprints(first, np.asarray(arrays["b"], dtype=np.uint64), np.sort(first))


@dataclass
class KeyFingerprints:
    """A month's fingerprints, batch by batch in row order."""

    batches: list[BatchFingerprints] = field(default_factory=list)

    def add(self, batch: BatchFingerprints) -> None:
        self.batches.append(batch)

    def repeated_rows(self) -> np.ndarray:
        """Positions, ascending, of rows whose key repeats an earlier row's."""
        repeated = _repeated_values([b.sorted_first for b in self.batches])
        if not len(repeated):
            return np.empty(0, dtype=np.int64)
        return _later_occurrences(self._candidates(repeated))

    def _candidates(self, repeated: np.ndarray) -> pa.Table:
        """Rows whose first hash repeats, with both hashes and their month position."""
        first, second, positions = [], [], []
        offset = 0
        for batch in self.batches:
            rows = np.flatnonzero(np.isin(batch.first, repeated))
            first.append(batch.first[rows])
            second.append(batch.second[rows])
            positions.append(rows + offset)
            offset += len(batch.first)
        return pa.table(
            {
                "a": np.concatenate(first),
                "b": np.concatenate(second),
                "pos": np.concatenate(positions),
            }
        )


def _repeated_values(runs: list[np.ndarray]) -> np.ndarray:
    """Values found more than once across sorted runs."""
    cuts = [np.searchsorted(run, _MIDDLE) for run in runs]
    halves = (
        [run[:cut] for run, cut in zip(runs, cuts, strict=True)],
        [run[cut:] for run, cut in zip(runs, cuts, strict=True)],
    )
    with ThreadPoolExecutor(2) as pool:  # numpy sorts outside the GIL
        return np.concatenate(list(pool.map(_repeats_in, halves)))


def _repeats_in(runs: list[np.ndarray]) -> np.ndarray:
    merged = np.concatenate(runs)
    merged.sort(kind="stable")  # timsort merges presorted runs in a few linear passes
    return np.unique(merged[1:][merged[1:] == merged[:-1]])


def _later_occurrences(candidates: pa.Table) -> np.ndarray:
    con = duckdb.connect()
    try:
        con.register("candidates", candidates)
        later = con.sql("""
            SELECT pos FROM (
                SELECT row_number() OVER (PARTITION BY a, b ORDER BY pos) AS k, pos
                FROM candidates
            ) WHERE k > 1 ORDER BY pos
        """).to_arrow_table()["pos"]
    finally:
        con.close()
    return later.to_numpy()
