"""The production profile (dagster.production.yaml) against a real PostgreSQL 15 server.

A throwaway server per module: initdb in a temp dir of its own, on a free port of its own,
stopped and deleted at the end. PostgreSQL refuses to run as root, so under root (the CI)
the server runs as the unprivileged user `nobody`, which owns the data dir.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROFILE = Path(__file__).resolve().parents[1] / "dagster.production.yaml"
PG_VERSION = "15"
UNPRIVILEGED_USER = "nobody"
DB_USER = "dagster"
DB_PASSWORD = "test-only-password"  # a throwaway server on 127.0.0.1
DB_NAME = "labour_trust_dagster"


def _pg_bindir() -> Path | None:
    candidates = [Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")]
    if found := shutil.which("pg_ctl"):
        candidates.append(Path(found).parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    host: str
    port: int

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": DB_NAME,
            "DAGSTER_PG_USER": DB_USER,
            "DAGSTER_PG_PASSWORD": DB_PASSWORD,
        }

    def connect(self, dbname: str = DB_NAME):
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=DB_USER,
            password=DB_PASSWORD,
            connect_timeout=5,
        )


@pytest.fixture(scope="module")
def postgres() -> Iterator[PgServer]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(f"PostgreSQL {PG_VERSION} binaries (initdb, pg_ctl) not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse root
        if shutil.which("runuser") is None:
            pytest.skip("running as root and `runuser` is missing: cannot drop to a plain user")
        as_user = ["runuser", "-u", UNPRIVILEGED_USER, "--"]

    base = Path(tempfile.mkdtemp(prefix="labour-trust-pg-"))
    data, log = base / "data", base / "postgres.log"
    (base / "pwfile").write_text(DB_PASSWORD + "\n")
    if as_user:
        import pwd

        account = pwd.getpwnam(UNPRIVILEGED_USER)
        for path in (base, base / "pwfile"):
            os.chown(path, account.pw_uid, account.pw_gid)

    def run(*argv: str, check: bool = True) -> None:
        subprocess.run([*as_user, *argv], cwd=base, check=check, capture_output=True, timeout=60)

    port = _free_port()
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    started = False
    try:
        run(
            str(bindir / "initdb"),
            "-D", str(data),
            "-U", DB_USER,
            f"--pwfile={base / 'pwfile'}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        started = True
        server = PgServer("127.0.0.1", port)
        conn = server.connect("postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DB_NAME}")
        finally:
            conn.close()
        yield server
    except subprocess.CalledProcessError as failure:
        server_log = log.read_text() if log.exists() else ""
        raise RuntimeError(
            f"{failure.cmd} failed:\n{failure.stdout.decode()}\n{failure.stderr.decode()}\n"
            f"{server_log}"
        ) from failure
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def dagster_home(postgres: PgServer, tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME whose dagster.yaml is the production profile, verbatim."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROFILE, home / "dagster.yaml")
    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_instance_info_reports_postgres_storage(dagster_home: Path):
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "instance", "info"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No module named" not in done.stdout + done.stderr
    for storage in ("PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"):
        assert storage in done.stdout, done.stdout
    assert "DefaultRunLauncher" in done.stdout  # K8sRunLauncher comes from the Helm chart


def test_materialisation_recorded_in_postgres(dagster_home: Path, postgres: PgServer):
    import dagster as dg
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage

    @dg.asset(name="production_profile_probe")
    def probe() -> int:
        return 42

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {limit["key"] for limit in limits} == {"dagster/partition", "dagster/backfill"}

        result = dg.materialize([probe], instance=instance)
        assert result.success

        event = instance.get_latest_materialization_event(dg.AssetKey("production_profile_probe"))
        assert event is not None
        assert event.run_id == result.run_id
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS

    # The rows are in PostgreSQL itself, not in some local fallback.
    conn = postgres.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
                (result.run_id, "ASSET_MATERIALIZATION"),
            )
            (count,) = cursor.fetchone()
    finally:
        conn.close()
    assert count == 1
