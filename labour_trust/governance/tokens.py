"""Bearer tokens for data-sharing agreements, stored only as SHA-256 hashes.

A token is shown once, when issued (it goes into the consumer's profile file); the trust
keeps its hash in `sharing_tokens.json` (mode 0600) next to the register. Hashing suffices
(no salt or slow KDF) because tokens are 256-bit random values, not passwords. One live
token per agreement: issuing a new one replaces the old (rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from labour_trust.files import atomic_write, file_fingerprint, file_lock

# A recognisable prefix lets secret scanners (and people) spot a leaked token.
TOKEN_PREFIX = "ltds_"
TOKEN_FILE_MODE = 0o600


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_fingerprint(token: str) -> str:
    """A short, non-reversible label for logs: the first 12 hex digits of the hash."""
    return token_hash(token)[:12]


@dataclass(frozen=True)
class StoredToken:
    agreement_id: str
    sha256: str
    issued_at: str


class TokenStore:
    """The token-hash file, reloaded when it changes (tokens issued by the CLI work at once)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fingerprint: tuple[int, int, int] | None = None
        self._tokens: tuple[StoredToken, ...] = ()

    def issue(self, agreement_id: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        entry = StoredToken(agreement_id, token_hash(token), datetime.now(UTC).isoformat())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path):
            kept = [t for t in self._read() if t.agreement_id != agreement_id]
            self._write([*kept, entry])
        return token

    def remove(self, agreement_id: str) -> bool:
        """Forget an agreement's token; True if there was one."""
        if not self.path.exists():
            return False
        with file_lock(self.path):
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
            fingerprint = file_fingerprint(self.path)
            if fingerprint != self._fingerprint:
                self._tokens = tuple(self._read()) if fingerprint else ()
                self._fingerprint = fingerprint
            return self._tokens

    def _read(self) -> list[StoredToken]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [StoredToken(**item) for item in data.get("tokens", [])]

    def _write(self, tokens: list[StoredToken]) -> None:
        payload = {"version": 1, "tokens": [t.__dict__ for t in tokens]}
        atomic_write(self.path, json.dumps(payload, indent=2) + "\n", mode=TOKEN_FILE_MODE)
