"""Share sensor ticks through Dagster's own APIs (build_sensor_context + sensor invocation)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from labour_trust.defs.partitions import MONTHLY
from labour_trust.defs.sensors import (
    SCHEMA_CHANGE_TAG,
    VERSION_TAG,
    SensorCursor,
    build_share_sensor,
    run_key,
)
from labour_trust.feeds.spec import FeedSpec
from labour_trust.shares.storage import S3Settings
from labour_trust_tests.shares.delta_share import MONTHS, month_table, publish, publish_year

SPEC = FeedSpec(
    department="dwp",
    table="uc_claimants",
    description="test share",
    schema=pa.schema([pa.field("person_token", pa.string()), pa.field("month", pa.string())]),
    key_columns=("person_token",),
    owners=("team:test",),
    rows_per_month=4,
)
FEED_KEY = dg.AssetKey(SPEC.asset_key_path)


def _defs(sensor: dg.SensorDefinition, partitions: dg.PartitionsDefinition) -> dg.Definitions:
    @dg.asset(key=FEED_KEY, partitions_def=partitions)
    def feed() -> None: ...

    @dg.asset(deps=[feed], partitions_def=partitions)
    def local_labour_market() -> None: ...

    return dg.Definitions(assets=[feed, local_labour_market], sensors=[sensor])


def tick(
    sensor: dg.SensorDefinition,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None,
) -> dg.SensorResult | dg.SkipReason:
    context = dg.build_sensor_context(cursor=cursor, instance=instance, definitions=defs)
    return sensor(context)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def test_local_share_ticks(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    uri = str(tmp_path / "dwp" / "uc_claimants")
    sensor = build_share_sensor(SPEC, None, lambda: (uri, None))
    defs = _defs(sensor, MONTHLY)
    dg.Definitions.validate_loadable(defs)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30

    skip = tick(sensor, defs, instance, None)  # nothing published yet: a fault, not a crash
    assert isinstance(skip, dg.SkipReason) and "not_found" in (skip.skip_message or "")

    publish_year(uri)
    first = tick(sensor, defs, instance, None)
    assert isinstance(first, dg.SensorResult)
    assert [r.partition_key for r in first.run_requests] == list(MONTHS)
    assert [r.run_key for r in first.run_requests] == [f"dwp/uc_claimants@11:{m}" for m in MONTHS]
    assert all(r.asset_selection == [FEED_KEY] for r in first.run_requests)
    assert first.run_requests[0].tags[VERSION_TAG] == "11"
    assert not first.dynamic_partitions_requests  # time-window partitions: nothing to add
    assert json.loads(first.cursor or "")["version"] == 11

    idle = tick(sensor, defs, instance, first.cursor)
    assert isinstance(idle, dg.SkipReason) and "no new commits" in (idle.skip_message or "")

    publish(uri, "2024-03", seed=1)
    second = tick(sensor, defs, instance, first.cursor)
    assert isinstance(second, dg.SensorResult)
    [request] = second.run_requests
    assert (request.partition_key, request.run_key) == ("2024-03", "dwp/uc_claimants@12:2024-03")


def test_fault_keeps_cursor_and_change_is_reported_once(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    uri = str(tmp_path / "share")
    publish_year(uri)
    sensor = build_share_sensor(SPEC, None, (uri, None))
    defs = _defs(sensor, MONTHLY)
    cursor = tick(sensor, defs, instance, None).cursor  # type: ignore[union-attr]

    publish(uri, "2024-06", seed=2)  # version 12
    publish(uri, "2024-07", seed=2)  # version 13
    commit_12 = Path(uri) / "_delta_log" / f"{12:020d}.json"
    commit_12.rename(commit_12.with_name("aside"))  # a gap: 13 without 12
    skip = tick(sensor, defs, instance, cursor)
    assert isinstance(skip, dg.SkipReason)
    assert "log_gap" in (skip.skip_message or "") and "cursor kept at 11" in skip.skip_message

    commit_12.with_name("aside").rename(commit_12)  # repaired
    result = tick(sensor, defs, instance, cursor)
    assert isinstance(result, dg.SensorResult)
    assert {r.partition_key for r in result.run_requests} == {"2024-06", "2024-07"}
    assert isinstance(tick(sensor, defs, instance, result.cursor), dg.SkipReason)


def test_months_not_yet_partitions_wait(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    uri = str(tmp_path / "share")
    publish_year(uri, months=("2023-12", "2024-01", "2999-01"))
    sensor = build_share_sensor(SPEC, None, lambda: (uri, None))
    defs = _defs(sensor, MONTHLY)
    result = tick(sensor, defs, instance, None)
    assert isinstance(result, dg.SensorResult)
    assert [r.partition_key for r in result.run_requests] == ["2024-01"]  # 2023-12 dropped
    assert SensorCursor.from_json(result.cursor).pending == {"2999-01": 2}
    again = tick(sensor, defs, instance, result.cursor)  # still not a partition: no run
    assert isinstance(again, dg.SensorResult) and not again.run_requests
    assert "2999-01" in str(again.skip_reason)


def test_schema_change_tag_cursor_and_observation(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    uri = str(tmp_path / "share")
    publish_year(uri, months=MONTHS[:3])
    downstream = dg.AssetSelection.assets(dg.AssetKey("local_labour_market"))
    sensor = build_share_sensor(SPEC, downstream, lambda: (uri, None))
    defs = _defs(sensor, MONTHLY)
    dg.Definitions.validate_loadable(defs)
    first = tick(sensor, defs, instance, None)
    assert isinstance(first, dg.SensorResult)
    assert first.run_requests[0].asset_selection is None  # the whole target: feed + downstream

    extra = month_table("2024-02", rows=2, seed=3, region=["north", "south"])
    write_deltalake(uri, extra, mode="append", schema_mode="merge", partition_by=["month"])
    result = tick(sensor, defs, instance, first.cursor)
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests
    [change] = json.loads(request.tags[SCHEMA_CHANGE_TAG])
    assert change == {"version": 3, "added": {"region": "string"}, "removed": {}, "retyped": {}}
    cursor = SensorCursor.from_json(result.cursor)
    assert cursor.schema_changes[-1] == change and cursor.share
    assert cursor.share.schema["region"] == "string"
    [observation] = result.asset_events
    assert isinstance(observation, dg.AssetObservation) and observation.asset_key == FEED_KEY
    assert "region" in observation.metadata["schema_change_summary"].value


def test_recreated_share_gets_new_run_keys(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    uri = str(tmp_path / "share")
    publish_year(uri, months=MONTHS[:2])
    sensor = build_share_sensor(SPEC, None, lambda: (uri, None))
    defs = _defs(sensor, MONTHLY)
    first = tick(sensor, defs, instance, None)
    for path in sorted(Path(uri).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    publish_year(uri, months=MONTHS[:2])  # same versions, new table
    result = tick(sensor, defs, instance, first.cursor)  # type: ignore[union-attr]
    assert isinstance(result, dg.SensorResult)
    assert [r.run_key for r in result.run_requests] == [
        run_key(SPEC.name, 1, m, epoch=1) for m in MONTHS[:2]
    ]
    assert result.run_requests[0].run_key == "dwp/uc_claimants@1:2024-01#1"


def test_s3_share_sensor(
    s3_uri: str, s3_settings: S3Settings, instance: dg.DagsterInstance
) -> None:
    publish_year(s3_uri, s3_settings, MONTHS[:4])
    # deltalake storage options work as well as S3Settings (what the lead's ShareStore gives).
    sensor = build_share_sensor(SPEC, None, lambda: (s3_uri, s3_settings.delta_storage_options()))
    defs = _defs(sensor, MONTHLY)
    first = tick(sensor, defs, instance, None)
    assert isinstance(first, dg.SensorResult) and len(first.run_requests) == 4
    publish(s3_uri, "2024-02", s3_settings, seed=1)
    second = tick(sensor, defs, instance, first.cursor)
    assert isinstance(second, dg.SensorResult)
    assert [r.run_key for r in second.run_requests] == ["dwp/uc_claimants@4:2024-02"]
