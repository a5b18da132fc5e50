"""Reading one month of a share in place, at a pinned Delta version.

A feed asset records a `SharePointer` — where the share is, which version was checked,
and a fingerprint of that month's files — never a copy of the data. Downstream assets
reopen the share at the pinned version, so they read exactly what was validated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.dataset as pds
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

BATCH_ROWS = 1_000_000


def _scan_pool() -> pa.MemoryPool:
    """Decoding churns through large short-lived buffers; jemalloc keeps them mapped where
    mimalloc (Arrow's default) returns and re-faults them: a third less system time."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow build without jemalloc
        return pa.default_memory_pool()


_SCAN_POOL = _scan_pool()


class ShareReadError(RuntimeError):
    """A share (or one of its files) cannot be read; the message names share and file."""


@dataclass(frozen=True)
class SharePointer:
    share: str
    uri: str
    month: str
    version: int
    rows: int
    bytes: int
    files: int
    content_hash: str  # fingerprint of the month's data files (paths and sizes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SharePointer:
        return cls(**json.loads(text))


def open_share(
    share: str, uri: str, version: int | None = None, storage_options: dict | None = None
) -> DeltaTable:
    try:
        return DeltaTable(uri, version=version, storage_options=storage_options)
    except TableNotFoundError:
        raise ShareReadError(f"{share}: no Delta table at {uri}") from None
    except (DeltaError, OSError) as e:
        raise ShareReadError(f"{share}: cannot open {uri} at version {version}: {e}") from None


@dataclass(frozen=True)
class MonthFingerprint:
    files: int
    bytes: int
    rows: int  # from the log's per-file statistics
    content_hash: str


def month_fingerprints(table: DeltaTable) -> dict[str, MonthFingerprint]:
    """Per month, a fingerprint of its data files at the table's version (log only, no data)."""
    actions = pa.table(table.get_add_actions(flatten=True))
    grouped: dict[str, list[tuple[str, int, int]]] = {}
    for path, size, rows, month in zip(
        actions["path"].to_pylist(),
        actions["size_bytes"].to_pylist(),
        actions["num_records"].to_pylist(),
        actions["partition.month"].to_pylist(),
        strict=True,
    ):
        grouped.setdefault(month, []).append((path, size, rows or 0))
    return {month: _fingerprint(files) for month, files in grouped.items()}


def _fingerprint(files: list[tuple[str, int, int]]) -> MonthFingerprint:
    digest = hashlib.sha256()
    for path, size, _ in sorted(files):
        digest.update(f"{path}\0{size}\n".encode())
    return MonthFingerprint(
        files=len(files),
        bytes=sum(f[1] for f in files),
        rows=sum(f[2] for f in files),
        content_hash=digest.hexdigest(),
    )


def pointer_for(share: str, uri: str, table: DeltaTable, month: str, rows: int) -> SharePointer:
    fingerprint = month_fingerprints(table).get(month, _fingerprint([]))
    return SharePointer(
        share=share,
        uri=uri,
        month=month,
        version=table.version(),
        rows=rows,
        bytes=fingerprint.bytes,
        files=fingerprint.files,
        content_hash=fingerprint.content_hash,
    )


def month_dataset(table: DeltaTable, month: str) -> pds.Dataset:
    """An Arrow dataset over the month's files, read in place (DuckDB can scan it)."""
    dataset = table.to_pyarrow_dataset()
    return dataset.filter(pds.field("month") == month)


def iter_month_batches(
    share: str, table: DeltaTable, month: str, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream a month file by file, so a corrupt or missing file is named in the error."""
    dataset = table.to_pyarrow_dataset()
    for fragment in dataset.get_fragments(filter=pds.field("month") == month):
        try:
            # The dataset schema brings back the partition column (month) for each batch.
            yield from fragment.to_batches(
                schema=dataset.schema,
                columns=columns,
                batch_size=BATCH_ROWS,
                memory_pool=_SCAN_POOL,
            )
        except (OSError, pa.ArrowException) as e:
            raise ShareReadError(
                f"{share} month {month}: data file {fragment.path} of version "
                f"{table.version()} cannot be read: {_first_line(e)}"
            ) from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
