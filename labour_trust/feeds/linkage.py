"""Pseudonymised linkage: person tokens are HMAC-SHA256 of a normalised NINO.

The key is a secret. It comes from ``LABOUR_TRUST_LINKAGE_KEY`` or from a file named by
``LABOUR_TRUST_LINKAGE_KEY_FILE``; the embedded demo generates a key file (0600) under
``LABOUR_TRUST_HOME``. The key never appears in logs, metadata or outputs: only its
*version* does, a short HMAC fingerprint that changes when the key is rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KEY_ENV = "LABOUR_TRUST_LINKAGE_KEY"
KEY_FILE_ENV = "LABOUR_TRUST_LINKAGE_KEY_FILE"
TOKEN_PATTERN = r"^[0-9a-f]{64}$"
KEY_VERSION_PATTERN = r"^[0-9a-f]{8}$"
# AB123456C: two prefix letters, six digits, suffix A-D. Matched anywhere in a string,
# with optional spaces, because a raw NINO must never reach a share in any column. Any
# two letters count (not only allocated prefixes): dummy and temporary numbers leak too.
NINO_PATTERN = r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]"


class LinkageKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class LinkageKey:
    secret: bytes = field(repr=False)

    @property
    def version(self) -> str:
        """Fingerprint that identifies the key without revealing it."""
        return hmac.new(self.secret, b"labour-trust/key-version", hashlib.sha256).hexdigest()[:8]

    def token(self, identifier: str) -> str:
        return hmac.digest(self.secret, identifier.encode(), "sha256").hex()

    def person_token(self, nino: str) -> str:
        return self.token(normalise_nino(nino))

    def tokens(self, identifiers: Iterable[str]) -> list[str]:
        secret = self.secret
        return [hmac.digest(secret, i.encode(), "sha256").hex() for i in identifiers]


def normalise_nino(nino: str) -> str:
    """Upper case, no whitespace: 'ab 12 34 56 c' → 'AB123456C'."""
    return re.sub(r"\s+", "", nino).upper()


def load_linkage_key(home: Path | None = None, *, create: bool = False) -> LinkageKey:
    """The linkage key from the environment, a key file, or (demo only) a generated file."""
    if value := os.environ.get(KEY_ENV):
        return LinkageKey(value.encode())
    if path := os.environ.get(KEY_FILE_ENV):
        return _read_key_file(Path(path))
    if home is not None:
        path = Path(home) / "linkage.key"
        if path.exists():
            return _read_key_file(path)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            return _read_key_file(path)
    raise LinkageKeyError(
        f"No linkage key: set {KEY_ENV}, or {KEY_FILE_ENV} to a key file"
        + (f", or create {Path(home) / 'linkage.key'}" if home else "")
    )


def _read_key_file(path: Path) -> LinkageKey:
    try:
        secret = path.read_text().strip().encode()
    except OSError as e:
        raise LinkageKeyError(f"Cannot read linkage key file {path}: {e.strerror}") from None
    if len(secret) < 16:
        raise LinkageKeyError(f"Linkage key file {path} holds fewer than 16 characters")
    return LinkageKey(secret)
