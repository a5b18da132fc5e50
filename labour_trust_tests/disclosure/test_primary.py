import pyarrow as pa
import pytest

from labour_trust.disclosure.cells import build_grid
from labour_trust.disclosure.description import (
    ColumnGroup,
    DescriptionError,
    Dimension,
    Magnitude,
    TableDescription,
)
from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.disclosure.primary import (
    contributor_stats,
    count_primaries,
    disclosive_zero_cells,
    magnitude_primaries,
)

from .tables import area_description, area_table, tree

PARENT = tree({"R1": ["L1", "L2"], "R2": ["L3", "L4"]})


DEFAULT = DisclosurePolicy()


def _primaries(leaves, counts, groups=(), policy=DEFAULT):
    table = area_table(leaves, PARENT)
    grid = build_grid(table, area_description(PARENT, counts, groups))
    return {
        (grid.keys[grid.locate(c)[0]][0], grid.locate(c)[1]): rule
        for c, rule in count_primaries(grid, policy).items()
    }


def test_counts_below_threshold_are_primary_zeros_are_not():
    leaves = {"L1": {"n": 0}, "L2": {"n": 9}, "L3": {"n": 10}, "L4": {"n": 1}}
    assert _primaries(leaves, ["n"]) == {
        ("L2", "n"): "threshold",
        ("L4", "n"): "threshold",
        ("R1", "n"): "threshold",  # R1 = 9
    }


REGIME = [
    ColumnGroup.total("regime", "total", ["searching", "planning", "preparing"], attribute=True)
]


def test_disclosive_zero_whole_group_in_one_category():
    leaves = {
        "L1": {"searching": 20, "planning": 0, "preparing": 0, "total": 20},  # all one
        "L2": {"searching": 20, "planning": 15, "preparing": 0, "total": 35},  # mixed
        "L3": {"searching": 0, "planning": 0, "preparing": 0, "total": 0},  # empty group
        "L4": {"searching": 30, "planning": 12, "preparing": 11, "total": 53},
    }
    found = _primaries(leaves, ["searching", "planning", "preparing", "total"], REGIME)
    assert found == {("L1", "planning"): "disclosive_zero", ("L1", "preparing"): "disclosive_zero"}
    # Off in the policy: nothing.
    off = DisclosurePolicy(disclosive_zeros=False)
    assert _primaries(leaves, ["searching", "planning", "preparing", "total"], REGIME, off) == {}


def test_zeros_of_non_attribute_breakdowns_are_not_disclosive():
    # A region whose claimants all live in one LAD reveals nothing about a person.
    leaves = {"L1": {"n": 40}, "L2": {"n": 0}, "L3": {"n": 20}, "L4": {"n": 20}}
    table = area_table(leaves, PARENT)
    assert disclosive_zero_cells(build_grid(table, area_description(PARENT, ["n"]))) == set()


def test_disclosive_zero_along_an_attribute_dimension():
    outcome = Dimension.total("outcome", ["employed", "claiming"], attribute=True)
    d = TableDescription("outcomes", (Dimension("area"), outcome), counts=("n",))
    table = pa.table(
        {
            "area": ["A"] * 3 + ["B"] * 3,
            "outcome": ["employed", "claiming", "Total"] * 2,
            "n": [25, 0, 25, 15, 12, 27],
        }
    )
    grid = build_grid(table, d)
    assert {grid.keys[grid.locate(c)[0]] for c in disclosive_zero_cells(grid)} == {
        ("A", "claiming")
    }


# -- magnitudes ----------------------------------------------------------------------------

PAY = TableDescription(
    "pay",
    (Dimension("area", parent=PARENT),),
    magnitudes=(Magnitude("total_pay", statistic="sum"),),
)


def _pay_table(areas):
    return pa.table({"area": areas, "total_pay": [1.0] * len(areas)})


def _contributors(per_area: dict[str, list[float]]) -> pa.Table:
    areas = [a for a, vs in per_area.items() for _ in vs]
    return pa.table({"area": areas, "value": [v for vs in per_area.values() for v in vs]})


def test_one_contributor_with_95_percent_is_suppressed():
    contributors = _contributors({"L1": [950.0] + [50 / 11] * 11, "L2": [100.0] * 12})
    rules = magnitude_primaries(_pay_table(["L1", "L2"]), PAY, DisclosurePolicy(), contributors)[
        "total_pay"
    ]
    assert rules[0] in {"p_percent", "nk_dominance"} and 1 not in rules


def test_nk_rule_alone():
    # Top two hold 92% > 90%, the rest (8) is more than 10% of the largest (50).
    contributors = _contributors({"L1": [50.0, 42.0] + [0.8] * 10})
    rules = magnitude_primaries(_pay_table(["L1"]), PAY, DisclosurePolicy(), contributors)
    assert rules["total_pay"] == {0: "nk_dominance"}


def test_p_percent_rule_alone():
    # With p = 20: the rest (9) is less than 20% of the largest (50), top two 87% < 90%.
    contributors = _contributors({"L1": [50.0, 10.0] + [0.9] * 10})
    policy = DisclosurePolicy(p_percent=20)
    rules = magnitude_primaries(_pay_table(["L1"]), PAY, policy, contributors)
    assert rules["total_pay"] == {0: "p_percent"}
    assert (
        magnitude_primaries(_pay_table(["L1"]), PAY, DisclosurePolicy(), contributors)["total_pay"]
        == {}
    )


def test_too_few_contributors_and_dominance_opt_out():
    contributors = _contributors({"L1": [10.0] * 9, "L2": [1000.0] + [1.0] * 11})
    median = TableDescription(
        "pay",
        (Dimension("area", parent=PARENT),),
        magnitudes=(Magnitude("total_pay", statistic="median", dominance=False),),
    )
    rules = magnitude_primaries(_pay_table(["L1", "L2"]), median, DisclosurePolicy(), contributors)
    assert rules["total_pay"] == {0: "min_contributors"}


def test_contributors_roll_up_the_hierarchy_and_merge_by_id():
    contributors = pa.table(
        {
            "area": ["L1", "L2", "L2", "L3"],
            "contributor": ["e1", "e1", "e2", "e3"],
            "value": [5.0, 7.0, 3.0, 4.0],
        }
    )
    stats = contributor_stats(contributors, PAY, nk_n=2)
    assert stats[("L2",)] == (2, 10.0, 7.0, 3.0, 10.0)
    # e1 has units in L1 and L2: one contributor of 12 in the region.
    assert stats[("R1",)] == (2, 15.0, 12.0, 3.0, 15.0)
    assert stats[("UK",)] == (3, 19.0, 12.0, 4.0, 16.0)


def test_magnitudes_need_contributors():
    with pytest.raises(DescriptionError, match="needs contributor-level values"):
        magnitude_primaries(_pay_table(["L1"]), PAY, DisclosurePolicy(), None)
    with pytest.raises(DescriptionError, match="outside its hierarchy"):
        contributor_stats(_contributors({"Mars": [1.0]}), PAY, nk_n=2)


def test_rows_as_contributors_roll_up_like_identified_contributors():
    values = {"L1": [5.0, 1.0, 9.0], "L2": [7.0], "L3": [4.0, 8.0], "L4": [2.0, 6.0, 3.0]}
    rows = _contributors(values)
    with_ids = rows.append_column("contributor", pa.array([str(i) for i in range(9)]))
    assert contributor_stats(rows, PAY, nk_n=3) == contributor_stats(with_ids, PAY, nk_n=3)
    assert contributor_stats(rows, PAY, nk_n=2)[("UK",)] == (9, 45.0, 9.0, 8.0, 17.0)
