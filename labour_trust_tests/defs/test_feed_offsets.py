"""Feed months read at a distance: what a correction to one feed month re-runs, as Dagster's
planner sees the asset graph (the same partition mappings the daemon and backfills use)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from labour_trust.definitions import build_definitions
from labour_trust.defs.evaluations import evaluation_key
from labour_trust.defs.feed_offsets import direct_offsets, distant_offsets
from labour_trust.evaluation.spec import load_evaluations
from labour_trust.feeds.departments import FE_LEARNERS, PAYE_RTI, UC_CLAIMANTS
from labour_trust.months import shift_month

CORRECTED = "2025-06"  # every month it can reach, 12 back and 12 on, is a partition


@pytest.mark.parametrize(
    ("offsets", "direct", "distant"),
    [
        ((0,), (0,), ()),
        ((-1,), (-1,), ()),
        ((3, 6), (3,), (6,)),
        ((*range(-12, 1), 3, 6, 12), tuple(range(-12, 1)), (3, 6, 12)),
        ((6, 0, 1, 2), (0, 1, 2), (6,)),
    ],
)
def test_one_contiguous_run_is_read_directly_and_the_rest_at_a_distance(offsets, direct, distant):
    assert direct_offsets(offsets) == direct
    assert distant_offsets(offsets) == distant


def downstream(graph, key: dg.AssetKey, month: str) -> set[tuple[str, str]]:
    """Every (asset, month) the planner re-runs after ``key`` ``month`` changes."""
    seen: set[tuple[str, str]] = set()
    frontier = [(key, month)]
    while frontier:
        parent, partition = frontier.pop()
        for child in graph.get_children_partitions(parent, partition):
            item = (child.asset_key.to_user_string(), child.partition_key)
            if item not in seen:
                seen.add(item)
                frontier.append((child.asset_key, child.partition_key))
    return seen


def months_of(reached: set[tuple[str, str]], asset: str) -> set[str]:
    return {m for a, m in reached if a == asset}


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    home: Path = tmp_path_factory.mktemp("home")
    return build_definitions(home).resolve_asset_graph(), load_evaluations(home)


@pytest.mark.parametrize("feed", [UC_CLAIMANTS, PAYE_RTI])
def test_a_person_feed_correction_reaches_exactly_the_cohorts_that_read_the_month(graph, feed):
    asset_graph, specs = graph
    reached = downstream(asset_graph, dg.AssetKey(feed.asset_key_path), CORRECTED)
    for spec in specs.values():
        # Cohort m reads the month in its look-back (m-L … m) or as one of its horizons.
        expected = {shift_month(CORRECTED, k) for k in range(spec.lookback_months + 1)}
        expected |= {shift_month(CORRECTED, -h) for h in spec.horizons}
        # Not the cohorts between horizons (m-1, m-2, m-4 …), whose window of months
        # from look-back to last horizon merely spans the corrected month.
        assert months_of(reached, evaluation_key(spec.name).to_user_string()) == expected


def test_an_fe_correction_reaches_the_cohorts_whose_prior_participation_window_holds_it(graph):
    asset_graph, specs = graph
    reached = downstream(asset_graph, dg.AssetKey(FE_LEARNERS.asset_key_path), CORRECTED)
    for spec in specs.values():
        prior = spec.comparison.prior_participation_months
        expected = {shift_month(CORRECTED, k) for k in range(prior + 1)}
        assert months_of(reached, evaluation_key(spec.name).to_user_string()) == expected


def test_claimant_outcomes_rerun_for_their_m_plus_3_and_m_plus_6_only(graph):
    asset_graph, _ = graph
    reached = downstream(asset_graph, dg.AssetKey(PAYE_RTI.asset_key_path), CORRECTED)
    assert months_of(reached, "trust/claimant_outcomes") == {
        shift_month(CORRECTED, -3),
        shift_month(CORRECTED, -6),
    }
    # Published tables of a month are one protection problem: those months, and that one.
    assert months_of(reached, "published/claimant_outcomes") == {
        CORRECTED,
        shift_month(CORRECTED, -3),
        shift_month(CORRECTED, -6),
    }
