"""Bearer tokens for data-sharing agreements, stored only as SHA-256 hashes.

A token is shown once, when issued (it goes into the consumer's profile file); the trust
keeps its hash in `sharing_tokens.json` next to the register, an object of the trust's
store (`labour_trust.store.Store`): a file of mode 0600 in a folder, or an S3 object that
every sharing-server replica reads. Hashing suffices (no salt or slow KDF) because tokens
are 256-bit random values, not passwords. One live token per agreement: issuing a new one
replaces the old (rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from labour_trust.files import atomic_write, file_lock
from labour_trust.store import Store, StoredObject, locate

# A recognisable prefix lets secret scanners (and people) spot a leaked token.
TOKEN_PREFIX = "ltds_"
TOKEN_FILE_MODE = 0o600
TOKENS_FILENAME = "sharing_tokens.json"
# On S3 a writer holds a lease object; writes take well under a second, so a writer that
# died frees the lease after a minute rather than the store's default quarter of an hour.
LEASE_SECONDS = 60.0
WAIT_SECONDS = 120.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_fingerprint(token: str) -> str:
    """A short, non-reversible label for logs: the first 12 hex digits of the hash."""
    return token_hash(token)[:12]


def store_and_name(
    location: Path | str | None, store: Store | None, name: str, what: str
) -> tuple[Store, str]:
    """Where an object lives: an explicit store and name, else a path or ``s3://`` URI."""
    if store is not None:
        return store, name
    if location is None:
        raise TypeError(f"{what} needs a path or a store")
    return locate(location)


@contextmanager
def writer_lock(store: Store, name: str) -> Iterator[None]:
    """Serialise the writers of one object: a lock file beside it on a disk (as always), a
    lease object (`STORE/locks/<name>`) on S3, where writers are on other machines."""
    if store.on_s3:
        with store.lock(name, lease_seconds=LEASE_SECONDS, wait_seconds=WAIT_SECONDS):
            yield
    else:
        with file_lock(Path(store.uri(name))):
            yield


@dataclass(frozen=True)
class StoredToken:
    agreement_id: str
    sha256: str
    issued_at: str


class TokenStore(StoredObject):
    """The token hashes (one object of a store), reloaded when the object changes: tokens
    issued by the CLI, here or on another machine, work at once.

    `TokenStore(path)` for a file (or an s3:// URI), `TokenStore(store=..., name=...)`.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        store: Store | None = None,
        name: str = TOKENS_FILENAME,
    ) -> None:
        self.store, self.name = store_and_name(path, store, name, "TokenStore")
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._tokens: tuple[StoredToken, ...] = ()

    def issue(self, agreement_id: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        entry = StoredToken(agreement_id, token_hash(token), datetime.now(UTC).isoformat())
        if not self.store.on_s3:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        with writer_lock(self.store, self.name):
            kept = [t for t in self._read() if t.agreement_id != agreement_id]
            self._write([*kept, entry])
        return token

    def remove(self, agreement_id: str) -> bool:
        """Forget an agreement's token; True if there was one."""
        if self.store.fingerprint(self.name) is None:
            return False
        with writer_lock(self.store, self.name):
            tokens = self._read()
            kept = [t for t in tokens if t.agreement_id != agreement_id]
            self._write(kept)
        return len(kept) != len(tokens)

    def agreement_for(self, token: str) -> str | None:
        """The agreement id whose token this is, or None.

        Compares against every stored hash with hmac.compare_digest and does not stop at a
        match, so the time taken says nothing about which (or whether a) hash matched.
        """
        presented = token_hash(token)
        found: str | None = None
        for stored in self.current():
            if hmac.compare_digest(presented, stored.sha256):
                found = stored.agreement_id
        return found

    def current(self) -> tuple[StoredToken, ...]:
        with self._lock:
            # The fingerprint is taken before the read: a replacement in between is read
            # now and read again on the next call, never missed.
            fingerprint = self.store.fingerprint(self.name)
            if fingerprint != self._fingerprint:
                self._tokens = tuple(self._read()) if fingerprint else ()
                self._fingerprint = fingerprint
            return self._tokens

    def _read(self) -> list[StoredToken]:
        text = self.store.read_text(self.name)
        if text is None:
            return []
        data = json.loads(text)
        return [StoredToken(**item) for item in data.get("tokens", [])]

    def _write(self, tokens: list[StoredToken]) -> None:
        payload = {"version": 1, "tokens": [t.__dict__ for t in tokens]}
        text = json.dumps(payload, indent=2) + "\n"
        if self.store.on_s3:
            self.store.write_text(self.name, text=text)
        else:  # a private file, from its first byte (Store.write_text keeps a file's mode)
            atomic_write(Path(self.uri), text, mode=TOKEN_FILE_MODE)
