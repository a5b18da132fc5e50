"""The four trust datasets on small hand-made feeds: every figure against the oracle, and
the edge cases spelled out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from labour_trust.reference.geography import UK_CODE
from labour_trust.trust.datasets import TRUST_DATASETS, compute
from labour_trust_tests.trust import oracle
from labour_trust_tests.trust.compare import (
    assert_cells_equal,
    assert_rows_equal,
    contributor_cells,
    contributors,
)
from labour_trust_tests.trust.feeds_fixture import connect, token

A, B, D = "E06000001", "E06000002", "E06000003"  # Hartlepool, Middlesbrough, Redcar: TLC
C = "E09000007"  # Camden: TLI (London)
NE, LONDON = "TLC", "TLI"
P = {i: token(f"person-{i}") for i in range(1, 15)}
HEALTH, SCIENCE = "01 Health, Public Services and Care", "02 Science and Mathematics"
BUSINESS = "15 Business, Administration and Law"
MONTHS = [f"2024-{m:02d}" for m in range(1, 9)]  # PAYE holds Jan–Aug 2024


def uc(p, month, lad, regime, age="25-34", sex="F", disabled=False):
    return dict(
        person_token=P[p],
        month=month,
        lad_code=lad,
        age_band=age,
        sex=sex,
        disability=disabled,
        conditionality_regime=regime,
        duration_band="0-3 months",
    )


def job(p, month, lad, sic, pay, start, employer=1):
    return dict(
        person_token=P[p],
        employer_token=token(f"employer-{p}-{employer}"),
        month=month,
        lad_code=lad,
        sic_section=sic,
        gross_pay_month=float(pay),
        start_date=dt.date.fromisoformat(start),
    )


def fe(p, month, lad, ssa, level, programme, outcome):
    return dict(
        person_token=P[p],
        month=month,
        lad_code=lad,
        ssa_tier1=ssa,
        level=level,
        programme=programme,
        outcome=outcome,
    )


def firm(e, month, lad, sic, band, employment):
    return dict(
        enterprise_token=token(f"enterprise-{e}"),
        month=month,
        lad_code=lad,
        sic_section=sic,
        size_band=band,
        employment=employment,
        turnover=100,
    )


SFW = "Searching for work"
FEEDS = {
    "uc_claimants": [
        uc(2, "2024-01", A, SFW),
        uc(7, "2024-01", C, "Planning for work"),
        uc(1, "2024-02", A, SFW, "16-24", "F", True),
        uc(2, "2024-02", A, SFW, "25-34", "M", False),
        uc(3, "2024-02", A, "Working - with requirements", "35-49"),
        uc(4, "2024-02", B, SFW, "35-49", "F"),
        uc(5, "2024-02", C, SFW, "50-64", "M", True),
        uc(6, "2024-02", C, "No work requirements", "65+"),
        uc(1, "2024-03", A, SFW, "16-24", "F", True),
        uc(4, "2024-06", B, SFW, "35-49", "F"),
    ],
    "paye_rti": [
        job(9, "2024-01", A, "G", 2000, "2020-01-01"),
        job(10, "2024-01", B, "G", 2500, "2024-01-31"),  # last day: a January hire
        # February (m): P3 has two jobs in two sections, one new; P11's employers disagree
        # on residence; P2 (on UC in January) and P7 (on UC in January) are new hires.
        job(3, "2024-02", A, "G", 1000, "2023-05-01", employer=1),
        job(3, "2024-02", A, "I", 500, "2024-02-10", employer=2),
        job(7, "2024-02", C, "J", 3000, "2024-02-01"),
        job(9, "2024-02", A, "G", 2000, "2020-01-01"),
        job(10, "2024-02", B, "G", 2500, "2024-01-31"),
        job(11, "2024-02", C, "G", 1200, "2022-01-01", employer=1),
        job(11, "2024-02", B, "K", 800, "2024-02-15", employer=2),
        job(2, "2024-02", A, "Q", 800, "2024-02-29"),
        job(9, "2024-03", A, "G", 2000, "2020-01-01"),
        job(9, "2024-04", A, "G", 2000, "2020-01-01"),
        # May = m+3 for February: P1's job starts on the first day of m+3.
        job(1, "2024-05", A, "I", 900, "2024-05-01"),
        job(4, "2024-05", B, "G", 1100, "2023-01-01"),
        job(9, "2024-05", A, "G", 2000, "2020-01-01"),
        job(1, "2024-06", A, "I", 900, "2024-05-01"),
        job(9, "2024-06", A, "G", 2000, "2020-01-01"),
        job(9, "2024-07", A, "G", 2000, "2020-01-01"),
        # August = m+6 for February: P1 has two jobs (pay summed to 1000).
        job(1, "2024-08", A, "I", 700, "2024-05-01", employer=1),
        job(1, "2024-08", A, "G", 300, "2024-07-01", employer=2),
        job(5, "2024-08", C, "J", 1200, "2024-08-01"),
        job(8, "2024-08", A, "M", 1800, "2024-06-01"),
        job(2, "2024-08", A, "Q", 850, "2024-02-29"),
        job(9, "2024-08", A, "G", 2000, "2020-01-01"),
    ],
    "fe_learners": [
        fe(8, "2024-02", A, HEALTH, "Level 2", "apprenticeship", "achievement"),
        fe(8, "2024-02", A, BUSINESS, "Level 3", "education_and_training", "achievement"),
        fe(8, "2024-02", A, HEALTH, "Level 3", "apprenticeship", "start"),
        fe(12, "2024-02", C, HEALTH, "Level 2", "community_learning", "achievement"),
        fe(12, "2024-02", C, HEALTH, "Level 3", "apprenticeship", "start"),
        fe(12, "2024-02", C, SCIENCE, "Level 3", "apprenticeship", "start"),
        fe(
            13,
            "2024-02",
            B,
            "05 Construction, Planning and the Built Environment",
            "Level 1",
            "apprenticeship",
            "withdrawal",
        ),
        fe(14, "2024-02", D, HEALTH, "Level 2", "apprenticeship", "achievement"),
    ],
    "business_population": [
        firm(1, "2024-02", A, "G", "micro (0-9)", 5),
        firm(2, "2024-02", A, "C", "large (250+)", 900),
        firm(3, "2024-02", D, "F", "small (10-49)", 20),
        firm(4, "2024-02", C, "J", "medium (50-249)", 100),
    ],
}


@pytest.fixture(scope="module")
def con():
    return connect(FEEDS)


def rows_by(table, *dims):
    """Rows keyed by their dimension values (a bare value for a single dimension)."""
    if len(dims) == 1:
        return {r[dims[0]]: r for r in table.to_pylist()}
    return {tuple(r[d] for d in dims): r for r in table.to_pylist()}


# ------------------------------------------------------------- every figure vs the oracle


@pytest.mark.parametrize("name", list(TRUST_DATASETS))
@pytest.mark.parametrize("month", MONTHS)
def test_every_figure_matches_the_oracle(con, name, month):
    ds = TRUST_DATASETS[name]
    expected_rows, expected_contributors = oracle.DATASETS[name]
    assert_rows_equal(compute(con, ds, month), expected_rows(FEEDS, month), ds.dimensions)
    actual = contributors(con, ds, month)
    for col, cells in expected_contributors(FEEDS, month).items():
        assert_cells_equal(contributor_cells(actual[col], ds.dimensions), cells)


@pytest.mark.parametrize("name", list(TRUST_DATASETS))
def test_contributor_columns_agree_with_contributor_rows(con, name):
    ds = TRUST_DATASETS[name]
    table = rows_by(compute(con, ds, "2024-02"), *ds.dimensions)
    for col, rows in contributors(con, ds, "2024-02").items():
        cells = contributor_cells(rows, ds.dimensions)
        for key, row in table.items():
            assert row[f"{col}_contributors"] == len(cells.get(key, [])), (col, key)


# ------------------------------------------------------------------- local_labour_market


def test_local_labour_market_by_hand(con):
    t = rows_by(compute(con, "local_labour_market", "2024-02"), "area_code")
    assert len(t) == 361 + 12 + 1
    a = t[A]
    assert (a["uc_claimants"], a["uc_searching_for_work"], a["uc_working_with_requirements"]) == (
        3,
        2,
        1,
    )
    assert a["uc_claimants_in_paye"] == 2  # P2 and P3 (P3 with two jobs counts once)
    # P3's two jobs are summed: pays 1500, 2000, 800.
    assert (a["paye_employees"], a["median_pay"]) == (3, 1500.0)
    assert a["mean_pay"] == pytest.approx(4300 / 3)
    assert (a["fe_starts"], a["fe_achievements"], a["fe_achievements_contributors"]) == (1, 2, 1)
    assert (a["enterprises"], a["enterprises_micro"], a["enterprises_large"]) == (2, 1, 1)
    # P11 is resident in B (the smaller of their two LAD codes), not in Camden.
    assert (t[B]["paye_employees"], t[B]["median_pay"]) == (2, 2250.0)
    assert (t[C]["paye_employees"], t[C]["median_pay"]) == (1, 3000.0)
    # Redcar has no claimants and no employees: zeros, null median and mean.
    d = t[D]
    assert (d["uc_claimants"], d["uc_claimants_in_paye"], d["paye_employees"]) == (0, 0, 0)
    assert d["median_pay"] is None and d["mean_pay"] is None
    assert (d["fe_achievements"], d["enterprises_small"]) == (1, 1)
    # Region and UK: counts are sums of LADs, medians recomputed over persons.
    ne = t[NE]
    assert (ne["area_level"], ne["parent_code"]) == ("itl1", UK_CODE)
    assert (ne["uc_claimants"], ne["paye_employees"], ne["median_pay"]) == (4, 5, 2000.0)
    assert ne["mean_pay"] == pytest.approx(1760.0)
    uk = t[UK_CODE]
    assert (uk["area_level"], uk["parent_code"]) == ("uk", None)
    assert (uk["uc_claimants"], uk["paye_employees"], uk["median_pay"]) == (6, 6, 2000.0)
    lads = [r for r in t.values() if r["area_level"] == "lad"]
    for col in TRUST_DATASETS["local_labour_market"].counts:
        assert uk[col] == sum(r[col] for r in lads), col


def test_scotland_without_rows_is_all_zero(con):
    t = rows_by(compute(con, "local_labour_market", "2024-02"), "area_code")
    scotland = t["TLM"]
    ds = TRUST_DATASETS["local_labour_market"]
    assert all(scotland[c] == 0 for c in ds.counts)


# --------------------------------------------------------------------------- sector_view


def test_sector_view_by_hand(con):
    t = rows_by(compute(con, "sector_view", "2024-02"), "area_code", "sic_section")
    assert len(t) == 13 * 22
    g = t[(NE, "G")]
    # P3, P9, P10 and P11 (whose G job row says Camden but who lives in Middlesbrough).
    assert (g["employees"], g["median_pay"], g["new_hires"]) == (4, 1600.0, 0)
    assert (t[(NE, "I")]["new_hires"], t[(NE, "I")]["hires_from_uc"]) == (1, 0)
    assert (t[(NE, "Q")]["new_hires"], t[(NE, "Q")]["hires_from_uc"]) == (1, 1)
    total = t[(NE, "Total")]
    # P3 works in G and I: counted in both sections but once in Total.
    assert total["employees"] == 5
    assert total["median_pay"] == 1000.0  # median of the 7 jobs, not of persons
    assert (total["new_hires"], total["hires_from_uc"]) == (3, 1)
    assert (total["enterprises"], total["enterprise_employment"]) == (3, 925)
    uk = t[(UK_CODE, "Total")]
    assert (uk["employees"], uk["new_hires"], uk["hires_from_uc"]) == (6, 4, 2)
    assert (uk["enterprises"], uk["enterprise_employment"]) == (4, 1025)
    empty = t[("TLM", "A")]
    assert (empty["employees"], empty["median_pay"], empty["enterprises"]) == (0, None, 0)


def test_sector_view_hires_on_month_edges(con):
    t = rows_by(compute(con, "sector_view", "2024-01"), "area_code", "sic_section")
    # P10 started on 31 January: a January hire. UC for December is absent: no UC hires.
    assert (t[(NE, "G")]["new_hires"], t[(NE, "G")]["hires_from_uc"]) == (1, 0)
    t = rows_by(compute(con, "sector_view", "2024-02"), "area_code", "sic_section")
    assert t[(NE, "G")]["new_hires"] == 0


# --------------------------------------------------------------------- claimant_outcomes


def test_claimant_outcomes_by_hand(con):
    t = rows_by(
        compute(con, "claimant_outcomes", "2024-02"), "area_code", "group_type", "group_value"
    )
    assert len(t) == 374 * 10
    a = t[(A, "all", "all")]
    # P1 (job from 1 May = m+3 exactly) and P2; at m+6 P1 has two jobs summed to 1000.
    assert (a["cohort"], a["employed_m3"], a["employed_m6"]) == (2, 1, 2)
    assert (a["share_employed_m3"], a["share_employed_m6"]) == (0.5, 1.0)
    assert (a["median_pay_m6"], a["median_pay_m6_contributors"]) == (925.0, 2)
    assert a["provisional"] is False
    uk = t[(UK_CODE, "all", "all")]
    assert (uk["cohort"], uk["employed_m3"], uk["employed_m6"], uk["median_pay_m6"]) == (
        4,
        2,
        3,
        1000.0,
    )
    women = t[(UK_CODE, "sex", "F")]
    assert (women["cohort"], women["employed_m3"], women["employed_m6"]) == (2, 2, 1)
    disabled = t[(NE, "disability", "disabled")]
    assert (disabled["cohort"], disabled["employed_m6"]) == (1, 1)
    none = t[(D, "all", "all")]
    assert (none["cohort"], none["employed_m3"], none["share_employed_m3"]) == (0, 0, None)


def test_claimant_outcomes_at_the_edge_of_the_data(con):
    # March: m+3 (June) present, m+6 (September) absent.
    t = rows_by(
        compute(con, "claimant_outcomes", "2024-03"), "area_code", "group_type", "group_value"
    )
    a = t[(A, "all", "all")]
    assert (a["cohort"], a["employed_m3"], a["share_employed_m3"]) == (1, 1, 1.0)
    assert a["employed_m6"] is None and a["share_employed_m6"] is None
    assert a["median_pay_m6"] is None and a["median_pay_m6_contributors"] is None
    assert all(r["provisional"] for r in t.values())
    # June: neither m+3 nor m+6 present.
    t = rows_by(
        compute(con, "claimant_outcomes", "2024-06"), "area_code", "group_type", "group_value"
    )
    b = t[(B, "all", "all")]
    assert b["cohort"] == 1 and b["employed_m3"] is None and b["employed_m6"] is None
    assert b["provisional"] is True


# ----------------------------------------------------------------------- skills_outcomes


def test_skills_outcomes_by_hand(con):
    t = rows_by(compute(con, "skills_outcomes", "2024-02"), "area_code", "ssa_tier1", "level")
    assert len(t) == 13 * 16 * 6
    cell = t[(NE, HEALTH, "Level 2")]  # P8 (employed at m+6, 1800) and P14 (not)
    assert (cell["achievers"], cell["employed_m6"], cell["share_employed_m6"]) == (2, 1, 0.5)
    assert (cell["median_pay_m6"], cell["provisional"]) == (1800.0, False)
    # P8 achieved in two subjects and levels: once in each cell, once in Total.
    assert t[(NE, BUSINESS, "Level 3")]["achievers"] == 1
    assert t[(NE, "Total", "Total")]["achievers"] == 2
    assert t[(UK_CODE, HEALTH, "Level 2")]["achievers"] == 3
    assert t[(UK_CODE, "Total", "Level 2")]["achievers"] == 3
    assert t[(UK_CODE, "Total", "Total")]["achievers"] == 3
    # Withdrawals and starts are not achievements.
    assert t[(NE, "Total", "Level 1")]["achievers"] == 0


def test_skills_outcomes_provisional_when_m6_absent(con):
    t = compute(con, "skills_outcomes", "2024-03").to_pylist()
    assert all(r["provisional"] and r["employed_m6"] is None for r in t)


def test_arrow_dataset_views_give_the_same_result():
    """The lead registers pyarrow datasets (Delta scans), not tables."""
    con = connect(FEEDS, as_dataset=True)
    for name, ds in TRUST_DATASETS.items():
        expected_rows, _ = oracle.DATASETS[name]
        assert_rows_equal(
            compute(con, ds, "2024-02"), expected_rows(FEEDS, "2024-02"), ds.dimensions
        )
