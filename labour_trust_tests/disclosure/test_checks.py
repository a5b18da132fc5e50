import pyarrow as pa
import pytest

from labour_trust.disclosure.checks import (
    SDC_CHECKS,
    CheckResult,
    check_columns,
    check_counts,
    check_magnitudes,
    check_no_identifiers,
    check_published,
)
from labour_trust.disclosure.description import (
    ColumnGroup,
    Dimension,
    Magnitude,
    TableDescription,
)
from labour_trust.disclosure.engine import apply_policy
from labour_trust.disclosure.policy import DisclosurePolicy

from .tables import area_description, area_table, tree

POLICY = DisclosurePolicy()
PARENT = tree({"R1": ["L1", "L2", "L3"], "R2": ["L4", "L5"]})


def test_published_counts_threshold_and_rounding():
    d = area_description(PARENT, ["n"])
    table = pa.table(
        {"area": ["L1", "L2", "L3", "R1"], "n": pa.array([7, 12, 0, None], pa.int64())}
    )
    result = check_counts(table, d, POLICY)
    assert not result.passed
    rules = {(v.cell["area"], v.rule) for v in result.violations}
    assert rules == {("L1", "threshold"), ("L1", "rounding"), ("L2", "rounding")}
    assert "test_table.n [area=L1] breaks rule 'threshold'" in result.message


def test_published_disclosive_zero_is_caught():
    groups = [ColumnGroup.total("regime", "total", ["a", "b"], attribute=True)]
    d = TableDescription(
        "t", (Dimension("area"),), counts=("a", "b", "total"), column_groups=tuple(groups)
    )
    table = pa.table({"area": ["X", "Y"], "a": [20, 15], "b": [0, 10], "total": [20, 25]})
    result = check_counts(table, d, POLICY)
    assert [(v.cell, v.column, v.rule) for v in result.violations] == [
        ({"area": "X"}, "b", "disclosive_zero")
    ]


def _pay():
    d = TableDescription(
        "pay",
        (Dimension("area", parent=PARENT),),
        magnitudes=(Magnitude("mean_pay", statistic="mean"),),
    )
    contributors = pa.table(
        {
            "area": ["L1"] * 12 + ["L2"] * 5 + ["L4"] * 12,
            "value": [2000.0] * 12 + [1500.0] * 5 + [50000.0] + [100.0] * 11,
        }
    )
    return d, contributors


def test_published_magnitudes_contributors_dominance_rounding():
    d, contributors = _pay()
    table = pa.table(
        {"area": ["L1", "L2", "L4", "R1"], "mean_pay": [2000.0, 1500.0, 4250.0, 1853.0]}
    )
    result = check_magnitudes(table, d, POLICY, contributors)
    rules = {(v.cell["area"], v.rule) for v in result.violations}
    assert rules == {
        ("L2", "min_contributors"),
        ("L4", "p_percent"),
        ("L4", "nk_dominance"),
        ("L4", "rounding"),
        ("R1", "rounding"),
    }
    # The engine's output passes.
    engine_in = pa.table(
        {"area": ["L1", "L2", "L4", "R1"], "mean_pay": [2000.0, 1500.0, 4250.0, 1853.0]}
    )
    published = apply_policy(engine_in, d, POLICY, contributors=contributors).table
    assert check_magnitudes(published, d, POLICY, contributors).passed


def test_no_identifiers():
    token = "ab" * 32
    table = pa.table(
        {
            "area": ["E06000001", "E06000002"],
            "note": ["see AB 12 34 56 C", "fine"],
            "employer_token": [token, None],
            "label": ["x", f"id={token}"],
        }
    )
    result = check_no_identifiers(table, "leaky")
    found = {(v.column, v.rule) for v in result.violations}
    assert found == {
        ("note", "nino_value"),
        ("employer_token", "identifier_column"),
        ("employer_token", "token_value"),
        ("label", "token_value"),
    }
    # LAD codes, months and SIC letters are not identifiers.
    clean = pa.table(
        {
            "area_code": ["E06000001", "K02000001"],
            "month": ["2025-01"] * 2,
            "sic_section": ["A", "U"],
        }
    )
    assert check_no_identifiers(clean, "ok").passed


def test_check_published_runs_everything_on_engine_output():
    leaves = {"L1": {"n": 3}, "L2": {"n": 40}, "L3": {"n": 25}, "L4": {"n": 31}, "L5": {"n": 52}}
    d = area_description(PARENT, ["n"])
    policy = DisclosurePolicy(count_rounding_base=1)
    result = apply_policy(area_table(leaves, PARENT), d, policy)
    checks = check_published(result.table, d, policy)
    assert [c.check for c in checks] == [
        "columns",
        "identifiers",
        "counts",
        "audit",
    ]
    assert all(c.passed for c in checks), [c.message for c in checks]
    # Publishing the secondary again is caught by the audit.
    leaked = result.table.set_column(1, "n", pa.array([None, 40, 25, 31, 52, 68, 83, 151]))
    audit_check = check_published(leaked, d, policy)[-1]
    assert not audit_check.passed and "[area=L1]" in audit_check.message


def test_identified_contributors_are_summed_before_the_rules():
    # Twelve units but one enterprise owns eleven of them: it dominates the area.
    d = TableDescription(
        "biz",
        (Dimension("area", parent=PARENT),),
        magnitudes=(Magnitude("turnover", statistic="sum", unit="value"),),
    )
    contributors = pa.table(
        {"area": ["L1"] * 12, "contributor": ["big"] * 11 + ["small"], "value": [100.0] * 12}
    )
    table = pa.table({"area": ["L1"], "turnover": [1200.0]})
    rules = {v.rule for v in check_magnitudes(table, d, POLICY, contributors).violations}
    assert rules == {"min_contributors", "p_percent", "nk_dominance"}


def test_contributor_counts_and_undeclared_columns_are_not_published():
    d = TableDescription(
        "fe", (Dimension("area"),), counts=("starts",), contributor_counts={"starts": "learners"}
    )
    table = pa.table({"area": ["A"], "starts": [20], "learners": [15], "extra": [1]})
    result = check_columns(table, d)
    assert {(v.column, v.rule) for v in result.violations} == {
        ("learners", "hidden_column"),
        ("extra", "undeclared_column"),
    }


def test_check_names_are_the_sdc_checks():
    leaves = {"L1": {"n": 30}, "L2": {"n": 40}, "L3": {"n": 25}, "L4": {"n": 31}, "L5": {"n": 52}}
    d = area_description(PARENT, ["n"])
    checks = check_published(area_table(leaves, PARENT), d, POLICY)
    assert {c.check for c in checks} <= set(SDC_CHECKS)
    assert checks[0].message == "SDC check 'columns' on test_table: passed"
    with pytest.raises(ValueError, match="unknown SDC check 'published counts'"):
        CheckResult("published counts", "t", True)
