"""The production profile (dagster.production.yaml) against a real PostgreSQL 15 server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labour_trust.demo.postgres import PostgresServer
from labour_trust_tests.production.conftest import DB_NAME


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


def test_materialisation_recorded_in_postgres(dagster_home: Path, postgres: PostgresServer):
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
    conn = postgres.connect(DB_NAME)
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
