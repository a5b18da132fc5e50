"""Contributor summaries give the disclosure rules the same answers as every contributor."""

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from labour_trust.disclosure import DisclosurePolicy
from labour_trust.disclosure.checks import check_magnitudes
from labour_trust.disclosure.description import Dimension, Magnitude, TableDescription
from labour_trust.disclosure.primary import contributor_stats, magnitude_primaries
from labour_trust.trust.contributors import TOP_CONTRIBUTORS, of_magnitude, summary_sql

PARENT = {"L1": "R1", "L2": "R1", "L3": "R2", "L4": "R2", "R1": "UK", "R2": "UK"}
PAY = TableDescription(
    "pay",
    (Dimension("area", parent=PARENT),),
    magnitudes=(Magnitude("total_pay", statistic="sum"),),
)
CELLS = ["L1", "L2", "L3", "L4", "R1", "R2", "UK"]


def _contributors(seed: int) -> pa.Table:
    """Each LAD: a random number of contributors, some cells dominated by one or two."""
    rng = np.random.default_rng(seed)
    areas, values = [], []
    for lad in ("L1", "L2", "L3", "L4"):
        n = int(rng.integers(1, 40))
        v = rng.lognormal(7, 1, n).round(2)
        if rng.random() < 0.4:
            v[0] *= rng.choice([5, 50, 500])
        areas += [lad] * n
        values += v.tolist()
    return pa.table({"area": areas, "value": values})


def _summary(rows: pa.Table) -> pa.Table:
    with duckdb.connect() as con:
        con.register("raw", rows)
        sql = summary_sql(("area",), "SELECT * FROM raw", ["total_pay"])
        return of_magnitude(con.sql(sql).to_arrow_table(), "total_pay")


@pytest.mark.parametrize("seed", range(12))
def test_a_summary_gives_the_rules_the_answers_of_every_contributor(seed):
    rows = _contributors(seed)
    summary = _summary(rows)
    assert summary.num_rows <= 4 * (TOP_CONTRIBUTORS + 1)
    table = pa.table({"area": CELLS, "total_pay": [1.0] * len(CELLS)})
    for policy in (DisclosurePolicy(), DisclosurePolicy(p_percent=40, nk_n=5, nk_k=60)):
        full = contributor_stats(rows, PAY, nk_n=policy.nk_n)
        short = contributor_stats(summary, PAY, nk_n=policy.nk_n)
        assert full.keys() == short.keys()
        for cell, (n, total, x1, x2, top) in full.items():
            assert short[cell] == pytest.approx((n, total, x1, x2, top)), cell
        assert magnitude_primaries(table, PAY, policy, summary) == magnitude_primaries(
            table, PAY, policy, rows
        )
        # The independent check, on the published table, agrees too.
        full_check = check_magnitudes(table, PAY, policy, rows)
        short_check = check_magnitudes(table, PAY, policy, summary)
        assert [(v.cell, v.rule) for v in short_check.violations] == [
            (v.cell, v.rule) for v in full_check.violations
        ]


def test_a_cell_with_more_contributors_than_kept_is_summarised_into_one_row():
    rows = pa.table({"area": ["L1"] * 25, "value": [float(v) for v in range(1, 26)]})
    summary = _summary(rows).to_pylist()
    largest = [r for r in summary if r["contributors"] == 1]
    rest = [r for r in summary if r["contributors"] > 1]
    assert sorted(r["value"] for r in largest) == [float(v) for v in range(16, 26)]
    assert rest == [{"area": "L1", "value": float(sum(range(1, 16))), "contributors": 15}]
