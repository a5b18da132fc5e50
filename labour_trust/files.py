"""Small file helpers (a plain module: no Dagster): atomic replacement, locks, fingerprints.

Every file the trust rewrites in place is written with ``atomic_write``, so that a reader
(or a failed run) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (across processes on this host)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise writers of `path` (across processes) with a lock file beside it."""
    with exclusive_lock(path.with_name(f".{path.name}.lock")):
        yield


def atomic_write(path: Path, text: str | bytes, mode: int | None = None) -> None:
    """Replace a file in one step, so readers see the old or the new file, never half
    (`text`: str, written as UTF-8, or bytes).

    `mode` defaults to the existing file's mode; the temporary file is created with it, so a
    secret file is never readable by others, not even for a moment.
    """
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # os.open's mode is filtered by the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_fingerprint(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is edited or replaced (None if it does not exist)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
