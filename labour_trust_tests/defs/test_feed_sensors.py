"""Share sensors and automation, ticked through Dagster's own APIs on the real definitions."""

from __future__ import annotations

import dagster as dg
from dagster._core.utils import make_new_run_id

from labour_trust.cli import main
from labour_trust.definitions import build_definitions
from labour_trust.defs.feeds import SHARES_SENSOR
from labour_trust.feeds.departments import FEEDS, PAYE_RTI
from labour_trust.synthetic import publish_month
from labour_trust_tests.conftest import TEST_MONTHS, TEST_SCALE, TEST_SEED

DATASETS = ("local_labour_market", "sector_view", "claimant_outcomes", "skills_outcomes")
EVALUATION = "evaluation/employability_course_claimants"
INSIGHT = "published/insight_report"  # drawn from the month's published tables
RECEIVED = {f"{layer}/{name}" for layer in ("exports", "restricted") for name in DATASETS}


def horizons(defs: dg.Definitions) -> set[str]:
    """The `<feed>/m_plus_<k>` pointer assets: feed months read at a distance."""
    graph = defs.resolve_asset_graph()
    return {k.to_user_string() for k in graph.materializable_asset_keys if "_plus_" in k.path[-1]}


def tick(defs: dg.Definitions, instance, cursors: dict) -> list[dg.RunRequest]:
    """One tick of the shares sensor (the daemon's cursor kept in ``cursors``)."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursors.get("shares"), definitions=defs
    )
    result = defs.get_sensor_def(SHARES_SENSOR)(context)
    if isinstance(result, dg.SkipReason):
        return []
    cursors["shares"] = result.cursor
    return list(result.run_requests or [])


def run_requests(defs, instance, requests: list[dg.RunRequest]) -> None:
    job = defs.resolve_implicit_global_asset_job_def()
    for request in requests:
        result = job.execute_in_process(
            partition_key=request.partition_key,
            instance=instance,
            asset_selection=list(request.asset_selection),
            tags=request.tags,
        )
        assert result.success


def automate(defs, instance, cursor=None) -> tuple[dict[str, set[str]], object]:
    """One automation tick: what it requests, per asset; the requests are then run."""
    result = dg.evaluate_automation_conditions(defs, instance, cursor=cursor)
    wanted: dict[str, set[str]] = {}
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        partitions = result.get_requested_partitions(key)
        if partitions:
            wanted[key.to_user_string()] = set(partitions)
    by_month: dict[str, list[dg.AssetKey]] = {}
    for asset, months in wanted.items():
        for month in months:
            by_month.setdefault(month, []).append(dg.AssetKey.from_user_string(asset))
    job = defs.resolve_implicit_global_asset_job_def()
    for month, keys in by_month.items():
        assert job.execute_in_process(
            partition_key=month, instance=instance, asset_selection=keys
        ).success
    return wanted, result.cursor


def test_a_correction_rebuilds_exactly_that_month_downstream(home, linkage_key):
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    cursors: dict = {}
    # The automation sensor runs from the start, with nothing to do until feeds are checked.
    wanted, cursor = automate(defs, instance)
    assert wanted == {}

    # First tick: every seeded month, one run each for the feeds of all four shares.
    requests = tick(defs, instance, cursors)
    assert sorted(r.partition_key for r in requests) == TEST_MONTHS
    feeds = {dg.AssetKey(feed.asset_key_path) for feed in FEEDS}
    assert all(set(r.asset_selection) == feeds for r in requests)
    assert all(len(r.run_key.split("+")) == len(FEEDS) for r in requests)
    run_requests(defs, instance, requests)
    wanted, cursor = automate(defs, instance, cursor)
    derived = {f"{layer}/{name}" for layer in ("trust", "published") for name in DATASETS}
    everything = {*derived, *RECEIVED, EVALUATION, INSIGHT, *horizons(defs)}
    assert wanted == {asset: set(TEST_MONTHS) for asset in everything}
    wanted, cursor = automate(defs, instance, cursor)
    assert wanted == {}  # nothing more to do

    # No change: the sensor skips.
    assert tick(defs, instance, cursors) == []

    # HMRC corrects 2024-02: only that month of PAYE, then what reads PAYE 2024-02.
    assert main(["republish", PAYE_RTI.name, "2024-02", "--scale", str(TEST_SCALE)]) == 0
    requests = tick(defs, instance, cursors)
    assert [r.partition_key for r in requests] == ["2024-02"]
    assert list(requests[0].asset_selection) == [dg.AssetKey(PAYE_RTI.asset_key_path)]
    version = requests[0].tags["labour_trust/share_version"]
    assert requests[0].run_key == f"hmrc/paye_rti@{version}:2024-02"
    run_requests(defs, instance, requests)
    # While a share's changed months are still being checked, nothing is derived: the month's
    # assets then run together, once, after the changes land.
    pending = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=make_new_run_id(),
        status=dg.DagsterRunStatus.STARTING,
        tags=requests[0].tags,
    )
    instance.add_run(pending)
    assert automate(defs, instance, cursor)[0] == {}
    instance.delete_run(pending.run_id)
    wanted, cursor = automate(defs, instance, cursor)
    assert wanted == {
        "trust/local_labour_market": {"2024-02"},
        "trust/sector_view": {"2024-02"},
        # The month's published tables are one protection problem: all are republished.
        **{f"published/{name}": {"2024-02"} for name in DATASETS},
        INSIGHT: {"2024-02"},
        **{key: {"2024-02"} for key in RECEIVED},
        # Cohort 2024-02 reads PAYE 2024-02; cohort 2024-01 reads it at no horizon (3, 6,
        # 12 months on) and not in its look-back, so it does not re-run.
        EVALUATION: {"2024-02"},
    }

    # PAYE publishes 2024-04 first: claimant outcomes of 2024-01 (its m+3) are recomputed,
    # while no 2024-04 dataset runs before the other departments publish that month.
    publish_month(
        PAYE_RTI,
        "2024-04",
        str(home / "shares" / "hmrc" / "paye_rti"),
        scale=TEST_SCALE,
        seed=TEST_SEED,
        key=linkage_key,
    )
    requests = tick(defs, instance, cursors)
    assert [r.partition_key for r in requests] == ["2024-04"]
    run_requests(defs, instance, requests)
    wanted, cursor = automate(defs, instance, cursor)
    assert wanted == {
        "trust/claimant_outcomes": {"2024-01"},
        **{f"published/{name}": {"2024-01"} for name in DATASETS},
        INSIGHT: {"2024-01"},
        **{key: {"2024-01"} for key in RECEIVED},
        # Only cohort 2024-01 reads PAYE 2024-04 (its m+3 outcome), through the pointer of
        # PAYE m+3; cohort 2024-02 (m+2: between its horizons) does not re-run.
        "hmrc/paye_rti/m_plus_3": {"2024-01"},
        EVALUATION: {"2024-01"},
    }
