"""compute_many shares stages between datasets and gives the same rows as compute."""

from __future__ import annotations

import pytest

from labour_trust.trust.datasets import TRUST_DATASETS, compute, compute_many
from labour_trust_tests.trust import test_datasets_handmade as handmade
from labour_trust_tests.trust.compare import assert_rows_equal
from labour_trust_tests.trust.feeds_fixture import connect, random_feeds


@pytest.mark.parametrize(
    "names",
    [list(TRUST_DATASETS), ["local_labour_market", "sector_view"], ["claimant_outcomes"]],
)
def test_compute_many_equals_compute(names):
    feeds = random_feeds(5, [f"2023-{m:02d}" for m in range(5, 13)], persons=800)
    con = connect(feeds)
    got = compute_many(con, names, "2023-06")
    assert list(got) == names
    for name in names:
        ds = TRUST_DATASETS[name]
        expected = compute(con, ds, "2023-06")
        assert got[name].schema == expected.schema
        assert_rows_equal(got[name], expected.to_pylist(), ds.dimensions)
    # The shared stages were temporary.
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not tables & {"paye_jobs", "paye_person"}


def test_compute_many_shares_the_paye_stages():
    con = connect(handmade.FEEDS)
    executed: list[str] = []
    real_execute = con.execute

    class Spy:
        def __getattr__(self, name):
            return getattr(con, name)

        def execute(self, sql, *args):
            executed.append(sql)
            return real_execute(sql, *args)

    compute_many(Spy(), ["local_labour_market", "sector_view"], "2024-02")
    created = [s.split(" AS ")[0] for s in executed if s.startswith("CREATE")]
    # The per-person aggregate is shared; job rows are cheaper to scan again than to copy.
    assert created == ["CREATE OR REPLACE TEMP TABLE paye_person"]
