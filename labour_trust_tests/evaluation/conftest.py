"""Shares simulated with a known programme effect (and with none), seeded once a session.

Small scale, but the programme's uptake is raised so that one cohort month holds ~800
treated claimants among ~20,000: enough for the 95% intervals to be informative.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labour_trust.evaluation.spec import load_evaluations
from labour_trust.feeds.departments import FE_LEARNERS, PAYE_RTI, UC_CLAIMANTS
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.synthetic import SkillsProgramme, month_range, seed_shares

MONTH = "2024-04"  # the cohort month: look-back 2024-01.., horizons up to 2024-10
MONTHS = month_range("2024-01:2024-10")
SCALE = 0.005
SEED = 7
UPTAKE = 30.0
EFFECT = 0.10
KEY = LinkageKey(b"test-linkage-key-not-a-secret")
FEEDS = (UC_CLAIMANTS, PAYE_RTI, FE_LEARNERS)


def small_spec(**changes):
    """The demo's employability evaluation, with windows that fit the seeded months."""
    spec = load_evaluations()["employability_course_claimants"]
    comparison = spec.comparison.model_copy(update={"prior_participation_months": 3})
    return spec.model_copy(
        update={"lookback_months": 3, "horizons": [3, 6], "comparison": comparison, **changes}
    )


def _seed(root: Path, effect: float) -> Path:
    seed_shares(
        str(root),
        MONTHS,
        scale=SCALE,
        seed=SEED,
        key=KEY,
        feeds=FEEDS,
        skills=SkillsProgramme(effect=effect, uptake=UPTAKE),
    )
    return root


@pytest.fixture(scope="session")
def effect_shares(tmp_path_factory) -> Path:
    return _seed(tmp_path_factory.mktemp("effect") / "shares", EFFECT)


@pytest.fixture(scope="session")
def null_shares(tmp_path_factory) -> Path:
    return _seed(tmp_path_factory.mktemp("null") / "shares", 0.0)
