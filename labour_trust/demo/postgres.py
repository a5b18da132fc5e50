"""A throwaway PostgreSQL server for tests and `labour-trust bench --scale-out`.

initdb in a temporary folder of its own, on a free port of its own, stopped and deleted on
exit. PostgreSQL refuses to run as root, so under root (the CI) the server runs as the
unprivileged user `nobody`, which then owns the data folder. Durability is switched off
(fsync, synchronous commit): the data is thrown away anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from labour_trust.demo.s3 import HOST, free_port

PG_VERSION = "15"
UNPRIVILEGED_USER = "nobody"
DB_USER = "dagster"
DB_PASSWORD = "test-only-password"  # a throwaway server on 127.0.0.1


def pg_bindir() -> Path | None:
    """The folder of initdb, pg_ctl and postgres (Debian's versioned one first), if any."""
    candidates = [Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")]
    if found := shutil.which("pg_ctl"):
        candidates.append(Path(found).parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, or root without `runuser` to drop to a plain user."""


class PostgresServer:
    """One PostgreSQL server on a free port. Use as a context manager."""

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self.port = 0
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise PostgresUnavailable(f"PostgreSQL {PG_VERSION} binaries (initdb, pg_ctl) missing")
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse root
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root and `runuser` is missing")
            self.as_user = ["runuser", "-u", UNPRIVILEGED_USER, "--"]
        self.base: Path | None = None
        self.started = False

    def env(self, database: str) -> dict[str, str]:
        """The variables dagster.production.yaml reads, for ``database``."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USER": DB_USER,
            "DAGSTER_PG_PASSWORD": DB_PASSWORD,
        }

    def connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            dbname=database,
            user=DB_USER,
            password=DB_PASSWORD,
            connect_timeout=5,
        )

    def create_database(self, name: str) -> None:
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def _run(self, *argv: str, check: bool = True) -> None:
        assert self.base is not None
        try:
            subprocess.run(
                [*self.as_user, *argv], cwd=self.base, check=check, capture_output=True, timeout=60
            )
        except subprocess.CalledProcessError as failure:
            log = self.base / "postgres.log"
            raise RuntimeError(
                f"{failure.cmd} failed:\n{failure.stdout.decode()}\n{failure.stderr.decode()}\n"
                f"{log.read_text() if log.exists() else ''}"
            ) from failure

    def _pg_ctl(self, *argv: str, check: bool = True) -> None:
        assert self.bindir is not None and self.base is not None
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), *argv, check=check)

    def start(self) -> PostgresServer:
        self.base = Path(tempfile.mkdtemp(prefix="labour-trust-pg-"))
        pwfile = self.base / "pwfile"
        pwfile.write_text(DB_PASSWORD + "\n")
        if self.as_user:
            import pwd

            account = pwd.getpwnam(UNPRIVILEGED_USER)
            for path in (self.base, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.port = free_port(self.host)
        data = self.base / "data"
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses={self.host} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        assert self.bindir is not None
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(data),
            "-U", DB_USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        log = self.base / "postgres.log"
        self._pg_ctl("-l", str(log), "-o", options, "-w", "start")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started and self.bindir is not None and self.base is not None:
            self._pg_ctl("-m", "fast", "-w", "stop", check=False)
            self.started = False
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
