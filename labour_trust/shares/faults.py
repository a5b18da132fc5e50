"""Why a share cannot be read right now: typed faults, each with a reason a person can act on.

Every fault is a `ShareUnavailable`. A sensor that meets one keeps its cursor and skips the
tick, so a fault can delay a change but never lose one: when the fault clears, the next
tick reads from the same cursor and reports the missed commits once.
"""

from __future__ import annotations


class ShareUnavailable(Exception):
    """The share cannot be read consistently now; `reason` says why, in plain words."""

    kind = "unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ShareUnreachable(ShareUnavailable):
    """The storage endpoint does not answer (connection refused, DNS, timeout)."""

    kind = "unreachable"


class ShareForbidden(ShareUnavailable):
    """The storage refuses us (HTTP 403, bad or missing credentials, a bucket policy)."""

    kind = "forbidden"


class ShareThrottled(ShareUnavailable):
    """The storage asks us to slow down (HTTP 503 SlowDown / 429), even after retries."""

    kind = "throttled"


class ShareNotFound(ShareUnavailable):
    """There is no Delta table (yet) at the share location, or its bucket is missing."""

    kind = "not_found"


class CorruptCommit(ShareUnavailable):
    """A commit file cannot be parsed, or vanished between listing and reading."""

    kind = "corrupt_commit"


class LogGap(ShareUnavailable):
    """Commit versions after the cursor are not contiguous: some commits are missing."""

    kind = "log_gap"

    def __init__(self, reason: str, after: int | None, missing: tuple[int, ...]) -> None:
        super().__init__(reason)
        self.after = after
        self.missing = missing


class MissingDataFile(ShareUnavailable):
    """A new commit adds a data file that is not in storage: the version cannot be read."""

    kind = "missing_file"

    def __init__(self, reason: str, version: int, path: str) -> None:
        super().__init__(reason)
        self.version = version
        self.path = path
