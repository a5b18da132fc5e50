"""A backfill over three months of every asset, or of the publication step alone,
launched through the webserver's GraphQL API (what the UI sends for a range), run by the
daemon of a running `labour-trust up`, alongside its sensors and automation: every run
succeeds, every asset of every month asked for is materialised and every table published
and exported. Dagster's planner also targets months after the range that read its months
(a UC month feeds `sector_view` the month after); where no department has published such a
month, it is the only thing the backfill leaves not completed. Where the shares reach the
newest partition (the demo's last complete month), nothing is left over."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from labour_trust.months import last_complete_months, month_range
from labour_trust.operations.instance import dagster_home
from labour_trust.operations.reload import graphql
from labour_trust.publishing.tables import PUBLISHED
from labour_trust.settings import FIRST_MONTH_ENV
from labour_trust.synthetic import seed_shares
from labour_trust_tests.conftest import TEST_MONTHS, TEST_SCALE, TEST_SEED
from labour_trust_tests.test_cli_up import (
    answers,
    output,
    process_tree,
    start_up,
    stop_and_check,
    wait_for,
)

MONTHS = [*TEST_MONTHS, "2024-03"]
BACKFILL_TIMEOUT = 900.0  # two cores shared with the sensors' own runs

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
  }
}"""
RUNS = """
query($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { status tags { key value } } }
  }
}"""
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


# Every asset (the UI's "Materialize all"), or the publication step alone (its three
# groups: Dagster refuses a selection that splits the one step).
SELECTIONS = {"every asset": None, "publication step": ("published", "exports", "restricted")}


@pytest.mark.timeout(BACKFILL_TIMEOUT + 300)
@pytest.mark.parametrize("groups", SELECTIONS.values(), ids=SELECTIONS.keys())
def test_a_graphql_backfill_over_three_months_publishes_every_month(
    home: Path, tmp_path: Path, linkage_key, groups: tuple[str, ...] | None
) -> None:
    seed_shares(
        str(home / "shares"), MONTHS[-1:], scale=TEST_SCALE, seed=TEST_SEED, key=linkage_key
    )
    status, not_completed = _backfill(home, tmp_path, MONTHS, groups)
    # What did not complete lies after the newest month with data (partitions run to the
    # last complete month, these shares stop at 2024-03).
    assert all(month > MONTHS[-1] for _, month in not_completed), sorted(not_completed)
    assert status == ("COMPLETED_FAILED" if not_completed else "COMPLETED_SUCCESS"), status


@pytest.mark.timeout(BACKFILL_TIMEOUT + 300)
def test_a_backfill_up_to_the_newest_partition_completes_with_nothing_left_over(
    home: Path, tmp_path: Path, monkeypatch, linkage_key
) -> None:
    """As in the demo, the shares reach the last complete month (the newest partition): the
    planner has no later month to reach, and the backfill succeeds outright."""
    months = month_range(last_complete_months(3))
    shutil.rmtree(home / "shares")  # the fixture's 2024 months: these shares start later
    monkeypatch.setenv(FIRST_MONTH_ENV, months[0])
    seed_shares(str(home / "shares"), months, scale=TEST_SCALE, seed=TEST_SEED, key=linkage_key)
    status, not_completed = _backfill(home, tmp_path, months)
    assert (status, sorted(not_completed)) == ("COMPLETED_SUCCESS", [])


def _backfill(
    home: Path, tmp_path: Path, months: list[str], groups: tuple[str, ...] | None = None
) -> tuple[str, set[tuple[str, str]]]:
    """Backfill `months` of the assets in `groups` (all if None) through GraphQL on a running
    `up`; check that every run succeeded and every month asked for was (re)published, and
    return the backfill's status and what it left not completed."""
    process, port = start_up(home, tmp_path)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        wait_for(lambda: answers(port), process, tmp_path, "HTTP answer from the webserver")
        nodes = []
        wait_for(lambda: nodes.extend(_asset_paths(url)) or nodes, process, tmp_path, "asset nodes")
        exports = _exports(home, months)
        if groups is not None:  # re-publishing: the trust months exist (automation made them)
            _wait_until(lambda: all(f.is_file() for f in exports), process, tmp_path)
        before = {f: f.stat().st_mtime_ns if f.is_file() else 0 for f in exports}
        selected = [{"path": p} for p in nodes if groups is None or p[0] in groups]
        params = {"partitionNames": months, "assetSelection": selected}
        launched = graphql(url, LAUNCH, {"params": params})["data"]["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        status = _wait_for_backfill(url, backfill_id, process, tmp_path)
        runs = graphql(url, RUNS, {"id": backfill_id})["data"]["runsOrError"]["results"]
    finally:
        stop_and_check(process, process_tree(process.pid), signal.SIGTERM, tmp_path)

    assert runs and {r["status"] for r in runs} == {"SUCCESS"}, runs
    for export in exports:  # every table of every month asked for, (re)published
        assert export.is_file() and export.stat().st_mtime_ns > before[export], export
    return status, _not_completed(home, backfill_id)


def _exports(home: Path, months: list[str]) -> list[Path]:
    return [home / "exports" / n / f"{n}_{m}.csv" for n in PUBLISHED for m in months]


def _wait_until(condition, process, tmp_path: Path) -> None:
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while not condition():
        assert process.poll() is None, output(tmp_path)
        assert time.monotonic() < deadline, f"not settled: {output(tmp_path)}"
        time.sleep(2)


def _not_completed(home: Path, backfill_id: str) -> set[tuple[str, str]]:
    """The (asset, month) the backfill targeted but did not materialise, as the daemon
    recorded them."""
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home(home)))) as instance:
        data = instance.get_backfill(backfill_id).asset_backfill_data
    assert data is not None
    targeted = {i.asset_key for i in data.target_subset.iterate_asset_partitions()}
    assert {dg.AssetKey(["exports", name]) for name in PUBLISHED} <= targeted, targeted
    return {
        (item.asset_key.to_user_string(), item.partition_key)
        for item in (data.target_subset - data.materialized_subset).iterate_asset_partitions()
    }


def _asset_paths(url: str) -> list[list[str]]:
    try:
        nodes = graphql(url, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
    except (OSError, KeyError, TypeError):
        return []
    return [n["assetKey"]["path"] for n in nodes]


def _wait_for_backfill(url: str, backfill_id: str, process, tmp_path: Path) -> str:
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    status = ""
    while time.monotonic() < deadline:
        found = graphql(url, STATUS, {"id": backfill_id})["data"]["partitionBackfillOrError"]
        status = found.get("status", found["__typename"])
        if status in TERMINAL:
            return status
        assert process.poll() is None, output(tmp_path)
        time.sleep(2)
    return f"still {status} after {BACKFILL_TIMEOUT:.0f} s"
