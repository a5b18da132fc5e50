"""Information loss against the "partner" baseline on the same table."""

import pyarrow as pa
import pytest

from labour_trust.disclosure.description import Dimension, TableDescription
from labour_trust.disclosure.engine import apply_policy
from labour_trust.disclosure.loss import compare_with_baseline, loss_from_status
from labour_trust.disclosure.policy import DisclosurePolicy

NO_ROUNDING = DisclosurePolicy(count_rounding_base=1)


def _two_way():
    sex = Dimension.total("sex", ["F", "M"], attribute=False)
    region = Dimension("area", parent={"R1": "UK", "R2": "UK", "R3": "UK"})
    d = TableDescription("by_sex", (region, sex), counts=("n",))
    interior = {
        ("R1", "F"): 4,
        ("R1", "M"): 50,
        ("R2", "F"): 30,
        ("R2", "M"): 60,
        ("R3", "F"): 25,
        ("R3", "M"): 12,
    }
    rows = dict(interior)
    for r in ("R1", "R2", "R3"):
        rows[(r, "Total")] = rows[(r, "F")] + rows[(r, "M")]
    for s in ("F", "M", "Total"):
        rows[("UK", s)] = sum(rows[(r, s)] for r in ("R1", "R2", "R3"))
    table = pa.table(
        {"area": [k[0] for k in rows], "sex": [k[1] for k in rows], "n": list(rows.values())}
    )
    return table, d


def test_engine_and_baseline_are_both_safe_and_compared():
    table, d = _two_way()
    figures = compare_with_baseline(table, d, NO_ROUNDING)
    engine, baseline = figures["engine"], figures["baseline"]
    assert engine["audit_passed"] and "audit_passed" not in baseline  # a yardstick
    assert engine["primary"] == baseline["primary"] == 1
    assert engine["cells"] == baseline["cells"] == table.num_rows
    # The LP engine hides the cheapest rectangle (R1/R3 × F/M); the heuristic hides more.
    assert engine["suppressed_value_share"] <= baseline["suppressed_value_share"]
    assert engine["suppressed"] <= baseline["suppressed"]


def test_loss_from_status_agrees_with_the_engine():
    table, d = _two_way()
    result = apply_policy(table, d, NO_ROUNDING)
    again = loss_from_status(result.status, table, ("area", "sex"), ("n",))
    mine, engine = again.as_dict(), result.loss.as_dict()
    assert mine.pop("by_column")["n"] == pytest.approx(engine.pop("by_column")["n"])
    assert mine == pytest.approx(engine)
