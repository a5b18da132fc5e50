"""Commit-log diffing: which months (and which columns) of a share changed after a cursor.

A Delta table's `_delta_log/` holds one JSON file per version (`00000000000000000042.json`)
whose `add`/`remove` actions name the partition (`month`) of every file they touch, and
whose `metaData` action carries the table schema. Reading only the commit files newer
than the last version seen makes a sensor tick cost O(new commits), however large the
table: on S3 one `ListObjectsV2(StartAfter=...)` that starts at the cursor's own commit,
a GET per new commit and a HEAD per newly added data file; nothing else.

A first read (no cursor) or a reset (the table was re-created) reads the full state once:
the last checkpoint plus the commits after it.

Faults are raised as `ShareUnavailable` subclasses (see `faults`), never swallowed: the
caller keeps its cursor, so no commit is ever skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from labour_trust.shares import s3
from labour_trust.shares.faults import (
    CorruptCommit,
    LogGap,
    MissingDataFile,
    ShareForbidden,
    ShareNotFound,
    ShareUnavailable,
)
from labour_trust.shares.storage import S3Settings, is_s3

PARTITION_COLUMN = "month"
DEFAULT_MAX_COMMITS = 500  # per tick; a backlog is worked off over several ticks
S3_PARALLELISM = 8  # concurrent GET/HEAD requests: latency-bound, not CPU-bound
_COMMIT_NAME = re.compile(r"^(\d{20})\.json$")

Columns = dict[str, str]  # column name -> Delta type ("string", "long", ...; " not null")
T = TypeVar("T")
R = TypeVar("R")


# ----------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class SchemaChange:
    """Columns added, removed or retyped by the commit at `version`."""

    version: int
    added: Mapping[str, str] = field(default_factory=dict)
    removed: Mapping[str, str] = field(default_factory=dict)
    retyped: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"+{n} ({t})" for n, t in sorted(self.added.items())]
        parts += [f"-{n} ({t})" for n, t in sorted(self.removed.items())]
        parts += [f"~{n} ({a} -> {b})" for n, (a, b) in sorted(self.retyped.items())]
        return f"version {self.version}: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "added": dict(self.added),
            "removed": dict(self.removed),
            "retyped": {n: list(t) for n, t in self.retyped.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SchemaChange:
        return cls(
            version=int(d["version"]),
            added=dict(d.get("added", {})),
            removed=dict(d.get("removed", {})),
            retyped={n: (str(a), str(b)) for n, (a, b) in d.get("retyped", {}).items()},
        )


def columns_of(schema_string: str) -> Columns:
    """Column name -> type text, from a Delta `metaData.schemaString`."""
    schema = json.loads(schema_string)
    columns: Columns = {}
    for f in schema.get("fields", []):
        t = f["type"]
        text = t if isinstance(t, str) else json.dumps(t, sort_keys=True, separators=(",", ":"))
        columns[f["name"]] = text if f.get("nullable", True) else f"{text} not null"
    return columns


def diff_columns(version: int, before: Columns, after: Columns) -> SchemaChange | None:
    added = {n: t for n, t in after.items() if n not in before}
    removed = {n: t for n, t in before.items() if n not in after}
    retyped = {n: (before[n], t) for n, t in after.items() if n in before and before[n] != t}
    if not (added or removed or retyped):
        return None
    return SchemaChange(version, added, removed, retyped)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ShareCursor:
    """What a reader remembers between reads of one share.

    `fingerprint` identifies the commit file of `version` (S3 ETag or content hash): if the
    same version later has a different file, the table was deleted and re-created.
    """

    version: int
    table_id: str | None = None
    fingerprint: str | None = None
    schema: Columns = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ShareCursor:
        return cls(
            version=int(d["version"]),
            table_id=d.get("table_id"),
            fingerprint=d.get("fingerprint"),
            schema=dict(d.get("schema") or {}),
        )


@dataclass(frozen=True)
class ShareChanges:
    """The outcome of one read: what changed between `after` and `version`."""

    uri: str
    after: int | None  # the cursor version read from (None: first read)
    version: int  # the newest version read; == after when nothing is new
    months: frozenset[str]  # months whose data changed (all months, if `full`)
    schema_changes: list[SchemaChange]
    commits_read: int
    cursor: ShareCursor  # store this to continue from `version` next time
    full: bool = False  # the whole state was read (first read or reset)
    reset_reason: str | None = None  # set when the table was re-created under us
    more: bool = False  # more commits are waiting beyond max_commits
    committed_at: datetime | None = None  # commitInfo timestamp of the newest commit read
    files_checked: int = 0

    @property
    def is_new(self) -> bool:
        return self.full or self.commits_read > 0


# ----------------------------------------------------------------------------- log stores


@dataclass(frozen=True)
class _Commit:
    version: int
    name: str
    etag: str | None = None  # from the S3 listing; local files hash their content


class _LogStore(Protocol):
    uri: str
    parallel: bool

    def commits(self, from_version: int | None, limit: int | None) -> list[_Commit]: ...
    def read(self, name: str) -> bytes | None: ...
    def fingerprint(self, commit: _Commit, data: bytes | None = None) -> str | None: ...
    def data_file_exists(self, path: str) -> bool: ...


def _content_fingerprint(data: bytes) -> str:
    return "sha1:" + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:20]


class _LocalLog:
    parallel = False

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.root = Path(urlparse(uri).path if uri.startswith("file://") else uri)
        self.log_dir = self.root / "_delta_log"

    def commits(self, from_version: int | None, limit: int | None) -> list[_Commit]:
        try:
            names = os.listdir(self.log_dir)
        except FileNotFoundError:
            raise ShareNotFound(
                f"no Delta table at {self.uri}: no _delta_log: the table was deleted or never "
                "created"
            ) from None
        except PermissionError as e:
            raise ShareForbidden(f"cannot list {self.log_dir}: {e}") from None
        except OSError as e:
            raise ShareUnavailable(f"cannot list {self.log_dir}: {e}") from None
        found = []
        for name in names:
            m = _COMMIT_NAME.match(name)
            if m and (from_version is None or int(m.group(1)) >= from_version):
                found.append(_Commit(int(m.group(1)), name))
        found.sort(key=lambda c: c.version)
        return found if limit is None else found[:limit]

    def read(self, name: str) -> bytes | None:
        try:
            return (self.log_dir / name).read_bytes()
        except FileNotFoundError:
            return None
        except PermissionError as e:
            raise ShareForbidden(f"cannot read {self.log_dir / name}: {e}") from None
        except OSError as e:
            raise ShareUnavailable(f"cannot read {self.log_dir / name}: {e}") from None

    def fingerprint(self, commit: _Commit, data: bytes | None = None) -> str | None:
        data = self.read(commit.name) if data is None else data
        return None if data is None else _content_fingerprint(data)

    def data_file_exists(self, path: str) -> bool:
        if "://" in path:
            parsed = urlparse(path)
            if parsed.scheme != "file":
                return True  # not ours to check: a file in another store
            return Path(unquote(parsed.path)).exists()
        return (self.root / unquote(path)).exists()


class _S3Log:
    parallel = True

    def __init__(self, uri: str, settings: S3Settings) -> None:
        self.uri = uri.rstrip("/")
        self.bucket, self.prefix = s3.split_s3_uri(uri)
        self.log_prefix = f"{self.prefix}/_delta_log/" if self.prefix else "_delta_log/"
        self.client = s3.client_for(settings)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ClientError, BotoCoreError) as e:
            raise s3.fault_from(e, what) from None

    def commits(self, from_version: int | None, limit: int | None) -> list[_Commit]:
        # Start just before the cursor's own commit key ("…42.j" < "…42.json"): the listing
        # then returns that commit too, with its ETag, which proves the table was not
        # re-created — one request, where a LIST after it plus a HEAD of it would be two.
        start_after = None
        if from_version is not None and from_version > 0:
            start_after = f"{self.log_prefix}{from_version:020d}.j"

        def run() -> list[_Commit]:
            found: list[_Commit] = []
            objects = s3.list_objects(self.client, self.bucket, self.log_prefix, start_after)
            for obj in objects:
                m = _COMMIT_NAME.match(obj.key[len(self.log_prefix) :])
                if m:
                    found.append(_Commit(int(m.group(1)), m.group(0), obj.etag))
                    if limit is not None and len(found) >= limit:
                        break
                elif found and not obj.key[len(self.log_prefix) :][:1].isdigit():
                    break  # past the numbered files (_last_checkpoint, _commits/...)
            return found

        return self._call(f"list {self.uri}/_delta_log", run)

    def read(self, name: str) -> bytes | None:
        key = self.log_prefix + name
        return self._call(
            f"read s3://{self.bucket}/{key}",
            lambda: s3.get_small_object(self.client, self.bucket, key),
        )

    def fingerprint(self, commit: _Commit, data: bytes | None = None) -> str | None:
        if commit.etag:
            return "etag:" + commit.etag
        return None if data is None else _content_fingerprint(data)

    def data_file_exists(self, path: str) -> bool:
        if "://" in path:
            parsed = urlparse(path)
            if parsed.scheme != "s3":
                return True  # not ours to check
            bucket, key = parsed.netloc, unquote(parsed.path.lstrip("/"))
        else:
            bucket = self.bucket
            key = f"{self.prefix}/{unquote(path)}" if self.prefix else unquote(path)
        info = self._call(
            f"check data file s3://{bucket}/{key}",
            lambda: s3.head_object(self.client, bucket, key),
        )
        return info is not None


def open_log(uri: str, storage: S3Settings | Mapping[str, str] | None = None) -> _LogStore:
    if is_s3(uri):
        return _S3Log(uri, S3Settings.coerce(storage))
    return _LocalLog(uri)


def _map(store: _LogStore, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """Apply fn to items, concurrently for S3 (each call is one round trip)."""
    if not store.parallel or len(items) < 2:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(S3_PARALLELISM, len(items))) as pool:
        return list(pool.map(fn, items))


# ----------------------------------------------------------------------------- replay


class _Reset(Exception):  # control flow only: never escapes this module
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _month_of(action: Mapping[str, Any], column: str) -> str | None:
    values = action.get("partitionValues") or {}
    if column in values:
        return values[column]
    # A `remove` without extended metadata has no partitionValues: use the hive path.
    for segment in unquote(str(action.get("path", ""))).split("/"):
        if segment.startswith(f"{column}="):
            return segment[len(column) + 1 :]
    return None


@dataclass
class _Replay:
    """Folds commits into: months touched, files added (net), schema and table id."""

    uri: str
    column: str
    schema: Columns | None = None
    table_id: str | None = None
    report_schema_changes: bool = True
    live: dict[str, tuple[int, str | None]] = field(default_factory=dict)  # path -> (v, month)
    touched: set[str] = field(default_factory=set)
    schema_changes: list[SchemaChange] = field(default_factory=list)
    committed_at_ms: int | None = None

    def apply(self, version: int, actions: Iterable[Mapping[str, Any]]) -> None:
        for action in actions:
            if "add" in action:
                self._add(version, action["add"])
            elif "remove" in action:
                self._remove(action["remove"])
            elif "metaData" in action:
                self._metadata(version, action["metaData"])
            elif "commitInfo" in action:
                ts = action["commitInfo"].get("timestamp")
                if isinstance(ts, int):
                    self.committed_at_ms = max(ts, self.committed_at_ms or 0)

    def _add(self, version: int, add: Mapping[str, Any]) -> None:
        month = _month_of(add, self.column)
        self.live[str(add["path"])] = (version, month)
        if month is not None and add.get("dataChange", True):
            self.touched.add(month)

    def _remove(self, remove: Mapping[str, Any]) -> None:
        self.live.pop(str(remove["path"]), None)
        month = _month_of(remove, self.column)
        if month is not None and remove.get("dataChange", True):
            self.touched.add(month)

    def _metadata(self, version: int, meta: Mapping[str, Any]) -> None:
        table_id = meta.get("id")
        if self.table_id and table_id and table_id != self.table_id:
            raise _Reset(
                f"table id changed from {self.table_id} to {table_id} at version "
                f"{version}: the share was re-created"
            )
        self.table_id = table_id or self.table_id
        columns = columns_of(meta["schemaString"])
        if self.report_schema_changes and self.schema is not None:
            change = diff_columns(version, self.schema, columns)
            if change:
                self.schema_changes.append(change)
        self.schema = columns

    def committed_at(self) -> datetime | None:
        if self.committed_at_ms is None:
            return None
        return datetime.fromtimestamp(self.committed_at_ms / 1000, tz=UTC)


def _parse(uri: str, version: int, data: bytes | None) -> list[dict[str, Any]]:
    name = f"{version:020d}.json"
    if data is None:
        raise CorruptCommit(
            f"commit {version} of {uri}: commit file {name} vanished between listing and "
            "reading; the share is being changed or deleted, will retry"
        )
    actions: list[dict[str, Any]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            # One line, no payload: the bytes may be anything, even a secret.
            detail = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8"
            raise CorruptCommit(
                f"commit {version} of {uri}: commit file {name} is not valid JSON "
                f"(line {number}: {detail})"
            ) from None
        if not isinstance(action, dict):
            raise CorruptCommit(
                f"commit {version} of {uri}: commit file {name} is not a Delta commit "
                f"(line {number} is not a JSON object)"
            )
        actions.append(action)
    return actions


def _contiguous(commits: Sequence[_Commit], first: int, uri: str) -> None:
    """Raise LogGap unless versions run first, first+1, ... without a hole."""
    expected = first
    for c in commits:
        if c.version != expected:
            missing = tuple(range(expected, c.version))
            shown = f"{missing[0]}" if len(missing) == 1 else f"{missing[0]}-{missing[-1]}"
            raise LogGap(
                f"commit log of {uri} has a gap: version {shown} missing before {c.version}; "
                "not reading past it (a department's log must be contiguous)",
                after=expected - 1 if expected > 0 else None,
                missing=missing,
            )
        expected += 1


def _read_commits(store: _LogStore, commits: Sequence[_Commit], replay: _Replay) -> bytes | None:
    """Replay commits in order; returns the newest commit's bytes (for its fingerprint)."""
    datas = _map(store, lambda c: store.read(c.name), commits)
    for commit, data in zip(commits, datas, strict=True):
        actions = _parse(store.uri, commit.version, data)
        try:
            replay.apply(commit.version, actions)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            # Valid JSON of the wrong shape (an add without a path, a bad schemaString):
            # a typed fault naming the file, not a Python traceback from the replay.
            detail = str(e).splitlines()[0] if str(e).strip() else ""
            raise CorruptCommit(
                f"commit {commit.version} of {store.uri}: commit file {commit.name} has a "
                f"malformed action ({type(e).__name__} {detail})".replace(" )", ")")
            ) from None
    return datas[-1] if datas else None


def _verify_files(
    store: _LogStore, live: Mapping[str, tuple[int, str | None]], after: int | None
) -> int:
    """HEAD every added data file; the earliest missing one is a MissingDataFile fault."""
    paths = sorted(live, key=lambda p: (live[p][0], p))
    exists = _map(store, store.data_file_exists, paths)
    for path, ok in zip(paths, exists, strict=True):
        if not ok:
            version = live[path][0]
            kept = "no version read yet" if after is None else f"cursor stays at {after}"
            raise MissingDataFile(
                f"commit {version} of {store.uri} adds data file {unquote(path)}, which is not "
                f"in storage: version {version} cannot be read ({kept})",
                version=version,
                path=unquote(path),
            )
    return len(paths)


# ----------------------------------------------------------------------------- checkpoint


def _read_last_checkpoint(store: _LogStore) -> dict[str, Any] | None:
    data = store.read("_last_checkpoint")
    if data is None:
        return None
    try:
        info = json.loads(data)
        int(info["version"])
        return info
    except (ValueError, KeyError, TypeError):
        return None  # unreadable hint: fall back to replaying the commits


def _load_checkpoint(store: _LogStore, info: Mapping[str, Any], replay: _Replay) -> bool:
    """Load a classic (single or multi-part) parquet checkpoint; False if not readable."""
    version = int(info["version"])
    parts = info.get("parts")
    if parts:
        names = [
            f"{version:020d}.checkpoint.{i:010d}.{int(parts):010d}.parquet"
            for i in range(1, int(parts) + 1)
        ]
    else:
        names = [f"{version:020d}.checkpoint.parquet"]
    datas = _map(store, store.read, names)
    if any(d is None for d in datas):
        return False
    for data in datas:
        try:
            table = pq.read_table(
                io.BytesIO(data or b""),
                columns=["add.path", "add.partitionValues", "metaData.id", "metaData.schemaString"],
            )
        except (pa.ArrowException, OSError, KeyError):
            return False
        paths, values, ids, schemas = (table.column(i).to_pylist() for i in range(4))
        for path, pv, table_id, schema in zip(paths, values, ids, schemas, strict=True):
            if path is not None:
                replay.apply(version, [{"add": {"path": path, "partitionValues": dict(pv or [])}}])
            elif schema is not None:
                replay.apply(version, [{"metaData": {"id": table_id, "schemaString": schema}}])
    return True


# ----------------------------------------------------------------------------- reads


def read_changes(
    uri: str,
    cursor: ShareCursor | int | None = None,
    storage: S3Settings | Mapping[str, str] | None = None,
    *,
    max_commits: int = DEFAULT_MAX_COMMITS,
    check_files: bool = True,
    partition_column: str = PARTITION_COLUMN,
) -> ShareChanges:
    """What changed in the share at `uri` after `cursor` (None: read the full state).

    `storage` is `S3Settings` or deltalake storage options (S3 only). An int cursor is a
    bare version: changes are reported, but schema changes only against a schema seen in
    this read. Raises a `ShareUnavailable` subclass on any fault; never skips a commit.
    """
    store = open_log(uri, storage)
    if isinstance(cursor, int):
        cursor = ShareCursor(version=cursor)
    if cursor is None:
        return _full_read(store, partition_column, check_files, previous=None, reason=None)
    try:
        return _incremental_read(store, cursor, partition_column, check_files, max_commits)
    except _Reset as reset:
        return _full_read(store, partition_column, check_files, cursor, reset.reason)


def _incremental_read(
    store: _LogStore, cursor: ShareCursor, column: str, check_files: bool, max_commits: int
) -> ShareChanges:
    n = cursor.version
    listed = store.commits(from_version=n, limit=max_commits + 2)
    checkpoint = None
    if not listed or listed[0].version > n + 1:
        info = _read_last_checkpoint(store)
        checkpoint = None if info is None else int(info["version"])
    if not listed:
        if checkpoint == n:  # commit n was cleaned up, but its checkpoint is the latest state
            return ShareChanges(store.uri, n, n, frozenset(), [], 0, cursor)
        raise _Reset(
            f"version {n} (the cursor) and every later version are gone: the share was "
            "re-created or rolled back"
        )
    if listed[0].version > n + 1 and checkpoint is not None and checkpoint >= listed[0].version - 1:
        # The department's log retention removed the commits we missed; the checkpoint
        # still has the state, so re-read it in full rather than stall on a "gap".
        raise _Reset(
            f"commits {n + 1}-{listed[0].version - 1} were removed by the department's log "
            "retention before they were read"
        )
    new = listed
    if listed[0].version == n:
        new = listed[1:]
        fingerprint = store.fingerprint(listed[0])
        if cursor.fingerprint and fingerprint and fingerprint != cursor.fingerprint:
            raise _Reset(f"commit {n} was rewritten: the share was deleted and re-created")
        if not cursor.fingerprint:  # a bare-version cursor learns its commit's identity
            cursor = replace(cursor, fingerprint=fingerprint)
    # listed[0] == n + 1 without commit n: old commits were cleaned up; nothing is lost.
    _contiguous(new, n + 1, store.uri)
    more = len(new) > max_commits
    new = new[:max_commits]
    if not new:
        return ShareChanges(store.uri, n, n, frozenset(), [], 0, cursor)

    replay = _Replay(store.uri, column, schema=cursor.schema or None, table_id=cursor.table_id)
    newest = _read_commits(store, new, replay)
    checked = _verify_files(store, replay.live, n) if check_files else 0
    version = new[-1].version
    next_cursor = ShareCursor(
        version=version,
        table_id=replay.table_id,
        fingerprint=store.fingerprint(new[-1], newest),
        schema=replay.schema or {},
    )
    return ShareChanges(
        uri=store.uri,
        after=n,
        version=version,
        months=frozenset(replay.touched),
        schema_changes=replay.schema_changes,
        commits_read=len(new),
        cursor=next_cursor,
        more=more,
        committed_at=replay.committed_at(),
        files_checked=checked,
    )


def _full_read(
    store: _LogStore,
    column: str,
    check_files: bool,
    previous: ShareCursor | None,
    reason: str | None,
) -> ShareChanges:
    replay = _Replay(store.uri, column, report_schema_changes=False)
    start = 0
    info = _read_last_checkpoint(store)
    if info is not None and _load_checkpoint(store, info, replay):
        start = int(info["version"]) + 1
    else:
        replay = _Replay(store.uri, column, report_schema_changes=False)

    # From the checkpoint's own commit (if still there) so the cursor gets its fingerprint.
    listed = store.commits(from_version=max(start - 1, 0), limit=None)
    base = [c for c in listed if c.version == start - 1]
    commits = [c for c in listed if c.version >= start]
    if start == 0 and not commits:
        raise ShareNotFound(
            f"no Delta table at {store.uri}: no commit files in _delta_log: the table was "
            "deleted or never created"
        )
    if start == 0 and commits[0].version != 0:
        raise LogGap(
            f"commit log of {store.uri} starts at version {commits[0].version} and has no "
            "readable checkpoint: the table state cannot be rebuilt",
            after=None,
            missing=tuple(range(commits[0].version)),
        )
    _contiguous(commits, start, store.uri)
    newest = _read_commits(store, commits, replay)
    # HEAD only what the replayed commits added: HEADing every file of the checkpoint
    # would make a first read O(table files). A missing file among those is still caught,
    # and named, when the feed asset reads its month (shares.pinned).
    added = {p: vm for p, vm in replay.live.items() if vm[0] >= start}
    checked = _verify_files(store, added, None) if check_files else 0

    last = commits[-1] if commits else (base[0] if base else None)
    version = last.version if last else start - 1
    fingerprint = store.fingerprint(last, newest if commits else None) if last else None
    schema = replay.schema or {}
    changes: list[SchemaChange] = []
    if previous is not None and previous.schema:
        change = diff_columns(version, previous.schema, schema)
        changes = [change] if change else []
    if reason is not None and previous is not None:
        reason = (
            f"{reason} (cursor was version {previous.version}, the share is now at version "
            f"{version}); re-read in full"
        )
    return ShareChanges(
        uri=store.uri,
        after=None if previous is None else previous.version,
        version=version,
        months=frozenset(m for _, m in replay.live.values() if m is not None),
        schema_changes=changes,
        commits_read=len(commits),
        cursor=ShareCursor(version, replay.table_id, fingerprint, schema),
        full=True,
        reset_reason=reason,
        committed_at=replay.committed_at(),
        files_checked=checked,
    )
