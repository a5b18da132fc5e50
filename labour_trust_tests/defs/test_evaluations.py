"""Evaluation assets in real Dagster runs: feeds checked first, then the cohort month."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import pytest
import yaml

from labour_trust.defs.evaluations import build_evaluation_asset, evaluation_key, feed_reads
from labour_trust.defs.feed_offsets import build_offset_assets
from labour_trust.defs.feeds import build_feed_asset
from labour_trust.defs.resources import ShareStore, build_resources
from labour_trust.months import shift_month
from labour_trust_tests.evaluation.conftest import FEEDS, MONTH, MONTHS, small_spec

SPEC = small_spec()
UNBALANCED = small_spec(name="no_covariates_in_model", propensity_covariates=[])


@pytest.fixture(scope="module")
def checked_home(tmp_path_factory, effect_shares):
    """A home whose feed pointers cover every month the evaluation reads."""
    home = tmp_path_factory.mktemp("home")
    resources = build_resources(home) | {"shares": ShareStore(root=str(effect_shares))}
    feeds = {f.name: build_feed_asset(f) for f in FEEDS}
    instance = dg.DagsterInstance.ephemeral()
    fe_months = {shift_month(MONTH, o) for o in SPEC.fe_offsets}
    for month in MONTHS:
        assets = [a for name, a in feeds.items() if name != "dfe/fe_learners" or month in fe_months]
        result = dg.materialize(assets, resources=resources, partition_key=month, instance=instance)
        assert result.success
    return home, resources, list(feeds.values()), instance


def _materialise(checked_home, spec):
    """The cohort month, with the pointers of its horizons' feed months, in one run."""
    _home, resources, feeds, instance = checked_home
    horizons = build_offset_assets([feed_reads(spec)])
    return dg.materialize(
        [*feeds, *horizons, build_evaluation_asset(spec)],
        selection=[evaluation_key(spec.name), *(a.key for a in horizons)],
        resources=resources,
        partition_key=MONTH,
        instance=instance,
        raise_on_error=False,
    )


def _evaluation_events(result: dg.ExecuteInProcessResult, spec) -> list:
    key = evaluation_key(spec.name)
    return [e for e in result.get_asset_materialization_events() if e.asset_key == key]


def test_evaluation_materialises_with_balance_and_results(checked_home):
    home = checked_home[0]
    result = _materialise(checked_home, SPEC)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "balance" and check.passed
    (event,) = _evaluation_events(result, SPEC)
    metadata = event.materialization.metadata
    assert metadata["provisional"].value is False
    assert metadata["treated"].value > 500
    assert "| employed | 6 | matched |" in metadata["estimates"].value
    # The result page's picture: effect by horizon, as an inline image the UI renders.
    assert metadata["effect_by_horizon"].value.startswith("![effect by horizon")
    assert "data:image/png;base64," in metadata["effect_by_horizon"].value
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.sql(
            f"SELECT estimator, status FROM evaluation.{SPEC.name}_published WHERE month = ?",
            params=[MONTH],
        ).fetchall()
        assert len(rows) == 2 * len(SPEC.outcomes) * len(SPEC.horizons)
        assert {status for _, status in rows} == {"published"}
        (n,) = con.sql(f"SELECT count(*) FROM evaluation.{SPEC.name}_balance").fetchall()[0]
        assert n > len(SPEC.covariates)


def test_balance_check_blocks_when_the_model_has_no_covariates(checked_home):
    home = checked_home[0]
    result = _materialise(checked_home, UNBALANCED)
    assert not result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "balance" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert "age_band" in (check.description or "")
    assert not _evaluation_events(result, UNBALANCED)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = {t for (t,) in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert UNBALANCED.name not in tables  # nothing written


def test_cli_lists_and_shows_the_latest_published_results(checked_home, capsys):
    import argparse

    from labour_trust.evaluation.cli import add_commands

    home = checked_home[0]
    assert _materialise(checked_home, SPEC).success
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())

    def run(*argv: str) -> str:
        args = parser.parse_args(["evaluations", *argv])
        args.home = home
        assert args.func(args) == 0
        return capsys.readouterr().out

    # The home has no evaluations.yaml: the demo's specs, without results of their own.
    listed = json.loads(run("list", "--json"))
    assert {e["name"] for e in listed["evaluations"]} >= {"employability_course_claimants"}
    # A home file replaces the demo: the test evaluation and its results.
    (home / "evaluations.yaml").write_text(
        yaml.safe_dump({"evaluations": [SPEC.model_dump(mode="json", exclude_none=True)]})
    )
    assert f"{SPEC.name}" in run("list") and MONTH in run("list")
    shown = json.loads(run("show", SPEC.name, "--json"))
    assert shown["latest"]["month"] == MONTH and not shown["latest"]["provisional"]
    assert {r["status"] for r in shown["latest"]["estimates"]} == {"published"}
    text = run("show", SPEC.name, "--plot", str(home / "effect.png"))
    assert "latest cohort month 2024-04 (final)" in text and "employed" in text
    assert (home / "effect.png").read_bytes()[:4] == b"\x89PNG"
    (home / "evaluations.yaml").unlink()


def test_a_cohort_under_min_treated_is_not_estimated(checked_home):
    spec = small_spec(name="too_few_treated", min_treated=100_000)
    result = _materialise(checked_home, spec)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and "not assessed" in (check.description or "")
    (event,) = _evaluation_events(result, spec)
    assert event.materialization.metadata["estimated"].value is False
