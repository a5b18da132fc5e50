"""Reading one month of a share in place, at a pinned Delta version.

A feed asset records a `SharePointer` — where the share is, which version was checked,
and a fingerprint of that month's files — never a copy of the data. Downstream assets
reopen the share at the pinned version, so they read exactly what was validated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

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
    # The linkage key version of the month's tokens (one per month, by contract); None in
    # pointers written before it was recorded.
    key_version: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def pinned(cls, share: str, uri: str, month: str, version: int) -> SharePointer:
        """A pointer to a month at a version recorded elsewhere (e.g. a trust month's
        `source_versions`), enough to read it in place; its counts are not known."""
        return cls(share, uri, month, int(version), rows=0, bytes=0, files=0, content_hash="")

    @classmethod
    def from_json(cls, text: str) -> SharePointer:
        # Fields added later have defaults, so older pointer files still load.
        return cls(**json.loads(text))


def open_share(
    share: str, uri: str, version: int | None = None, storage_options: dict | None = None
) -> DeltaTable:
    """The share's Delta table at `version` (None: latest). A broken share raises
    ShareReadError with one line naming share, uri, version and what is wrong, so that
    one broken share fails on its own and never with deltalake's multi-line backtrace."""
    try:
        return DeltaTable(uri, version=version, storage_options=storage_options)
    except (DeltaError, OSError) as e:
        at = "latest" if version is None else f"version {version}"
        cause = _diagnose_log(uri, version, storage_options)
        if cause is None:
            cause = _delta_message(e)
            if isinstance(e, TableNotFoundError):
                cause = f"no Delta table ({cause})"
        raise ShareReadError(f"{share}: cannot open {uri} at {at}: {cause}") from None


_NO_LOG = "no _delta_log: the table was deleted or never created"
# Lines of a Rust backtrace that deltalake appends to its messages ("   3: <unknown>",
# "             at ./nptl/pthread_create.c:442:8", "Stack backtrace:").
_BACKTRACE_LINE = re.compile(r"^\s*(\d+:\s|at\s|stack backtrace|backtrace)", re.IGNORECASE)


def _delta_message(error: BaseException) -> str:
    """deltalake's message without its backtrace: the first meaningful line."""
    for line in str(error).splitlines():
        line = line.strip()
        if line and not _BACKTRACE_LINE.match(line):
            # Some messages run the backtrace header onto the same line.
            return re.split(r"\s*stack backtrace", line, flags=re.IGNORECASE)[0].strip()
    return type(error).__name__


def _diagnose_log(uri: str, version: int | None, storage_options: dict | None) -> str | None:
    """Why the log of `uri` cannot be read up to `version`, in plain words, found by
    reading the commit files ourselves (deltalake's error names neither file nor version).
    None when nothing wrong is found: the caller then shows deltalake's own first line.
    Runs only after a failed open, so reading every commit file is affordable."""
    from labour_trust.shares.commit_log import open_log  # no import cycle at module load
    from labour_trust.shares.faults import ShareNotFound, ShareUnavailable

    try:
        store = open_log(uri, storage_options)
        commits = store.commits(from_version=None, limit=None)
        if not commits:
            if store.read("_last_checkpoint") is None:
                return _NO_LOG if _log_folder_missing(uri) else f"{_NO_LOG} (no commit files)"
            return None  # only a checkpoint: deltalake's message is the best we have
        latest = commits[-1].version
        if version is not None and version > latest:
            return f"version {version} does not exist: the latest version is {latest}"
        wanted = [c for c in commits if version is None or c.version <= version]
        expected = wanted[0].version if wanted else 0
        for commit in wanted:
            if commit.version != expected:
                return f"commit file {expected:020d}.json is missing: the log has a gap"
            expected += 1
            problem = _commit_problem(store.read(commit.name))
            if problem:
                return f"commit file {commit.name} {problem}"
    except ShareNotFound as fault:  # a local share without its _delta_log folder, a bucket
        return _NO_LOG if _log_folder_missing(uri) else fault.reason.splitlines()[0]
    except ShareUnavailable as fault:  # storage unreachable, forbidden, throttled
        return fault.reason.splitlines()[0]
    return None


def _log_folder_missing(uri: str) -> bool:
    if "://" in uri and not uri.startswith("file://"):
        return True  # object stores have no folders: no commit files is no log
    path = Path(urlparse(uri).path if uri.startswith("file://") else uri)
    return not (path / "_delta_log").is_dir()


def _commit_problem(data: bytes | None) -> str | None:
    """What is wrong with one commit file's bytes, or None if each line is a JSON object."""
    if data is None:
        return "vanished while it was read"
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "is not valid JSON" + ("" if number == 1 else f" (line {number})")
        if not isinstance(action, dict):
            return f"is not a Delta commit: line {number} is not a JSON object"
        for kind in ("add", "remove"):
            if kind in action and not isinstance((action[kind] or {}).get("path"), str):
                return f"has an {kind} action without a path (line {number})"
    return None


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


def pointer_for(
    share: str,
    uri: str,
    table: DeltaTable,
    month: str,
    rows: int,
    key_version: str | None = None,
) -> SharePointer:
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
        key_version=key_version,
    )


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
