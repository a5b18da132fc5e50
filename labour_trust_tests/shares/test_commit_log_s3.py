"""Commit-log diffing against a share on S3 (moto_server subprocess), including faults."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from labour_trust.demo.s3 import free_port
from labour_trust.shares import s3
from labour_trust.shares.commit_log import ShareChanges, read_changes
from labour_trust.shares.faults import (
    LogGap,
    MissingDataFile,
    ShareForbidden,
    ShareNotFound,
    ShareThrottled,
    ShareUnreachable,
)
from labour_trust.shares.storage import S3Settings
from labour_trust_tests.shares.delta_share import (
    MONTHS,
    added_files,
    commit_name,
    month_table,
    publish,
    publish_year,
)
from labour_trust_tests.shares.fault_proxy import FaultProxy


@pytest.fixture
def year(s3_uri: str, s3_settings: S3Settings) -> ShareChanges:
    """A share with 12 months (versions 0-11), read once: the cursor is at version 11."""
    publish_year(s3_uri, s3_settings)
    return read_changes(s3_uri, None, s3_settings)


def _key(uri: str, name: str) -> tuple[str, str]:
    bucket, prefix = s3.split_s3_uri(uri)
    return bucket, f"{prefix}/{name}"


def test_first_read_reports_every_month(year: ShareChanges) -> None:
    assert year.version == 11
    assert year.months == frozenset(MONTHS)
    assert year.full and year.reset_reason is None
    assert year.commits_read == 12
    assert year.files_checked == 12
    assert year.cursor.schema["month"] == "string"
    assert year.cursor.fingerprint and year.cursor.fingerprint.startswith("etag:")
    assert year.committed_at is not None


def test_overwrite_reports_exactly_that_month(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    publish(s3_uri, "2024-05", s3_settings, seed=1)
    changes = read_changes(s3_uri, year.cursor, s3_settings)
    assert changes.months == {"2024-05"}
    assert (changes.after, changes.version, changes.commits_read) == (11, 12, 1)
    assert not changes.full and not changes.schema_changes

    again = read_changes(s3_uri, changes.cursor, s3_settings)
    assert not again.is_new and again.months == frozenset()
    assert again.version == 12 and again.cursor == changes.cursor


def test_a_tick_costs_requests_per_new_commit_not_per_table(
    year: ShareChanges,
    s3_uri: str,
    proxy: FaultProxy,
    proxy_settings: S3Settings,
    s3_settings: S3Settings,
) -> None:
    read_changes(s3_uri, year.cursor, proxy_settings)
    assert proxy.requests == 1  # one LIST from the cursor: nothing new
    publish(s3_uri, "2024-02", s3_settings, seed=2)
    publish(s3_uri, "2024-03", s3_settings, seed=2)
    before = proxy.requests
    changes = read_changes(s3_uri, year.cursor, proxy_settings)
    assert changes.months == {"2024-02", "2024-03"}
    assert proxy.requests - before == 1 + 2 + 2  # LIST + GET per commit + HEAD per new file


def test_schema_change_is_reported_as_structured_change(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    extra = month_table("2024-06", rows=2, seed=3, region=["north", "south"])
    write_deltalake(
        s3_uri,
        extra,
        mode="append",
        schema_mode="merge",
        partition_by=["month"],
        storage_options=s3_settings.delta_storage_options(),
    )
    changes = read_changes(s3_uri, year.cursor, s3_settings)
    assert changes.months == {"2024-06"}
    [change] = changes.schema_changes
    assert change.version == 12
    assert change.added == {"region": "string"}
    assert not change.removed and not change.retyped
    assert changes.cursor.schema["region"] == "string"


def test_unreachable_endpoint_then_recovery(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    publish(s3_uri, "2024-07", s3_settings, seed=4)
    dead = S3Settings(
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region="eu-west-2",
        access_key_id="testing",
        secret_access_key="testing",
        allow_http=True,
    )
    with pytest.raises(ShareUnreachable, match="cannot reach the storage endpoint"):
        read_changes(s3_uri, year.cursor, dead)
    assert read_changes(s3_uri, year.cursor, s3_settings).months == {"2024-07"}


def test_forbidden_by_bucket_policy_then_recovery(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings, bucket: str
) -> None:
    publish(s3_uri, "2024-08", s3_settings, seed=5)
    client = s3.client_for(s3_settings)
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    with pytest.raises(ShareForbidden, match="403") as fault:
        read_changes(s3_uri, year.cursor, s3_settings)
    assert commit_name(12) in fault.value.reason
    client.delete_bucket_policy(Bucket=bucket)
    changes = read_changes(s3_uri, year.cursor, s3_settings)
    assert changes.months == {"2024-08"} and changes.version == 12
    assert not read_changes(s3_uri, changes.cursor, s3_settings).is_new  # reported once


def test_forbidden_listing(
    year: ShareChanges, s3_uri: str, proxy: FaultProxy, proxy_settings: S3Settings
) -> None:
    proxy.fail(403)
    with pytest.raises(ShareForbidden, match="access denied"):
        read_changes(s3_uri, year.cursor, proxy_settings)
    assert proxy.faults_served == 1  # 403 is not retried


def test_slow_down_is_retried_then_surfaced_then_recovers(
    year: ShareChanges,
    s3_uri: str,
    s3_settings: S3Settings,
    proxy: FaultProxy,
    proxy_settings: S3Settings,
) -> None:
    publish(s3_uri, "2024-09", s3_settings, seed=6)
    proxy.fail(503, times=1)  # a brief throttle: botocore's bounded retries absorb it
    assert read_changes(s3_uri, year.cursor, proxy_settings).months == {"2024-09"}

    proxy.fail(503)  # throttled for a while
    with pytest.raises(ShareThrottled, match="SlowDown"):
        read_changes(s3_uri, year.cursor, proxy_settings)
    assert proxy.faults_served == 1 + 3  # bounded: max_attempts=3
    proxy.clear()
    assert read_changes(s3_uri, year.cursor, proxy_settings).months == {"2024-09"}


def test_missing_data_file_names_file_and_version(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    publish(s3_uri, "2024-10", s3_settings, seed=7)
    [path] = added_files(s3_uri, 12, s3_settings)
    client = s3.client_for(s3_settings)
    bucket, key = _key(s3_uri, path)
    data = s3.get_small_object(client, bucket, key)
    client.delete_object(Bucket=bucket, Key=key)

    with pytest.raises(MissingDataFile) as fault:
        read_changes(s3_uri, year.cursor, s3_settings)
    assert fault.value.version == 12 and fault.value.path == path
    assert path in fault.value.reason and "version 12" in fault.value.reason

    client.put_object(Bucket=bucket, Key=key, Body=data)  # the department repairs it
    assert read_changes(s3_uri, year.cursor, s3_settings).months == {"2024-10"}


def test_gap_in_the_log_is_a_fault_until_repaired(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    for month in ("2024-01", "2024-02", "2024-03"):  # versions 12, 13, 14
        publish(s3_uri, month, s3_settings, seed=8)
    client = s3.client_for(s3_settings)
    bucket, key = _key(s3_uri, f"_delta_log/{commit_name(13)}")
    data = s3.get_small_object(client, bucket, key)
    client.delete_object(Bucket=bucket, Key=key)

    with pytest.raises(LogGap, match="version 13 missing") as fault:
        read_changes(s3_uri, year.cursor, s3_settings)
    assert fault.value.missing == (13,)

    client.put_object(Bucket=bucket, Key=key, Body=data)
    changes = read_changes(s3_uri, year.cursor, s3_settings)
    assert changes.months == {"2024-01", "2024-02", "2024-03"} and changes.version == 14


def _delete_share(uri: str, settings: S3Settings) -> None:
    client = s3.client_for(settings)
    bucket, prefix = s3.split_s3_uri(uri)
    for obj in list(s3.list_objects(client, bucket, prefix + "/")):
        client.delete_object(Bucket=bucket, Key=obj.key)


def test_table_recreated_with_fewer_versions_resets(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    _delete_share(s3_uri, s3_settings)
    with pytest.raises(ShareNotFound):
        read_changes(s3_uri, year.cursor, s3_settings)  # gone: a fault, cursor kept

    publish_year(s3_uri, s3_settings, MONTHS[:3])  # versions 0-2 < cursor 11
    changes = read_changes(s3_uri, year.cursor, s3_settings)
    assert changes.full and changes.version == 2
    assert changes.months == set(MONTHS[:3])
    assert changes.reset_reason and "cursor was version 11" in changes.reset_reason
    assert changes.cursor.table_id != year.cursor.table_id
    assert not read_changes(s3_uri, changes.cursor, s3_settings).is_new


def test_table_recreated_past_the_cursor_resets(s3_uri: str, s3_settings: S3Settings) -> None:
    publish_year(s3_uri, s3_settings, MONTHS[:3])
    first = read_changes(s3_uri, None, s3_settings)
    _delete_share(s3_uri, s3_settings)
    publish_year(s3_uri, s3_settings, MONTHS[6:])  # versions 0-5: version 2 exists again
    changes = read_changes(s3_uri, first.cursor, s3_settings)
    assert changes.full and changes.reset_reason and "rewritten" in changes.reset_reason
    assert changes.months == set(MONTHS[6:]) and changes.version == 5


def test_backlog_is_read_in_bounded_batches(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    for i, month in enumerate(MONTHS[:5]):
        publish(s3_uri, month, s3_settings, seed=10 + i)
    cursor, seen, ticks = year.cursor, set(), 0
    while True:
        changes = read_changes(s3_uri, cursor, s3_settings, max_commits=2)
        if not changes.is_new:
            break
        ticks += 1
        assert changes.commits_read <= 2 and changes.more == (changes.version < 16)
        seen |= changes.months
        cursor = changes.cursor
    assert ticks == 3 and cursor.version == 16 and seen == set(MONTHS[:5])


def test_commits_during_reads_are_each_reported_once(
    year: ShareChanges, s3_uri: str, s3_settings: S3Settings
) -> None:
    """A department commits while ticks run: each tick reads a contiguous prefix."""
    writes = [(MONTHS[i % 12], 20 + i) for i in range(8)]
    writer = threading.Thread(
        target=lambda: [publish(s3_uri, m, s3_settings, seed=s) for m, s in writes]
    )
    writer.start()
    cursor, commits = year.cursor, 0
    while writer.is_alive() or read_changes(s3_uri, cursor, s3_settings).is_new:
        changes = read_changes(s3_uri, cursor, s3_settings)
        assert changes.version == cursor.version + changes.commits_read
        commits += changes.commits_read
        cursor = changes.cursor
    writer.join()
    assert commits == len(writes) and cursor.version == 11 + len(writes)


def test_writes_through_arrow_table_types_are_schema_strings(
    s3_uri: str, s3_settings: S3Settings
) -> None:
    table = pa.table({"month": ["2024-01"], "n": pa.array([1], pa.int32())})
    write_deltalake(
        s3_uri, table, partition_by=["month"], storage_options=s3_settings.delta_storage_options()
    )
    assert read_changes(s3_uri, None, s3_settings).cursor.schema == {
        "month": "string",
        "n": "integer",
    }


def test_first_read_uses_the_checkpoint(s3_uri: str, s3_settings: S3Settings) -> None:
    publish_year(s3_uri, s3_settings)
    DeltaTable(s3_uri, storage_options=s3_settings.delta_storage_options()).create_checkpoint()
    publish(s3_uri, "2024-11", s3_settings, seed=9)
    first = read_changes(s3_uri, None, s3_settings)
    assert first.commits_read == 1 and first.files_checked == 1  # only after the checkpoint
    assert first.months == set(MONTHS) and first.version == 12
