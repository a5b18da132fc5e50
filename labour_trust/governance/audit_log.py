"""Append-only, hash-chained audit log (JSON lines).

Each entry holds `seq`, `timestamp`, `event`, `actor`, `details`, `prev_hash` and `hash`,
where `hash` is the SHA-256 of the canonical JSON of all the other fields. Since every
entry includes its predecessor's hash, editing, deleting, inserting or reordering any
entry breaks the chain at that point, and `verify` reports the first broken entry.

What a chain cannot show on its own is truncation of the newest entries (or a rewrite of
the whole tail): `verify` therefore returns the head hash, which can be recorded elsewhere
(a ticket, a publication note) and compared later.

Writers in several processes and threads append safely: each append takes an exclusive
`flock` on the log and reads the last entry's hash under that lock. On object storage
(`ObjectAuditLog`, a store on S3) each entry is its own object, `<seq>.json`, created only
if absent: two writers that read the same head race for the same name and one retries on
the new head, so appends from several machines never interleave or fork the chain.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labour_trust.shares.storage import is_s3
from labour_trust.store import Store, locate

GENESIS_HASH = "0" * 64
ENTRY_FIELDS = ("seq", "timestamp", "event", "actor", "details", "prev_hash", "hash")

# Keys that would carry a secret. Callers log a token's fingerprint instead
# (labour_trust.governance.tokens.token_fingerprint), e.g. under `token_sha256_prefix`.
_SECRET_KEY = re.compile(
    r"(^|_)(token|bearer|bearer_token|secret|password|authorization|api_key)$", re.I
)


class AuditLogError(RuntimeError):
    """The log cannot be appended to (for example its last entry is torn)."""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int  # entries verified intact (all of them when ok)
    first_broken_seq: int | None  # the seq at which the chain first fails, if it does
    reason: str | None
    head_hash: str  # hash of the last intact entry (GENESIS_HASH for an empty log)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of every field except `hash` itself."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "labour-trust"


class AuditLog:
    def __init__(self, path: Path, *, actor: str | None = None, fsync: bool = True) -> None:
        self.path = Path(path)
        self.actor = actor or default_actor()
        self.fsync = fsync

    def append(self, event: str, *, actor: str | None = None, **details: Any) -> dict[str, Any]:
        """Append one entry and return it. Raises ValueError if `details` carry a secret."""
        _reject_secrets(details)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                entry = _next_entry(
                    _last_entry(handle, self.path), event, actor or self.actor, details
                )
                # One write call of one line: with O_APPEND and the lock, lines never mix.
                handle.write(_line(entry).encode("utf-8"))
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry as written (no verification; use `verify` for that)."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def verify(self) -> VerifyResult:
        return verify(self.path)


class ObjectAuditLog:
    """The same chain with one object per entry under a store prefix (see module doc)."""

    def __init__(self, store: Store, *parts: str, actor: str | None = None) -> None:
        self.store, self.parts = store, parts
        self.actor = actor or default_actor()

    @property
    def path(self) -> str:
        return self.store.uri(*self.parts)

    def append(self, event: str, *, actor: str | None = None, **details: Any) -> dict[str, Any]:
        _reject_secrets(details)
        while True:
            entry = _next_entry(self._head(), event, actor or self.actor, details)
            if self.store.create_text(*self.parts, _entry_name(entry["seq"]), text=_line(entry)):
                return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        for name in self.store.names(*self.parts):
            if (text := self.store.read_text(*self.parts, name)) is not None:
                yield json.loads(text)

    def verify(self) -> VerifyResult:
        previous_hash, verified = GENESIS_HASH, 0
        for expected_seq, name in enumerate(self.store.names(*self.parts), start=1):
            raw = (self.store.read_text(*self.parts, name) or "").encode("utf-8")
            problem = _check_line(raw, expected_seq, previous_hash)
            if problem is None and name != _entry_name(expected_seq):
                problem = f"entry {expected_seq} is stored as {name}"
            if problem is not None:
                return VerifyResult(False, verified, expected_seq, problem, previous_hash)
            previous_hash = json.loads(raw)["hash"]
            verified += 1
        return VerifyResult(True, verified, None, None, previous_hash)

    def _head(self) -> dict[str, Any] | None:
        names = self.store.names(*self.parts)
        if not names:
            return None
        text = self.store.read_text(*self.parts, names[-1]) or ""
        try:
            entry = json.loads(text)
            return {"seq": int(entry["seq"]), "hash": str(entry["hash"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditLogError(f"{self.path}: the last entry is unreadable") from exc


def audit_location(store_root: str) -> str:
    """The trust's log in its store: `audit.log` in a folder, entries under `audit/` on S3."""
    return f"{store_root.rstrip('/')}/{'audit' if is_s3(store_root) else 'audit.log'}"


def open_audit_log(location: str, *, actor: str | None = None) -> AuditLog | ObjectAuditLog:
    """The log at `location`: a JSON-lines file on a disk, or an s3:// prefix of entries."""
    if is_s3(location):
        return ObjectAuditLog(*locate(location), actor=actor)
    return AuditLog(Path(location), actor=actor)


def _next_entry(
    previous: Mapping[str, Any] | None, event: str, actor: str, details: Mapping[str, Any]
) -> dict[str, Any]:
    """The entry after `previous` (its seq and hash; None for the first), hashed."""
    entry: dict[str, Any] = {
        "seq": previous["seq"] + 1 if previous else 1,
        "timestamp": datetime.now(UTC).isoformat(timespec="microseconds"),
        "event": event,
        "actor": actor,
        "details": _jsonable(details),
        "prev_hash": previous["hash"] if previous else GENESIS_HASH,
    }
    entry["hash"] = entry_hash(entry)
    return entry


def _entry_name(seq: int) -> str:
    return f"{seq:012d}.json"  # zero-padded: names sort in chain order


def _line(entry: Mapping[str, Any]) -> str:
    return canonical_json(entry) + "\n"


def append(path: Path, event: str, *, actor: str | None = None, **details: Any) -> dict[str, Any]:
    return AuditLog(path).append(event, actor=actor, **details)


def verify(path: Path) -> VerifyResult:
    """Check the whole chain; a missing or empty log is a valid, empty chain."""
    path = Path(path)
    previous_hash = GENESIS_HASH
    verified = 0
    if not path.exists():
        return VerifyResult(True, 0, None, None, GENESIS_HASH)
    with open(path, "rb") as handle:
        for expected_seq, raw in enumerate(handle, start=1):
            problem = _check_line(raw, expected_seq, previous_hash)
            if problem is not None:
                return VerifyResult(False, verified, expected_seq, problem, previous_hash)
            previous_hash = json.loads(raw)["hash"]
            verified += 1
    return VerifyResult(True, verified, None, None, previous_hash)


def _check_line(raw: bytes, expected_seq: int, previous_hash: str) -> str | None:
    """Why this line breaks the chain, or None if it continues it."""
    if not raw.endswith(b"\n"):
        return f"entry {expected_seq} is incomplete (no line end: torn write or truncation)"
    try:
        entry = json.loads(raw)
    except ValueError:
        return f"entry {expected_seq} is not valid JSON"
    if not isinstance(entry, dict) or set(entry) != set(ENTRY_FIELDS):
        return f"entry {expected_seq} does not have exactly the fields {', '.join(ENTRY_FIELDS)}"
    if entry["seq"] != expected_seq:
        return (
            f"expected seq {expected_seq}, found {entry['seq']!r} "
            "(an entry was deleted, inserted or reordered)"
        )
    if entry["prev_hash"] != previous_hash:
        return (
            f"entry {expected_seq}: prev_hash does not match the hash of entry "
            f"{expected_seq - 1} (the chain was cut or an earlier entry rewritten)"
        )
    if entry["hash"] != entry_hash(entry):
        return f"entry {expected_seq}: hash does not match its content (the entry was edited)"
    return None


def _last_entry(handle: Any, path: Path) -> dict[str, Any] | None:
    """The last entry of an open log, found by reading backwards from the end."""
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    if end == 0:
        return None
    position, tail = end, b""
    while position > 0 and tail.count(b"\n") < 2:
        step = min(4096, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
    if not tail.endswith(b"\n"):
        raise AuditLogError(f"{path}: the last entry is incomplete; run `audit verify`")
    last_line = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        entry = json.loads(last_line)
        return {"seq": int(entry["seq"]), "hash": str(entry["hash"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditLogError(f"{path}: the last entry is unreadable; run `audit verify`") from exc


def _reject_secrets(details: Mapping[str, Any], where: str = "details") -> None:
    for key, value in details.items():
        if _SECRET_KEY.search(str(key)):
            raise ValueError(
                f"audit {where} key {key!r} looks like a secret; log a fingerprint "
                "(e.g. token_sha256_prefix) instead"
            )
        if isinstance(value, str) and value.lower().startswith("bearer "):
            raise ValueError(f"audit {where}.{key} holds a bearer credential")
        if isinstance(value, Mapping):
            _reject_secrets(value, f"{where}.{key}")


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so the stored (and hashed) form is exactly what is written."""
    return json.loads(json.dumps(value, default=str))
