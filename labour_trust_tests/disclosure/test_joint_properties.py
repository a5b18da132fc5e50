"""Linked tables protected as one problem: an independent LP over every table, equation
and relation never narrows a suppressed cell below its protection interval; and the
audit does catch a protection model that forgot a relation (positive control)."""

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labour_trust.disclosure.audit import audit_joint
from labour_trust.disclosure.description import (
    CellRef,
    Dimension,
    Relation,
    TableDescription,
    within,
)
from labour_trust.disclosure.joint import JointPart, apply_policy_joint
from labour_trust.disclosure.policy import DisclosurePolicy

from .tables import area_table, tree

VALUE = st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 60))
RELATIONS = [
    Relation.equal(CellRef("A", "x"), CellRef("B", "y"), on=("area",)),
    within("A", "z", "x"),
    within("B", "w", "y"),
]


def _descriptions(parent):
    a = TableDescription("A", (Dimension("area", parent=parent),), counts=("x", "z"))
    b = TableDescription("B", (Dimension("area", parent=parent),), counts=("y", "w"))
    return a, b


@st.composite
def linked_tables(draw):
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parent = tree({f"R{r}": [f"L{r}{i}" for i in range(n)] for r, n in enumerate(sizes)})
    a_leaves, b_leaves = {}, {}
    for lad in (x for x in parent if x.startswith("L")):
        x = draw(VALUE)
        a_leaves[lad] = {"x": x, "z": draw(st.integers(0, x))}
        b_leaves[lad] = {"y": x, "w": draw(st.integers(0, x))}
    a_table, b_table = area_table(a_leaves, parent), area_table(b_leaves, parent)
    if draw(st.booleans()):  # B published for regions and the UK only
        keep = [not area.startswith("L") for area in b_table.column("area").to_pylist()]
        b_table = b_table.filter(pa.array(keep))
    base = draw(st.sampled_from([1, 5]))
    return a_table, b_table, parent, DisclosurePolicy(count_rounding_base=base)


def _protect(a_table, b_table, parent, policy, relations=RELATIONS):
    a, b = _descriptions(parent)
    return apply_policy_joint(
        [JointPart("A", a_table, a), JointPart("B", b_table, b)], relations, policy
    )


def _attack(joint, parent, policy, relations=RELATIONS):
    a, b = _descriptions(parent)
    tables = [r.table for r in joint.results]
    return audit_joint([("A", tables[0], a), ("B", tables[1], b)], relations, policy)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linked_tables())
def test_no_suppressed_cell_can_be_narrowed_across_the_tables(case):
    a_table, b_table, parent, policy = case
    joint = _protect(a_table, b_table, parent, policy)
    report = _attack(joint, parent, policy)
    assert report.passed, [f.message for f in report.failures]
    assert joint.record.passed and not joint.record.blocked
    # Cells linked by the equality share their suppression status.
    a_out, b_out = (
        dict(zip(r.table["area"].to_pylist(), r.table[c].to_pylist(), strict=True))
        for r, c in zip(joint.results, ("x", "y"), strict=True)
    )
    for area, y in b_out.items():
        assert (y is None) == (a_out[area] is None), area


PARENT = tree({"R1": ["L1", "L2"], "R2": ["L3", "L4"]})
NO_ROUNDING = DisclosurePolicy(count_rounding_base=1)


def _control_tables():
    # z(L1) = 5 is small. Without z <= x the engine hides z(L2) = 30 and is satisfied:
    # z(L1) in [0, 35]. With it, z(L1) >= 35 - x(L2) = 5 and z(L1) <= x(L1) = 12.
    a = area_table(
        {
            "L1": {"x": 12, "z": 5},
            "L2": {"x": 30, "z": 30},
            "L3": {"x": 40, "z": 20},
            "L4": {"x": 50, "z": 25},
        },
        PARENT,
    )
    b = area_table(
        {k: {"y": v, "w": 0} for k, v in {"L1": 12, "L2": 30, "L3": 40, "L4": 50}.items()}, PARENT
    )
    return a, b


def test_positive_control_a_relation_missing_from_protection_is_caught():
    a, b = _control_tables()
    forgetful = _protect(a, b, PARENT, NO_ROUNDING, relations=RELATIONS[:1] + RELATIONS[2:])
    caught = _attack(forgetful, PARENT, NO_ROUNDING)
    assert not caught.passed
    failure = next(f for f in caught.failures if f.cell == {"area": "L1"} and f.column == "z")
    assert (failure.lower, failure.upper) == (5, 12)

    complete = _protect(a, b, PARENT, NO_ROUNDING)
    assert _attack(complete, PARENT, NO_ROUNDING).passed


def test_the_repair_loop_runs_on_the_joint_model():
    # Protection leaves z <= x out, the audit attacks with it: the first pattern fails and
    # the loop adds partners of z(L1) until the joint audit passes.
    a, b = _control_tables()
    desc_a, desc_b = _descriptions(PARENT)
    joint = apply_policy_joint(
        [JointPart("A", a, desc_a), JointPart("B", b, desc_b)],
        RELATIONS[:1] + RELATIONS[2:],
        NO_ROUNDING,
        audit_only=RELATIONS[1:2],
    )
    assert joint.record.audits >= 2 and joint.record.passed
    assert joint.record.repaired and not joint.record.blocked
    assert joint.results[0].repaired_cells
    assert any(c["rule"] == "repair" for c in joint.results[0].cells_with("secondary"))
    assert _attack(joint, PARENT, NO_ROUNDING).passed


def test_a_column_not_available_yet_is_not_attacked_through_a_relation():
    # z (an outcome whose look-ahead month has not happened) is null everywhere; x has a
    # published 0. Read as a gap, z(L1) <= x(L1) = 0 would look disclosed.
    parent = tree({"R1": ["L1", "L2"]})
    a = pa.table(
        {
            "area": ["L1", "L2", "R1", "UK"],
            "x": [0, 40, 40, 40],
            "z": pa.array([None] * 4, pa.int64()),
        }
    )
    b = pa.table({"area": ["L1", "L2", "R1", "UK"], "y": [0, 40, 40, 40], "w": [0, 20, 20, 20]})
    joint = _protect(a, b, parent, NO_ROUNDING)
    report = _attack(joint, parent, NO_ROUNDING)
    assert report.passed and joint.record.audits == 1
    assert report.cells_attacked == 0
