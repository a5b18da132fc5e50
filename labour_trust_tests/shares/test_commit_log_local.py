"""Commit-log diffing for a share in a local folder (the embedded default)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from labour_trust.shares.commit_log import (
    SchemaChange,
    ShareCursor,
    columns_of,
    diff_columns,
    read_changes,
)
from labour_trust.shares.faults import CorruptCommit, LogGap, MissingDataFile, ShareNotFound
from labour_trust_tests.shares.delta_share import (
    MONTHS,
    added_files,
    commit_name,
    month_table,
    publish,
    publish_year,
)


@pytest.fixture
def share(tmp_path: Path) -> str:
    uri = str(tmp_path / "hmrc" / "paye_rti")
    publish_year(uri)
    return uri


def test_first_then_incremental_then_nothing(share: str) -> None:
    first = read_changes(share)
    assert first.full and first.version == 11 and first.months == set(MONTHS)
    assert first.cursor.fingerprint and first.cursor.fingerprint.startswith("sha1:")

    publish(share, "2024-04", seed=1)
    publish(share, "2024-04", seed=2)  # corrected twice: still one month
    changes = read_changes(share, first.cursor)
    assert changes.months == {"2024-04"} and changes.commits_read == 2
    assert changes.version == 13 and changes.files_checked == 1  # the net added file

    assert not read_changes(share, changes.cursor).is_new


def test_file_uri_and_bare_version_cursor(share: str) -> None:
    publish(share, "2024-12", seed=1)
    changes = read_changes(f"file://{share}", 11)
    assert changes.months == {"2024-12"} and changes.version == 12


def test_compaction_without_data_change_runs_no_month(share: str) -> None:
    write_deltalake(share, month_table("2024-01", seed=9), mode="append")  # a 2nd file
    first = read_changes(share)
    DeltaTable(share).optimize.compact()  # dataChange=false: same rows, new files
    changes = read_changes(share, first.cursor)
    assert changes.commits_read == 1 and changes.months == frozenset()
    assert changes.files_checked == 1  # the compacted file must still exist


def test_full_read_starts_from_the_checkpoint(share: str) -> None:
    DeltaTable(share).create_checkpoint()  # at version 11
    publish(share, "2024-02", seed=3)
    first = read_changes(share)
    assert first.commits_read == 1  # only the commit after the checkpoint is replayed
    assert first.months == set(MONTHS) and first.version == 12
    assert first.cursor.table_id == DeltaTable(share).metadata().id


def test_log_retention_behind_the_cursor_is_not_a_gap(share: str) -> None:
    old = read_changes(share, None)
    for _ in range(3):
        publish(share, "2024-03", seed=4)  # versions 12-14
    DeltaTable(share).create_checkpoint()  # at 14
    log = Path(share) / "_delta_log"
    for v in range(12):  # retention removed everything before the checkpoint's history
        (log / commit_name(v)).unlink()
    stale = ShareCursor(version=5, table_id=old.cursor.table_id, schema=old.cursor.schema)
    changes = read_changes(share, stale)
    assert changes.full and changes.version == 14 and changes.months == set(MONTHS)
    assert changes.reset_reason and "log retention" in changes.reset_reason


def test_gap_and_missing_file_and_corrupt_commit(share: str) -> None:
    cursor = read_changes(share).cursor
    publish(share, "2024-01", seed=5)  # 12
    publish(share, "2024-02", seed=5)  # 13
    log = Path(share) / "_delta_log"

    [path] = added_files(share, 13)
    moved = Path(share) / path
    moved.rename(moved.with_suffix(".away"))
    with pytest.raises(MissingDataFile, match="version 13"):
        read_changes(share, cursor)
    moved.with_suffix(".away").rename(moved)

    (log / commit_name(12)).rename(log / "hidden")
    with pytest.raises(LogGap, match="version 12 missing"):
        read_changes(share, cursor)
    (log / "hidden").rename(log / commit_name(12))

    good = (log / commit_name(13)).read_bytes()
    (log / commit_name(13)).write_bytes(good[:40])
    with pytest.raises(CorruptCommit, match="commit 13"):
        read_changes(share, cursor)
    (log / commit_name(13)).write_bytes(good)
    assert read_changes(share, cursor).months == {"2024-01", "2024-02"}


def test_recreated_table_resets_with_schema_change(share: str) -> None:
    cursor = read_changes(share).cursor
    shutil.rmtree(share)
    with pytest.raises(ShareNotFound):
        read_changes(share, cursor)
    table = (
        month_table("2024-01")
        .drop_columns(["amount"])
        .append_column("amount", pa.array([1, 2, 3, 4], pa.int64()))
    )
    write_deltalake(share, table, partition_by=["month"])
    changes = read_changes(share, cursor)
    assert changes.full and changes.reset_reason and changes.months == {"2024-01"}
    [change] = changes.schema_changes
    assert change.retyped == {"amount": ("double", "long")}


def test_schema_diff() -> None:
    before = {"a": "string", "b": "long", "c": "double"}
    after = {"a": "string", "b": "double", "d": "date not null"}
    change = diff_columns(7, before, after)
    assert change == SchemaChange(
        7, {"d": "date not null"}, {"c": "double"}, {"b": ("long", "double")}
    )
    assert SchemaChange.from_dict(change.to_dict()) == change
    assert "+d (date not null)" in change.describe()
    assert diff_columns(7, before, dict(before)) is None
    nested = (
        '{"type":"struct","fields":[{"name":"s","type":{"type":"array",'
        '"elementType":"string","containsNull":true},"nullable":false,"metadata":{}}]}'
    )
    assert columns_of(nested)["s"].endswith(" not null")
