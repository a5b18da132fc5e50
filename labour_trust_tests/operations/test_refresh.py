"""The planner, run as the daemon runs it: sensors, then automation until quiet.

A year of shares is refreshed headless; every month of every trust and published asset
completes, including final (not provisional) outcomes; failures show in `status` and the
next refresh repairs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from labour_trust.cli import main
from labour_trust.definitions import build_definitions
from labour_trust.feeds.departments import PAYE_RTI, UC_CLAIMANTS
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.months import shift_month
from labour_trust.operations.instance import embedded_instance
from labour_trust.operations.refresh import refresh
from labour_trust.operations.state import latest_data_version, partition_states
from labour_trust.synthetic import month_range, publish_month, seed_shares
from labour_trust.trust.datasets import TRUST_DATASETS
from labour_trust_tests.conftest import TEST_MONTHS, TEST_SCALE, TEST_SEED

YEAR = month_range("2024-01:2024-12")
SCALE = 0.002
KEY = LinkageKey(b"test-linkage-key-not-a-secret")  # conftest's linkage_key
DERIVED = [f"{group}/{name}" for group in ("trust", "published") for name in TRUST_DATASETS]


@pytest.fixture(scope="module")
def year_shares(tmp_path_factory, linkage_key) -> Path:
    root = tmp_path_factory.mktemp("year") / "shares"
    seed_shares(str(root), YEAR, scale=SCALE, seed=11, key=linkage_key)
    return root


@pytest.fixture(scope="module")
def refreshed_year(tmp_path_factory, year_shares, linkage_key):
    """A home refreshed once from nothing: (home, defs, instance, report)."""
    home = tmp_path_factory.mktemp("year_home")
    shutil.copytree(year_shares, home / "shares")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABOUR_TRUST_HOME", str(home))
        mp.delenv("LABOUR_TRUST_SHARES", raising=False)
        mp.setenv("LABOUR_TRUST_LINKAGE_KEY", linkage_key.secret.decode())
        defs = build_definitions(home)
        instance = dg.DagsterInstance.ephemeral()
        report = refresh(defs, instance)
        yield home, defs, instance, report


def states(instance, defs) -> dict[str, object]:
    return {s.asset: s for s in partition_states(instance, defs, YEAR)}


def test_the_year_completes_with_final_outcomes(refreshed_year):
    home, defs, instance, report = refreshed_year
    assert report.ok, (report.failed_checks, report.failed_steps, report.share_faults)
    by_asset = states(instance, defs)
    for asset in DERIVED:
        state = by_asset[asset]
        assert state.materialized == len(YEAR), (asset, state)
        assert not state.failed and not state.stale and not state.missing, (asset, state)
    # Months with m+6 in the year are final; the last six stay provisional.
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for name in ("claimant_outcomes", "skills_outcomes"):
            rows = con.sql(
                f"SELECT month, bool_or(provisional) FROM trust.{name} GROUP BY month ORDER BY 1"
            ).fetchall()
            assert [m for m, provisional in rows if not provisional] == YEAR[:6], name
            assert [m for m, provisional in rows if provisional] == YEAR[6:], name


def test_a_second_refresh_has_nothing_to_do(refreshed_year):
    _, defs, instance, _ = refreshed_year
    again = refresh(defs, instance)
    assert again.ok and again.runs == []


# --- failures: status tells, the next refresh repairs --------------------------------------


def fresh(home: Path):
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    first = refresh(defs, instance)
    assert first.ok, (first.failed_checks, first.failed_steps)
    return defs, instance


def correct(home: Path, spec, month: str, key=None, revision: int = 1) -> None:
    """A department republishes one month (a correction)."""
    uri = str(home / "shares" / spec.department / spec.table)
    publish_month(
        spec, month, uri, scale=TEST_SCALE, seed=TEST_SEED, key=key or KEY, revision=revision
    )


def state_of(instance, defs, asset: str):
    return states_for(instance, defs, TEST_MONTHS)[asset]


def states_for(instance, defs, months) -> dict:
    return {s.asset: s for s in partition_states(instance, defs, months)}


def test_a_failed_publish_step_is_failed_in_status_and_repaired(home):
    defs, instance = fresh(home)
    month = TEST_MONTHS[1]
    policy = home / "disclosure_policy.yaml"
    policy.write_text("threshold: [not, a, number\n")  # a broken policy file
    correct(home, UC_CLAIMANTS, month)

    broken = refresh(defs, instance)
    assert not broken.ok and not broken.failed_checks
    assert any(s.startswith("published/local_labour_market: ") for s in broken.failed_steps)
    state = state_of(instance, defs, "published/local_labour_market")
    assert month in state.failed and "disclosure_policy.yaml" in state.failed[month]
    assert state_of(instance, defs, "trust/local_labour_market").failed == {}

    policy.unlink()
    repaired = refresh(defs, instance)
    assert repaired.ok and repaired.runs
    for asset, state in states_for(instance, defs, TEST_MONTHS).items():
        assert not state.failed and not state.stale and not state.missing, (asset, state)


def test_a_killed_refresh_is_failed_then_repaired(home, capsys):
    env = {**os.environ, "LABOUR_TRUST_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labour_trust.cli", "--home", str(home), "refresh"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    first_line = proc.stdout.readline()  # the first run finished: the next one is under way
    assert first_line.startswith("[  1]"), first_line
    time.sleep(1.0)
    proc.kill()
    proc.wait(30)

    assert main(["--home", str(home), "refresh"]) == 0  # marks the killed run failed, reruns
    capsys.readouterr()
    assert main(["--home", str(home), "status", "--json"]) == 0
    assets = json.loads(capsys.readouterr().out)["assets"]
    for asset in assets:
        assert asset["materialized"] == len(TEST_MONTHS), asset
        assert not asset["failed"] and not asset["stale"] and not asset["in_progress"], asset


def test_one_broken_share_does_not_hold_back_another_shares_correction(home):
    defs, instance = fresh(home)
    month = TEST_MONTHS[1]
    garbage = home / "shares" / "dwp" / "uc_claimants" / "_delta_log" / f"{99:020d}.json"
    garbage.write_text("not json")
    before = latest_data_version(instance, dg.AssetKey(["trust", "sector_view"]), month)
    correct(home, PAYE_RTI, month)

    report = refresh(defs, instance)
    assert not report.ok
    assert any("dwp/uc_claimants" in f for f in report.share_faults)
    assert not report.failed_steps and not report.failed_checks
    after = latest_data_version(instance, dg.AssetKey(["trust", "sector_view"]), month)
    assert after != before  # PAYE's correction went through
    assert not state_of(instance, defs, "published/sector_view").stale


def test_a_share_tokenised_under_another_key_blocks_linking_with_a_clear_error(home):
    defs, instance = fresh(home)
    month = TEST_MONTHS[1]
    correct(home, PAYE_RTI, month, key=LinkageKey(b"a-rotated-key-nobody-told-us-of"))

    report = refresh(defs, instance)
    assert not report.ok
    failure = next(s for s in report.failed_steps if s.startswith("trust/local_labour_market"))
    assert "different linkage keys" in failure and "hmrc/paye_rti" in failure
    assert "dwp/uc_claimants" in failure
    assert month in state_of(instance, defs, "trust/local_labour_market").failed


def test_a_backfill_reruns_its_range_and_requests_no_month_past_the_data(home, capsys):
    """`refresh --months A:B --select S`: one run per month with data, whatever its state;
    months no department has published are reported, never requested."""
    assert main(["--home", str(home), "refresh"]) == 0
    capsys.readouterr()
    months = f"{TEST_MONTHS[-1]}:{shift_month(TEST_MONTHS[-1], 2)}"
    assert (
        main(["--home", str(home), "refresh", "--months", months, "--select", "group:trust"]) == 0
    )
    out = capsys.readouterr().out
    runs = [line for line in out.splitlines() if line.startswith("[")]
    assert len(runs) == 1 and TEST_MONTHS[-1] in runs[0] and "trust/" in runs[0], out
    assert "hmrc/paye_rti" not in runs[0]  # only the selection
    later = [shift_month(TEST_MONTHS[-1], n) for n in (1, 2)]
    assert f"no department has published them yet: {', '.join(later)}" in out, out
    instance = embedded_instance(home)
    for name in TRUST_DATASETS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(["trust", name]), asset_partitions=[TEST_MONTHS[-1]]
            ),
            limit=5,
        ).records
        assert len(records) == 2, name  # the refresh's and the backfill's
