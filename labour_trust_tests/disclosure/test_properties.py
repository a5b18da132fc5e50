"""Property tests: on random small hierarchical tables the engine's output passes the
independent audit, and every secondary suppression is necessary (publishing any one of
them again makes the audit fail)."""

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labour_trust.disclosure.audit import audit
from labour_trust.disclosure.checks import check_counts
from labour_trust.disclosure.description import ColumnGroup, Dimension, TableDescription
from labour_trust.disclosure.engine import apply_policy
from labour_trust.disclosure.policy import DisclosurePolicy

from .tables import area_description, area_table, tree

VALUE = st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 60))


@st.composite
def hierarchical_tables(draw):
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    regions = {f"R{r}": [f"L{r}{i}" for i in range(n)] for r, n in enumerate(sizes)}
    parent = tree(regions)
    categories = draw(st.sampled_from([[], ["c0", "c1"], ["c0", "c1", "c2"]]))
    leaves = {}
    for lad in parent:
        if lad.startswith("L"):
            values = {c: draw(VALUE) for c in categories} or {"total": draw(VALUE)}
            values["total"] = sum(values.values()) if categories else values["total"]
            leaves[lad] = values
    groups = (
        [ColumnGroup.total("g", "total", categories, attribute=draw(st.booleans()))]
        if categories
        else []
    )
    description = area_description(parent, [*categories, "total"], groups)
    base = draw(st.sampled_from([1, 5]))
    return area_table(leaves, parent), description, DisclosurePolicy(count_rounding_base=base)


def _rounded(value: int, base: int) -> int:
    return (2 * value + base) // (2 * base) * base


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchical_tables())
def test_engine_output_passes_audit_and_every_secondary_is_needed(case):
    table, description, policy = case
    # A budget no small table can exhaust: minimality is a property of the clean-up itself
    # (the default budget bounds publication time and, when hit, leaves extra suppressions).
    result = apply_policy(table, description, policy, cleanup_lps=20_000)
    assert result.cleanup_complete
    report = audit(result.table, description, policy)
    assert report.passed, [f.message for f in report.failures]
    assert check_counts(result.table, description, policy).passed

    areas = table.column("area").to_pylist()
    for cell in result.cells_with("secondary"):
        column, row = cell["column"], areas.index(cell["area"])
        values = result.table.column(column).to_pylist()
        values[row] = _rounded(table.column(column)[row].as_py(), policy.count_rounding_base)
        republished = result.table.set_column(
            result.table.column_names.index(column), column, pa.array(values, pa.int64())
        )
        assert not audit(republished, description, policy).passed, f"secondary {cell} is not needed"


@st.composite
def two_dimensional_tables(draw):
    """Long format: area (LAD → region → UK) × category (→ Total), margins on both."""
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parent = tree({f"R{r}": [f"L{r}{i}" for i in range(n)] for r, n in enumerate(sizes)})
    categories = [f"k{i}" for i in range(draw(st.integers(2, 3)))]
    category = Dimension.total("category", categories, attribute=draw(st.booleans()))
    cells: dict[tuple[str, str], int] = {}
    for lad in (a for a in parent if a.startswith("L")):
        for k in categories:
            value = draw(VALUE)
            for area in _up(lad, parent):
                for cat in (k, "Total"):
                    cells[(area, cat)] = cells.get((area, cat), 0) + value
    table = pa.table(
        {
            "area": [a for a, _ in cells],
            "category": [k for _, k in cells],
            "n": pa.array(list(cells.values()), pa.int64()),
        }
    )
    description = TableDescription(
        "two_d", (Dimension("area", parent=parent), category), counts=("n",)
    )
    base = draw(st.sampled_from([1, 5]))
    return table, description, DisclosurePolicy(count_rounding_base=base)


def _up(node, parent):
    while node is not None:
        yield node
        node = parent.get(node)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_dimensional_tables())
def test_two_dimensional_tables_are_protected_minimally(case):
    table, description, policy = case
    result = apply_policy(table, description, policy)
    assert audit(result.table, description, policy).passed
    keys = list(
        zip(table.column("area").to_pylist(), table.column("category").to_pylist(), strict=True)
    )
    for cell in result.cells_with("secondary"):
        row = keys.index((cell["area"], cell["category"]))
        values = result.table.column("n").to_pylist()
        values[row] = _rounded(table.column("n")[row].as_py(), policy.count_rounding_base)
        republished = result.table.set_column(2, "n", pa.array(values, pa.int64()))
        assert not audit(republished, description, policy).passed
