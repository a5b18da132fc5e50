"""Randomised feeds (numpy, a few thousand rows over 8 months): every figure of every dataset
against the plain-Python oracle, including the months at both edges of the data."""

from __future__ import annotations

import pytest

from labour_trust.trust.datasets import TRUST_DATASETS, compute
from labour_trust_tests.trust import oracle
from labour_trust_tests.trust.compare import (
    assert_cells_equal,
    assert_rows_equal,
    contributor_cells,
    contributors,
)
from labour_trust_tests.trust.feeds_fixture import connect, random_feeds

MONTHS = [f"2023-{m:02d}" for m in range(5, 13)]
# First month (no m-1), middle (everything present), m+3 present but m+6 absent, and m+3
# absent as well.
CHECKED = ["2023-05", "2023-06", "2023-09", "2023-11"]


@pytest.fixture(scope="module", params=[7, 2024])
def feeds(request):
    return random_feeds(request.param, MONTHS)


@pytest.fixture(scope="module")
def con(feeds):
    return connect(feeds, as_dataset=True)


def test_random_feeds_are_big_enough_to_mean_something(feeds):
    assert len(feeds["paye_rti"]) > 5000
    assert len(feeds["uc_claimants"]) > 2500
    people_jobs = {}
    for r in feeds["paye_rti"]:
        people_jobs.setdefault((r["person_token"], r["month"]), set()).add(r["lad_code"])
    assert any(len(lads) > 1 for lads in people_jobs.values())


@pytest.mark.parametrize("name", list(TRUST_DATASETS))
@pytest.mark.parametrize("month", CHECKED)
def test_random_feeds_match_the_oracle(feeds, con, name, month):
    ds = TRUST_DATASETS[name]
    expected_rows, expected_contributors = oracle.DATASETS[name]
    expected = expected_rows(feeds, month)
    assert_rows_equal(compute(con, ds, month), expected, ds.dimensions)
    # The check must bite: some cells are non-trivial.
    assert any(r.get(ds.counts[0], 0) for r in expected)
    actual = contributors(con, ds, month)
    for col, cells in expected_contributors(feeds, month).items():
        assert_cells_equal(contributor_cells(actual[col], ds.dimensions), cells)
