"""The audit-driven repair loop: a pattern the independent audit rejects is never the
result; partners are added, then whole blocks, and the result says so."""

import pyarrow as pa

from labour_trust.disclosure.audit import audit
from labour_trust.disclosure.description import ColumnGroup, Dimension, TableDescription
from labour_trust.disclosure.engine import apply_policy
from labour_trust.disclosure.policy import DisclosurePolicy

from .tables import area_description, area_table, cells, tree

NO_ROUNDING = DisclosurePolicy(count_rounding_base=1)
PARENT = tree({"R1": ["L1", "L2", "L3"], "R2": ["L4", "L5"]})
LEAVES = {"L1": {"n": 3}, "L2": {"n": 40}, "L3": {"n": 25}, "L4": {"n": 30}, "L5": {"n": 50}}


def _hidden(result, column="n"):
    return {k for k, v in cells(result.table, column).items() if v is None}


def test_first_pattern_failing_the_audit_is_repaired_with_the_cheapest_partner():
    # The "repair" method starts from the primaries alone: L1 = R1 - L2 - L3 exactly, so
    # the first audit fails; the loop adds L1's cheapest published partner (L3 = 25).
    table, d = area_table(LEAVES, PARENT), area_description(PARENT, ["n"])
    result = apply_policy(table, d, NO_ROUNDING, method="repair")
    assert result.audits == 2 and result.audit_passed
    assert _hidden(result) == {"L1", "L3"}
    assert result.rule_of("n", area="L3") == "repair"
    assert result.repaired_cells == ("test_table.n [area=L3]",)
    assert not result.blocked_cells
    assert audit(result.table, d, NO_ROUNDING).passed


def test_block_fallback_when_the_rounds_run_out():
    table, d = area_table(LEAVES, PARENT), area_description(PARENT, ["n"])
    result = apply_policy(table, d, NO_ROUNDING, method="repair", repair_rounds=0)
    assert result.audits == 2  # the failing first audit, then the one after the block
    # Every cell linked to L1 by the equations: the whole area hierarchy of the month.
    assert _hidden(result) == {"L1", "L2", "L3", "L4", "L5", "R1", "R2", "UK"}
    assert {c["rule"] for c in result.cells_with("secondary")} == {"block"}
    assert result.audit_passed and audit(result.table, d, NO_ROUNDING).passed
    assert result.sdc_metadata()["cells_block_suppressed"] == 7


def test_repair_needs_several_rounds_on_a_two_way_table():
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
    result = apply_policy(table, d, NO_ROUNDING, method="repair")
    assert result.audits >= 3 and result.audit_passed and not result.blocked_cells
    assert audit(result.table, d, NO_ROUNDING).passed
    lp = apply_policy(table, d, NO_ROUNDING)
    assert lp.audits == 1 and lp.audit_passed  # the LP engine's pattern passes first time
    assert lp.loss.suppressed_value_share <= result.loss.suppressed_value_share


def test_column_group_partner():
    d = area_description(
        {"X": "UK"}, ["a", "b", "t"], [ColumnGroup.total("g", "t", ["a", "b"], attribute=False)]
    )
    table = pa.table({"area": ["X", "UK"], "a": [4, 4], "b": [30, 30], "t": [34, 34]})
    result = apply_policy(table, d, NO_ROUNDING, method="repair")
    assert result.audit_passed and audit(result.table, d, NO_ROUNDING).passed
    assert result.table.column("a").to_pylist() == [None, None]


def test_partner_baseline_hides_the_smallest_partner_without_an_audit():
    # L1 is alone in R1 = L1 + L2 + L3: the baseline hides its cheapest partner (L3), by
    # the rule alone (no LP, no audit run) — and here that pattern is safe.
    table, d = area_table(LEAVES, PARENT), area_description(PARENT, ["n"])
    result = apply_policy(table, d, NO_ROUNDING, method="partner")
    assert result.audits == 0 and result.audit_passed is None
    assert _hidden(result) == {"L1", "L3"}
    assert audit(result.table, d, NO_ROUNDING).passed
