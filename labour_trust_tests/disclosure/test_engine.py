import csv
import io

import pyarrow as pa
import pytest

from labour_trust.disclosure.audit import audit
from labour_trust.disclosure.cells import build_grid
from labour_trust.disclosure.description import (
    ColumnGroup,
    Derived,
    DescriptionError,
    Dimension,
    Magnitude,
    TableDescription,
)
from labour_trust.disclosure.engine import METADATA_POLICY, apply_policy
from labour_trust.disclosure.export import csv_bytes, human_table
from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.disclosure.primary import count_primaries
from labour_trust.disclosure.secondary import Criterion, suppress_secondary

from .tables import area_description, area_table, cells, tree

NO_ROUNDING = DisclosurePolicy(count_rounding_base=1)


def _primaries_only(table: pa.Table, description, policy) -> pa.Table:
    """What ACRO publishes: primary cells blanked, margins left as they are."""
    grid = build_grid(table, description)
    blank = set(count_primaries(grid, policy))
    out = table
    for c, column in enumerate(grid.additive):
        values = [
            None if grid.cell(r, c) in blank else v
            for r, v in enumerate(table.column(column).to_pylist())
        ]
        out = out.set_column(out.column_names.index(column), column, pa.array(values, pa.int64()))
    return out


def _suppressed(result, column):
    return {k for k, v in cells(result.table, column).items() if v is None}


# -- the differencing attack ACRO misses -----------------------------------------------------

ROW = TableDescription(
    "row",
    (Dimension("area"),),
    counts=("a", "b", "total"),
    column_groups=(ColumnGroup.total("ab", "total", ["a", "b"], attribute=False),),
)
ROW_TABLE = pa.table({"area": ["X"], "a": [4], "b": [30], "total": [34]})


@pytest.mark.parametrize("policy", [NO_ROUNDING, DisclosurePolicy()], ids=["exact", "base5"])
def test_row_total_forces_a_secondary_suppression(policy):
    acro = _primaries_only(ROW_TABLE, ROW, policy)
    leak = audit(acro, ROW, policy)
    assert not leak.passed  # total - b gives a back (to within rounding)
    assert leak.failures[0].column == "a" and leak.failures[0].upper - leak.failures[0].lower < 10

    result = apply_policy(ROW_TABLE, ROW, policy)
    row = result.table.to_pylist()[0]
    assert row["a"] is None
    assert (row["b"] is None) != (row["total"] is None)  # exactly one more cell
    assert row["b"] is None  # the cheaper one
    assert result.status_of("b", area="X") == "secondary"
    assert audit(result.table, ROW, policy).passed


# -- hierarchy -------------------------------------------------------------------------------

PARENT = tree({"R1": ["L1", "L2", "L3"], "R2": ["L4", "L5"]})
LEAVES = {"L1": {"n": 3}, "L2": {"n": 40}, "L3": {"n": 25}, "L4": {"n": 30}, "L5": {"n": 50}}


def test_suppressed_lad_in_a_region_with_a_published_total():
    table, d = area_table(LEAVES, PARENT), area_description(PARENT, ["n"])
    assert not audit(_primaries_only(table, d, NO_ROUNDING), d, NO_ROUNDING).passed

    result = apply_policy(table, d, NO_ROUNDING)
    assert _suppressed(result, "n") == {"L1", "L3"}  # L3 is the cheapest sibling
    assert result.rule_of("n", area="L1") == "threshold"
    assert result.rule_of("n", area="L3") == "secondary"
    report = audit(result.table, d, NO_ROUNDING)
    assert report.passed
    assert {(i.cell["area"], i.lower, i.upper) for i in report.intervals} == {
        ("L1", 0, 28),
        ("L3", 0, 28),
    }


def test_rounding_alone_can_protect_a_cell():
    # With base 5 the region and its two published siblings leave L1 in [0, 11]: no
    # secondary suppression is needed, and the audit agrees.
    table, d = area_table(LEAVES, PARENT), area_description(PARENT, ["n"])
    policy = DisclosurePolicy()
    result = apply_policy(table, d, policy)
    assert _suppressed(result, "n") == {"L1"}
    report = audit(result.table, d, policy)
    assert report.passed and report.intervals[0].width >= 10


def test_two_dimensional_table_with_row_and_column_margins():
    sex = Dimension.total("sex", ["F", "M"], attribute=False)
    region = Dimension("area", parent={"R1": "UK", "R2": "UK"})
    d = TableDescription("by_sex", (region, sex), counts=("n",))
    interior = {("R1", "F"): 4, ("R1", "M"): 50, ("R2", "F"): 30, ("R2", "M"): 60}
    rows = dict(interior)
    for r in ("R1", "R2"):
        rows[(r, "Total")] = rows[(r, "F")] + rows[(r, "M")]
    for s in ("F", "M", "Total"):
        rows[("UK", s)] = rows[("R1", s)] + rows[("R2", s)]
    table = pa.table(
        {"area": [k[0] for k in rows], "sex": [k[1] for k in rows], "n": list(rows.values())}
    )
    result = apply_policy(table, d, NO_ROUNDING)
    hidden = {(r["area"], r["sex"]) for r in result.table.to_pylist() if r["n"] is None}
    assert hidden == set(interior)  # the cheapest cycle: the 2 × 2 rectangle
    assert audit(result.table, d, NO_ROUNDING).passed
    assert not audit(_primaries_only(table, d, NO_ROUNDING), d, NO_ROUNDING).passed


def test_disclosive_zeros_are_suppressed_and_protected():
    groups = [ColumnGroup.total("regime", "total", ["searching", "planning"], attribute=True)]
    parent = tree({"R1": ["L1", "L2"]})
    leaves = {
        "L1": {"searching": 20, "planning": 0, "total": 20},
        "L2": {"searching": 35, "planning": 15, "total": 50},
    }
    table = area_table(leaves, parent)
    d = area_description(parent, ["searching", "planning", "total"], groups)
    result = apply_policy(table, d, NO_ROUNDING)
    assert result.status_of("planning", area="L1") == "primary"
    assert result.rule_of("planning", area="L1") == "disclosive_zero"
    assert audit(result.table, d, NO_ROUNDING).passed


def test_independent_months_are_separate_problems():
    d = TableDescription("m", (Dimension("month"), Dimension("area", parent=PARENT)), counts=("n",))
    one = area_table(LEAVES, PARENT)
    months = pa.concat_tables(
        [
            one.append_column("month", pa.array(["2025-01"] * one.num_rows)),
            one.append_column("month", pa.array(["2025-02"] * one.num_rows)),
        ]
    ).select(["month", "area", "n"])
    result = apply_policy(months, d, NO_ROUNDING)
    assert result.loss.primary == 2 and result.loss.secondary == 2
    assert audit(result.table, d, NO_ROUNDING).passed


# -- rounding, statuses, magnitudes, export -----------------------------------------------------


def _mixed():
    d = TableDescription(
        "mixed",
        (Dimension("area"),),
        counts=("n",),
        magnitudes=(Magnitude("median_pay", statistic="median", unit="earnings"),),
        derived=(Derived("rate", ("n",), unit="percentage"),),
    )
    table = pa.table(
        {
            "area": ["A", "B", "C", "D", "E"],
            "n": [12, 13, 20, 7, 0],
            "median_pay": [1234.0, 1250.0, 1999.0, 1500.0, None],
            "rate": [12.35, 3.04, 5.0, 1.0, None],
        }
    )
    contributors = pa.table(
        {
            "area": [a for a in "ABCD" for _ in range(12)] + ["E"] * 3,
            "value": [1000.0 + i for i in range(48)] + [5.0] * 3,
        }
    )
    return table, d, contributors


def test_rounding_of_counts_earnings_and_percentages():
    table, d, contributors = _mixed()
    result = apply_policy(table, d, DisclosurePolicy(), contributors=contributors)
    out = {r["area"]: r for r in result.table.to_pylist()}
    assert [out[a]["n"] for a in "ABCE"] == [10, 15, 20, 0]
    assert [out[a]["median_pay"] for a in "ABC"] == [1200.0, 1300.0, 2000.0]
    assert [out[a]["rate"] for a in "ABC"] == [12.4, 3.0, 5.0]
    assert result.status_of("n", area="A") == "rounded"
    assert result.status_of("n", area="C") == "published"
    assert out["D"]["n"] is None and out["D"]["rate"] is None  # rate gives n back
    assert result.rule_of("rate", area="D") == "derived"
    assert result.status_of("median_pay", area="E") == "not_applicable"
    assert result.table.schema.metadata[METADATA_POLICY] == b"default-2"


def test_information_loss_summary():
    table, d, contributors = _mixed()
    loss = apply_policy(table, d, DisclosurePolicy(), contributors=contributors).loss
    assert (loss.cells, loss.primary, loss.secondary, loss.not_applicable) == (15, 1, 1, 2)
    assert loss.suppressed_value_share == pytest.approx(7 / 52)
    assert loss.by_column["n"]["primary"] == 1


def test_human_export_marks_c_and_z():
    table, d, contributors = _mixed()
    result = apply_policy(table, d, DisclosurePolicy(), contributors=contributors)
    human = {r["area"]: r for r in human_table(result).to_pylist()}
    assert human["D"] == {"area": "D", "n": "c", "median_pay": "1500", "rate": "c"}
    assert human["E"]["median_pay"] == "z" and human["A"]["rate"] == "12.4"
    rows = list(csv.DictReader(io.StringIO(csv_bytes(result).decode())))
    assert rows[3] == {"area": "D", "n": "c", "median_pay": "1500", "rate": "c"}


# -- sums: dominance and secondary suppression in money -----------------------------------------


def test_dominated_sum_is_protected_through_the_hierarchy():
    parent = tree({"R1": ["L1", "L2"], "R2": ["L3", "L4"]})
    d = TableDescription(
        "turnover",
        (Dimension("area", parent=parent),),
        magnitudes=(Magnitude("turnover", statistic="sum", unit="value"),),
    )
    firms = {
        "L1": [9000.0] + [10.0] * 11,
        "L2": [500.0] * 12,
        "L3": [400.0] * 12,
        "L4": [300.0] * 12,
    }
    contributors = pa.table(
        {
            "area": [a for a, vs in firms.items() for _ in vs],
            "value": [v for vs in firms.values() for v in vs],
        }
    )
    leaves = {a: {"turnover": int(sum(vs))} for a, vs in firms.items()}
    table = area_table(leaves, parent)
    result = apply_policy(table, d, DisclosurePolicy(), contributors=contributors)
    assert result.rule_of("turnover", area="L1") in {"p_percent", "nk_dominance"}
    assert result.loss.secondary >= 1
    report = audit(result.table, d, DisclosurePolicy())
    assert report.passed
    l1 = next(i for i in report.intervals if i.cell == {"area": "L1"})
    assert l1.upper - l1.lower >= 0.10 * l1.upper


def test_linprog_fallback_gives_a_protected_result_too():
    table, d = area_table(LEAVES, PARENT), area_description(PARENT, ["n"])
    grid = build_grid(table, d)
    primaries = set(count_primaries(grid, NO_ROUNDING))
    flat = grid.values.ravel()
    out = suppress_secondary(
        grid,
        primaries,
        (flat, flat),
        {"n": Criterion("count", 10)},
        NO_ROUNDING,
        force_linprog=True,
    )
    assert {grid.keys[grid.locate(c)[0]][0] for c in out.suppressed} == {"L1", "L3"}


def test_a_row_of_small_cells_needs_nothing_more():
    table = pa.table({"area": ["X"], "a": [4], "b": [3], "total": [7]})
    result = apply_policy(table, ROW, NO_ROUNDING)
    assert result.loss.primary == 3 and result.loss.secondary == 0
    assert all(i.upper == float("inf") for i in audit(result.table, ROW, NO_ROUNDING).intervals)


def test_without_cleanup_still_protected():
    # Protection here picks more secondaries than it needs; the clean-up re-publishes the
    # surplus. Without it the surplus stays: more cells, still safe, and reported.
    parent = tree({"R1": ["L1", "L2", "L3"], "R2": ["L4", "L5", "L6"]})
    rows = {
        "L1": (12, 20, 40),
        "L2": (60, 3, 3),
        "L3": (40, 60, 5),
        "L4": (5, 60, 12),
        "L5": (5, 40, 5),
        "L6": (12, 20, 20),
    }
    leaves = {k: {"a": a, "b": b, "c": c, "t": a + b + c} for k, (a, b, c) in rows.items()}
    group = ColumnGroup.total("g", "t", ["a", "b", "c"], attribute=False)
    table, d = area_table(leaves, parent), area_description(parent, ["a", "b", "c", "t"], [group])
    full = apply_policy(table, d, NO_ROUNDING)
    result = apply_policy(table, d, NO_ROUNDING, cleanup=False)
    assert full.cleanup_complete and not result.cleanup_complete
    assert result.loss.primary == full.loss.primary
    assert result.loss.secondary > full.loss.secondary
    assert audit(result.table, d, NO_ROUNDING).passed
    assert audit(full.table, d, NO_ROUNDING).passed


def test_event_counts_with_few_people_and_unavailable_outcomes():
    parent = tree({"R1": ["L1", "L2"]})
    d = TableDescription(
        "fe",
        (Dimension("area", parent=parent),),
        counts=("fe_starts", "in_work_6m"),
        magnitudes=(Magnitude("median_pay", statistic="median", dominance=False),),
        contributor_counts={
            "fe_starts": "fe_starts_learners",
            "median_pay": "median_pay_contributors",
        },
    )
    table = pa.table(
        {
            "area": ["L1", "L2", "R1", "UK"],
            "fe_starts": [12, 40, 52, 52],
            "fe_starts_learners": [3, 35, 38, 38],  # twelve starts by three learners
            "in_work_6m": pa.array([None] * 4, pa.int64()),  # look-ahead month not yet here
            "median_pay": [1800.0, 2100.0, 2000.0, 2000.0],
            "median_pay_contributors": [8, 30, 38, 38],
        }
    )
    result = apply_policy(table, d, NO_ROUNDING)
    assert result.rule_of("fe_starts", area="L1") == "min_contributors"
    assert result.status_of("fe_starts", area="L2") == "secondary"
    assert result.rule_of("median_pay", area="L1") == "min_contributors"
    assert result.status_of("in_work_6m", area="UK") == "not_applicable"
    assert result.table.column_names == ["area", "fe_starts", "in_work_6m", "median_pay"]
    human = {r["area"]: r for r in human_table(result).to_pylist()}
    assert human["L1"] == {"area": "L1", "fe_starts": "c", "in_work_6m": "z", "median_pay": "c"}
    assert audit(result.table, d, NO_ROUNDING).passed


def test_partly_missing_sums_are_refused():
    from labour_trust.disclosure.description import DescriptionError

    parent = tree({"R1": ["L1", "L2"]})
    table = pa.table(
        {"area": ["L1", "L2", "R1", "UK"], "n": pa.array([None, 20, 20, 20], pa.int64())}
    )
    with pytest.raises(DescriptionError, match="some cells of this sum are null"):
        apply_policy(table, area_description(parent, ["n"]), NO_ROUNDING)


def test_a_share_is_the_ratio_of_its_published_counts():
    """0.1 percentage points of the true counts would give back what rounding hid."""
    d = TableDescription(
        "shares",
        (Dimension("area"),),
        counts=("employed", "cohort"),
        derived=(Derived("share", ("employed", "cohort"), unit="share"),),
    )
    table = pa.table(
        {"area": ["A", "B"], "employed": [12, 0], "cohort": [33, 40], "share": [12 / 33, 0.0]}
    )
    out = {r["area"]: r for r in apply_policy(table, d, DisclosurePolicy()).table.to_pylist()}
    assert (out["A"]["employed"], out["A"]["cohort"]) == (10, 35)
    assert out["A"]["share"] == pytest.approx(0.286)  # 10 / 35, to 0.001
    assert out["B"]["share"] == 0.0
    with pytest.raises(DescriptionError, match="numerator, denominator"):
        Derived("share", ("employed",), unit="share")
