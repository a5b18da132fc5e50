"""A local S3 (moto's standalone server) for tests, benchmarks and `labour-trust up --s3`.

Always a separate `moto_server` process: with moto's in-process ThreadedMotoServer,
deltalake calls deadlock (measured), because deltalake's Rust I/O and the Python server
thread end up waiting on each other. Nothing global is set: the caller gets an endpoint
and `S3Settings` with dummy credentials and passes them on explicitly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from labour_trust.shares.storage import S3Settings

DUMMY_KEY = "testing"  # moto accepts any credentials; these are not secrets
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (the server start retries if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def moto_command(host: str, port: int) -> list[str]:
    """`moto_server` next to this interpreter (the venv), else on PATH, else `-m moto.server`."""
    beside = Path(sys.executable).with_name("moto_server")
    exe = str(beside) if beside.exists() else shutil.which("moto_server")
    if exe:
        return [exe, "-H", host, "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]


def settings_for(endpoint: str, region: str = "eu-west-2") -> S3Settings:
    """S3Settings for a local endpoint: dummy credentials, plain HTTP allowed."""
    return S3Settings(
        endpoint_url=endpoint,
        region=region,
        access_key_id=DUMMY_KEY,
        secret_access_key=DUMMY_KEY,
        allow_http=endpoint.startswith("http://"),
    )


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


class MotoServer:
    """One `moto_server` subprocess on a free port. Use as a context manager or start/stop."""

    def __init__(
        self, host: str = HOST, port: int | None = None, startup_timeout: float = 30.0
    ) -> None:
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._failure = ""

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("moto server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def settings(self) -> S3Settings:
        return settings_for(self.endpoint)

    def start(self) -> MotoServer:
        fixed_port = self.port
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = fixed_port or free_port(self.host)
            if self._spawn():
                return self
            if fixed_port:
                break
        raise RuntimeError(f"moto_server did not start on {self.host}: {self._failure}")

    def _spawn(self) -> bool:
        self.stop()  # a previous failed attempt leaves nothing behind
        # Kept open for the life of the process (its log); closed in stop().
        self._log = tempfile.NamedTemporaryFile(prefix="moto_server-", suffix=".log")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_")}
        self.process = subprocess.Popen(
            moto_command(self.host, int(self.port or 0)),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C in a terminal is for the parent, not moto
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if _answers(self.endpoint):
                return True
            time.sleep(0.1)
        self._failure = self._log_tail() or "no answer"
        self.stop()
        return False

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        with open(self._log.name, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def stop(self) -> None:
        """Stop our process (by its own pid only) and wait for it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def reset(self) -> None:
        """Forget all buckets and objects (moto's reset API), keeping the process."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=5):
            pass

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def moto_server(host: str = HOST, port: int | None = None) -> Iterator[str]:
    """Run `moto_server` as a subprocess for the duration of the block; yields its endpoint."""
    with MotoServer(host, port) as server:
        yield server.endpoint


DEMO_BUCKET = "department-shares"


def start_demo_s3() -> tuple[MotoServer, dict[str, str]]:
    """Start moto_server and create the bucket; returns the server and the environment that
    points the trust (and its Dagster runs) at it. moto keeps data in memory: the demo is
    re-seeded at every start."""
    import importlib.util

    from labour_trust.defs.resources import SHARES_ENV
    from labour_trust.shares.s3 import client_for, ensure_bucket

    if importlib.util.find_spec("moto") is None:
        raise SystemExit('up --s3 needs the demo extra: pip install -e ".[demo]"')
    server = MotoServer().start()
    settings = server.settings
    ensure_bucket(client_for(settings), DEMO_BUCKET, settings.region)
    env = {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
        "AWS_REGION": settings.region,
        SHARES_ENV: f"s3://{DEMO_BUCKET}/shares",
    }
    return server, env
