import pyarrow as pa
import pytest

from labour_trust.disclosure.cells import build_grid
from labour_trust.disclosure.description import (
    ColumnGroup,
    DescriptionError,
    Dimension,
    Magnitude,
    TableDescription,
    uk_area_hierarchy,
)
from labour_trust.reference.geography import UK_CODE

from .tables import area_description, area_table, tree


def test_uk_area_hierarchy_has_three_levels():
    parent = uk_area_hierarchy()
    regions = {p for c, p in parent.items() if p != UK_CODE}
    assert len(regions) == 12
    assert sum(1 for p in parent.values() if p == UK_CODE) == 12
    assert len(parent) == 361 + 12


def _table(**fields) -> TableDescription:
    return TableDescription(name="t", **{"dimensions": (Dimension("area"),), **fields})


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: _table(counts=("a", "a")), "declared twice"),
        (lambda: _table(dimensions=()), "no dimension columns"),
        (lambda: Magnitude("m", "mode"), "statistic must be one of"),
        (lambda: Dimension("x", parent={"a": "b", "b": "a"}), "cycle"),
        (
            lambda: _table(
                counts=("a",),
                magnitudes=(Magnitude("s", "sum"),),
                column_groups=(ColumnGroup("g", parent={"a": "s"}),),
            ),
            "only count columns or only sum magnitudes",
        ),
    ],
)
def test_invalid_descriptions_are_explained(build, expected):
    with pytest.raises(DescriptionError, match=expected):
        build()


def test_table_must_match_its_description():
    parent = tree({"R1": ["L1", "L2"]})
    table = area_table({"L1": {"n": 12}, "L2": {"n": 30}}, parent)
    d = area_description(parent, ["n"])
    build_grid(table, d)  # fine

    with pytest.raises(DescriptionError, match=r"undeclared column.*person_token"):
        build_grid(table.append_column("person_token", pa.array(["x"] * 4)), d)
    with pytest.raises(DescriptionError, match="duplicate key"):
        build_grid(pa.concat_tables([table, table]), d)
    with pytest.raises(DescriptionError, match="outside its hierarchy"):
        build_grid(table.set_column(0, "area", pa.array(["L1", "L2", "R1", "Mars"])), d)
    broken = table.set_column(1, "n", pa.array([12, 30, 41, 42]))
    with pytest.raises(DescriptionError, match=r"test_table.n \[area=R1\] = 41.*sum to 42"):
        build_grid(broken, d)
    with pytest.raises(DescriptionError, match="negative"):
        build_grid(table.set_column(1, "n", pa.array([-1, 43, 42, 42])), d)


def test_equations_cover_hierarchy_and_column_groups():
    parent = tree({"R1": ["L1", "L2"], "R2": ["L3"]})
    table = area_table({k: {"a": 1, "b": 2, "t": 3} for k in ("L1", "L2", "L3")}, parent)
    d = area_description(
        parent, ["a", "b", "t"], [ColumnGroup.total("g", "t", ["a", "b"], attribute=True)]
    )
    grid = build_grid(table, d)
    # 3 regional/UK parents × 3 columns + 6 rows × 1 column group
    assert len(grid.equations) == 3 * 3 + 6
    assert all(abs(grid.matrix() @ grid.values.ravel()) < 1e-9)


def test_dimension_and_group_shortcuts():
    d = Dimension.total("sex", ["F", "M"], attribute=True)
    assert dict(d.parent) == {"F": "Total", "M": "Total"} and d.attribute
    g = ColumnGroup.total("sex", "n", ["n_f", "n_m"], attribute=False)
    assert g.columns == {"n", "n_f", "n_m"}
    assert Magnitude("pay").additive
