"""A broken share fails on its own, in one line naming share, uri, version and cause."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from labour_trust.defs.resources import PointerIOManager, ShareStore
from labour_trust.defs.sensors import (
    VERSION_TAG,
    SensorCursor,
    build_share_sensor,
    build_shares_sensor,
)
from labour_trust.feeds.departments import PAYE_RTI, UC_CLAIMANTS
from labour_trust.operations.status import share_status
from labour_trust.shares.commit_log import ShareCursor, read_changes
from labour_trust.shares.faults import CorruptCommit, ShareNotFound
from labour_trust.shares.pinned import ShareReadError, month_fingerprints, open_share
from labour_trust_tests.shares.delta_share import MONTHS, commit_name, publish_year

SHARE = "hmrc/paye_rti"
GARBAGE = commit_name(5)  # 00000000000000000005.json
NO_LOG = "no _delta_log: the table was deleted or never created"


def assert_one_clean_line(message: str) -> None:
    assert "\n" not in message, message
    assert "backtrace" not in message.lower(), message
    assert not re.search(r"\d+: <unknown>", message), message


@dataclass(frozen=True)
class Shares:
    broken: str  # to be broken by the test
    healthy: str
    cursor: ShareCursor  # a reader's cursor at version 3 of `broken`, before any damage


@pytest.fixture
def shares(tmp_path: Path) -> Shares:
    """Two real local Delta tables of twelve commits each (versions 0-11)."""
    broken, healthy = str(tmp_path / "hmrc" / "paye_rti"), str(tmp_path / "dwp" / "uc_claimants")
    publish_year(broken, months=MONTHS[:4])
    cursor = read_changes(broken).cursor
    publish_year(broken, months=MONTHS[4:])
    publish_year(healthy)
    assert cursor.version == 3
    return Shares(broken, healthy, cursor)


def garble(uri: str) -> None:
    (Path(uri) / "_delta_log" / GARBAGE).write_text("not json")


def test_garbage_commit_is_named(shares: Shares) -> None:
    broken, healthy = shares.broken, shares.healthy
    garble(broken)

    with pytest.raises(ShareReadError) as latest:
        open_share(SHARE, broken)
    message = str(latest.value)
    assert message.startswith(f"{SHARE}: ") and broken in message and "at latest" in message
    assert f"commit file {GARBAGE} is not valid JSON" in message
    assert_one_clean_line(message)

    with pytest.raises(ShareReadError, match=f"at version 7: commit file {GARBAGE}") as pinned:
        open_share(SHARE, broken, version=7)
    assert_one_clean_line(str(pinned.value))
    # Versions before the damage still read: pointers pinned to them stay valid.
    assert sorted(month_fingerprints(open_share(SHARE, broken, version=4))) == list(MONTHS[:5])

    # The other share, in the same process, is untouched by the failure.
    assert sorted(month_fingerprints(open_share("dwp/uc_claimants", healthy))) == list(MONTHS)


def test_deleted_log_is_named(shares: Shares) -> None:
    broken, healthy = shares.broken, shares.healthy
    shutil.rmtree(Path(broken) / "_delta_log")

    for version, at in ((None, "at latest"), (3, "at version 3")):
        with pytest.raises(ShareReadError) as error:
            open_share(SHARE, broken, version=version)
        message = str(error.value)
        assert message == f"{SHARE}: cannot open {broken} {at}: {NO_LOG}"
        assert_one_clean_line(message)

    assert len(month_fingerprints(open_share("dwp/uc_claimants", healthy))) == len(MONTHS)


def test_version_past_the_end_is_named(shares: Shares) -> None:
    broken = shares.broken
    with pytest.raises(ShareReadError) as error:
        open_share(SHARE, broken, version=40)
    assert str(error.value).endswith(
        "at version 40: version 40 does not exist: the latest version is 11"
    )


def test_commit_log_reader_raises_typed_one_line_faults(shares: Shares) -> None:
    broken, healthy = shares.broken, shares.healthy
    cursor = shares.cursor
    garble(broken)

    for after in (None, cursor):  # a first (full) read and an incremental one
        with pytest.raises(CorruptCommit) as fault:
            read_changes(broken, after)
        assert (
            f"commit 5 of {broken}: commit file {GARBAGE} is not valid JSON" in fault.value.reason
        )
        assert_one_clean_line(fault.value.reason)

    # Valid JSON of the wrong shape is a typed fault too, not a TypeError from the replay.
    (Path(broken) / "_delta_log" / GARBAGE).write_text("[1, 2]\n")
    with pytest.raises(CorruptCommit, match=f"{GARBAGE} is not a Delta commit"):
        read_changes(broken, cursor)
    (Path(broken) / "_delta_log" / GARBAGE).write_text('{"add": {"size": 1}}\n')
    with pytest.raises(CorruptCommit, match=f"{GARBAGE} has a malformed action"):
        read_changes(broken, cursor)

    shutil.rmtree(Path(broken) / "_delta_log")
    with pytest.raises(ShareNotFound) as gone:
        read_changes(broken, cursor)
    assert broken in gone.value.reason and NO_LOG in gone.value.reason

    assert read_changes(healthy).months == set(MONTHS)


def test_sensor_skips_the_broken_share_and_names_it(shares: Shares) -> None:
    broken, healthy = shares.broken, shares.healthy
    sensor = build_share_sensor(PAYE_RTI, None, broken)
    cursor = SensorCursor(shares.cursor).to_json()
    garble(broken)

    result = sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(result, dg.SkipReason)
    reason = result.skip_message or ""
    assert reason.startswith(f"{PAYE_RTI.name} not read (corrupt_commit)")
    assert f"commit file {GARBAGE}" in reason and "cursor kept at 3" in reason
    assert_one_clean_line(reason)

    healthy_sensor = build_share_sensor(UC_CLAIMANTS, None, healthy)
    assert isinstance(healthy_sensor(dg.build_sensor_context()), dg.SensorResult)


def test_one_sensor_over_the_shares_runs_each_month_once_and_skips_a_broken_one(
    shares: Shares,
) -> None:
    uris = {PAYE_RTI.name: shares.broken, UC_CLAIMANTS.name: shares.healthy}
    sensor = build_shares_sensor([PAYE_RTI, UC_CLAIMANTS], lambda spec: (uris[spec.name], None))
    paye, uc = (dg.AssetKey(s.asset_key_path) for s in (PAYE_RTI, UC_CLAIMANTS))

    # Both shares changed every month: one run per month checks both feeds.
    first = sensor(dg.build_sensor_context())
    assert [r.partition_key for r in first.run_requests] == list(MONTHS)
    assert all(set(r.asset_selection) == {paye, uc} for r in first.run_requests)
    assert first.run_requests[0].tags[VERSION_TAG] == f"{SHARE}@11,{UC_CLAIMANTS.name}@11"
    assert first.run_requests[0].run_key == f"{SHARE}@11:2024-01+{UC_CLAIMANTS.name}@11:2024-01"

    # A reader of PAYE at version 3 meets a garbage commit: PAYE is skipped with its reason
    # and its cursor kept; the healthy share's months still run, on their own.
    cursor = json.dumps({PAYE_RTI.name: SensorCursor(shares.cursor).to_json()})
    garble(shares.broken)
    result = sensor(dg.build_sensor_context(cursor=cursor))
    assert [r.partition_key for r in result.run_requests] == list(MONTHS)
    assert all(list(r.asset_selection) == [uc] for r in result.run_requests)
    kept = json.loads(result.cursor)
    assert SensorCursor.from_json(kept[PAYE_RTI.name]).share.version == 3
    assert SensorCursor.from_json(kept[UC_CLAIMANTS.name]).share.version == 11


def test_status_reports_the_broken_share_and_reads_the_others(home: Path, tmp_path: Path) -> None:
    """month_fingerprints' callers (here `labour-trust status`) get a ShareReadError per
    share: the broken one is reported, the healthy one still lists its months."""
    store = ShareStore(root=str(home / "shares"))
    pointers = PointerIOManager(base_dir=str(tmp_path / "pointers"))
    garbage = commit_name(1)
    (Path(store.uri(PAYE_RTI)) / "_delta_log" / garbage).write_text("not json")

    broken = share_status(PAYE_RTI, store, pointers)
    assert broken.error is not None
    assert broken.error.startswith(f"{PAYE_RTI.name}: cannot open {store.uri(PAYE_RTI)} at latest")
    assert broken.error.endswith(f"commit file {garbage} is not valid JSON")
    assert_one_clean_line(broken.error)

    healthy = share_status(UC_CLAIMANTS, store, pointers)
    assert healthy.error is None and healthy.months == ["2024-01", "2024-02"]
