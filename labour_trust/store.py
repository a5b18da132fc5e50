"""The trust's state store: small objects in a folder or under an S3 prefix.

Everything the trust keeps between runs (feed pointers, release records, the agreement
register, the disclosure policy, exports, the audit log's entries) is an object here, so
that a run pod needs no shared volume: `LABOUR_TRUST_STORE=s3://bucket/prefix` on a
cluster, the home folder on one machine (see `labour_trust.settings.store_root`).

Two primitives make it safe for writers on several machines:

- `write_text` replaces an object whole (one S3 PUT; `atomic_write` on a disk), so a
  reader sees the old object or the new one;
- `create_text` writes only if the object does not exist (S3 `If-None-Match: *`; a hard
  link on a disk), the building block of the audit chain's appends and of `lock`.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from labour_trust.files import atomic_write, exclusive_lock, file_fingerprint
from labour_trust.shares.storage import S3Settings, is_s3

DEFAULT_LEASE_SECONDS = 15 * 60.0  # longer than any publication; a crashed holder expires
DEFAULT_WAIT_SECONDS = 30 * 60.0


class StoreLockTimeout(TimeoutError):
    """A lock stayed held (and unexpired) for longer than the caller would wait."""


@dataclass(frozen=True)
class Store:
    """A folder or an ``s3://bucket/prefix``; object names are '/'-joined parts."""

    root: str

    @property
    def on_s3(self) -> bool:
        return is_s3(self.root)

    def uri(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def read_bytes(self, *parts: str) -> bytes | None:
        """The object's content, or None if it does not exist."""
        if not self.on_s3:
            path = Path(self.uri(*parts))
            return path.read_bytes() if path.is_file() else None
        client, bucket, key = self._s3(*parts)
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    def read_text(self, *parts: str) -> str | None:
        content = self.read_bytes(*parts)
        return None if content is None else content.decode("utf-8")

    def write_bytes(self, *parts: str, content: bytes) -> None:
        """Create or replace the object whole."""
        if not self.on_s3:
            path = Path(self.uri(*parts))
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, content)
            return
        client, bucket, key = self._s3(*parts)
        client.put_object(Bucket=bucket, Key=key, Body=content)

    def write_text(self, *parts: str, text: str) -> None:
        self.write_bytes(*parts, content=text.encode("utf-8"))

    def fingerprint(self, *parts: str) -> str | None:
        """What changes when the object is replaced (None if it does not exist): a cheap
        way to notice an edit without reading the object (stat on a disk, HEAD's ETag)."""
        if not self.on_s3:
            found = file_fingerprint(Path(self.uri(*parts)))
            return None if found is None else ":".join(map(str, found))
        client, bucket, key = self._s3(*parts)
        try:
            return client.head_object(Bucket=bucket, Key=key)["ETag"]
        except ClientError as exc:
            if _error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def create_text(self, *parts: str, text: str) -> bool:
        """Create the object only if it does not exist; False (nothing written) if it does."""
        if not self.on_s3:
            return _create_file(Path(self.uri(*parts)), text)
        client, bucket, key = self._s3(*parts)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), IfNoneMatch="*")
        except ClientError as exc:
            if _error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                return False
            raise
        return True

    def delete(self, *parts: str) -> None:
        if not self.on_s3:
            Path(self.uri(*parts)).unlink(missing_ok=True)
            return
        client, bucket, key = self._s3(*parts)
        client.delete_object(Bucket=bucket, Key=key)

    def names(self, *parts: str) -> list[str]:
        """Names of the objects directly under a folder, sorted (no sub-folders)."""
        return self._children(parts, folders=False)

    def folders(self, *parts: str) -> list[str]:
        """Names of the folders (S3: common prefixes) directly under a folder, sorted."""
        return self._children(parts, folders=True)

    def _children(self, parts: tuple[str, ...], *, folders: bool) -> list[str]:
        if not self.on_s3:
            folder = Path(self.uri(*parts))
            if not folder.is_dir():
                return []
            return sorted(
                p.name for p in folder.iterdir() if p.is_dir() == folders and _visible(p.name)
            )
        client, bucket, prefix = self._s3(*parts)
        found: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/" if prefix else "", Delimiter="/"
        ):
            keys = (
                [p["Prefix"] for p in page.get("CommonPrefixes", [])]
                if folders
                else [o["Key"] for o in page.get("Contents", [])]
            )
            found += [key.rstrip("/").rsplit("/", 1)[-1] for key in keys]
        return sorted(found)

    @contextmanager
    def lock(
        self,
        name: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> Iterator[None]:
        """Hold the lock `name` across processes and machines.

        On a disk: `flock` (released by the kernel if the holder dies). On S3: a lease
        object created only if absent; a holder that died leaves a lease that expires
        after `lease_seconds`, and the next writer takes it over with a conditional
        write on the expired lease's ETag, so two writers cannot both take it over.
        """
        if not self.on_s3:
            with exclusive_lock(Path(self.uri("locks", f"{name}.lock"))):
                yield
            return
        etag = self._acquire_lease(name, lease_seconds, wait_seconds)
        try:
            yield
        finally:
            client, bucket, key = self._s3("locks", name)
            try:  # only our own lease: a taken-over one belongs to someone else now
                client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
            except ClientError as exc:
                if _error_code(exc) not in {"PreconditionFailed", "NoSuchKey", "404"}:
                    raise

    def _acquire_lease(self, name: str, lease_seconds: float, wait_seconds: float) -> str:
        client, bucket, key = self._s3("locks", name)
        started, delay = time.monotonic(), 0.2
        while True:
            lease = json.dumps(
                {
                    "holder": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                    "expires": time.time() + lease_seconds,
                }
            ).encode()
            condition = {"IfNoneMatch": "*"}
            try:
                current = client.get_object(Bucket=bucket, Key=key)
            except client.exceptions.NoSuchKey:
                current = None
            if current is not None:
                held = json.loads(current["Body"].read())
                if held.get("expires", 0) > time.time():
                    if time.monotonic() - started > wait_seconds:
                        raise StoreLockTimeout(
                            f"lock {self.uri('locks', name)} held by {held.get('holder')} "
                            f"for longer than {wait_seconds:.0f} s"
                        )
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                condition = {"IfMatch": current["ETag"]}  # take over the expired lease
            try:
                return client.put_object(Bucket=bucket, Key=key, Body=lease, **condition)["ETag"]
            except ClientError as exc:
                if _error_code(exc) not in {"PreconditionFailed", "ConditionalRequestConflict"}:
                    raise  # someone else got it first: look again

    def _s3(self, *parts: str) -> tuple[Any, str, str]:
        from labour_trust.shares.s3 import client_for, split_s3_uri

        bucket, key = split_s3_uri(self.uri(*parts))
        return client_for(S3Settings.from_env()), bucket, key


class StoredObject:
    """Mixin for a class kept as one object of a store (`self.store`, `self.name`)."""

    store: Store
    name: str

    @property
    def uri(self) -> str:
        """Where the object is: a file path, or an s3:// URI."""
        return self.store.uri(self.name)

    @property
    def path(self) -> Path | str:
        """The file (a Path) on a disk; its s3:// URI on S3."""
        return self.uri if self.store.on_s3 else Path(self.uri)


def locate(location: Path | str) -> tuple[Store, str]:
    """A file path or an ``s3://`` URI as the store holding it and the object's name."""
    if is_s3(str(location)):
        root, _, name = str(location).rstrip("/").rpartition("/")
        return Store(root), name
    path = Path(location)
    return Store(str(path.parent)), path.name


def _create_file(path: Path, text: str) -> bool:
    """Write a complete temporary file, then hard-link it into place: the link fails if
    the name exists, so the object appears whole and only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    atomic_write(tmp, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
