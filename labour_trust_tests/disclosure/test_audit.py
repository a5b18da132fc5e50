import ast
import importlib
import math
from pathlib import Path

import pyarrow as pa
import pytest

from labour_trust.disclosure.audit import audit
from labour_trust.disclosure.description import (
    ColumnGroup,
    Dimension,
    Magnitude,
    TableDescription,
)
from labour_trust.disclosure.policy import DisclosurePolicy

from .tables import area_description, tree

audit_module = importlib.import_module("labour_trust.disclosure.audit")
ENGINE_MODULES = {
    "cells",
    "engine",
    "lp",
    "primary",
    "rounding",
    "secondary",
    "bench",
    "export",
    "checks",
}


def test_audit_shares_no_code_with_the_engine():
    tree_ = ast.parse(Path(audit_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree_):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    ours = {m.rsplit(".", 1)[-1] for m in imported if m.startswith("labour_trust")}
    assert ours == {"description", "policy"}  # data only
    assert not ours & ENGINE_MODULES


PARENT = tree({"R1": ["L1", "L2", "L3"]})
D = area_description(PARENT, ["n"])


def _published(values: dict[str, int | None]) -> pa.Table:
    return pa.table({"area": list(values), "n": pa.array(list(values.values()), pa.int64())})


def test_exact_intervals_without_rounding():
    policy = DisclosurePolicy(count_rounding_base=1)
    report = audit(_published({"L1": None, "L2": None, "L3": 25, "R1": 68, "UK": 68}), D, policy)
    assert report.passed
    assert [(i.cell["area"], i.lower, i.upper) for i in report.intervals] == [
        ("L1", 0, 43),
        ("L2", 0, 43),
    ]


def test_rounding_and_threshold_knowledge_bound_published_cells():
    # L2 = 40 means [38, 42]; R1 = 70 means [68, 72]; L3 = 10 means [10, 12] (not 8: a
    # published non-zero count is at least the threshold). L1 lies in [68-54, 72-48].
    report = audit(
        _published({"L1": None, "L2": 40, "L3": 10, "R1": 70, "UK": 70}), D, DisclosurePolicy()
    )
    (interval,) = report.intervals
    assert (interval.lower, interval.upper) == (14, 24)
    assert report.passed


def test_failure_names_table_column_cell_and_interval():
    # Two LADs: L1 = R1 - L2 with R1 = 45 in [43, 47] and L2 = 40 in [38, 42].
    d = area_description(tree({"R1": ["L1", "L2"]}), ["n"])
    report = audit(_published({"L1": None, "L2": 40, "R1": 45, "UK": 45}), d, DisclosurePolicy())
    assert not report.passed
    (failure,) = report.failures
    assert failure.cell == {"area": "L1"} and failure.column == "n"
    assert (failure.lower, failure.upper, failure.required) == (1, 9, 10)
    assert "test_table.n [area=L1]" in failure.message and "[1, 9]" in failure.message
    assert "FAILED" in report.summary()


def test_published_zero_is_exact():
    report = audit(
        _published({"L1": None, "L2": 0, "L3": None, "R1": 15, "UK": 15}), D, DisclosurePolicy()
    )
    assert [(i.lower, i.upper) for i in report.intervals] == [(0, 17), (0, 17)]


def test_cell_in_no_equation_is_unbounded():
    d = TableDescription("flat", (Dimension("area"),), counts=("n",))
    report = audit(
        pa.table({"area": ["A", "B"], "n": pa.array([None, 20], pa.int64())}), d, DisclosurePolicy()
    )
    assert report.passed and report.intervals[0].upper == math.inf


def test_unbounded_when_the_total_is_hidden_too():
    report = audit(
        _published({"L1": None, "L2": 40, "L3": 25, "R1": None, "UK": None}), D, DisclosurePolicy()
    )
    assert report.passed
    assert all(i.upper == math.inf for i in report.intervals)


def test_column_groups_and_hierarchy_together():
    parent = tree({"R1": ["L1", "L2"]})
    d = area_description(
        parent, ["a", "b", "t"], [ColumnGroup.total("g", "t", ["a", "b"], attribute=False)]
    )
    table = pa.table(
        {
            "area": ["L1", "L2", "R1", "UK"],
            "a": pa.array([None, None, 40, 40], pa.int64()),
            "b": pa.array([None, None, 60, 60], pa.int64()),
            "t": pa.array([30, 70, 100, 100], pa.int64()),
        }
    )
    policy = DisclosurePolicy(count_rounding_base=1)
    report = audit(table, d, policy)
    assert {(i.cell["area"], i.column): (i.lower, i.upper) for i in report.intervals} == {
        ("L1", "a"): (0, 30),
        ("L1", "b"): (0, 30),
        ("L2", "a"): (10, 40),
        ("L2", "b"): (30, 60),
    }


def test_sums_need_p_percent_of_the_upper_bound():
    d = TableDescription(
        "pay",
        (Dimension("area", parent=PARENT),),
        magnitudes=(Magnitude("pay", statistic="sum", unit="earnings"),),
    )
    table = pa.table(
        {"area": ["L1", "L2", "L3", "R1", "UK"], "pay": [None, None, 5000.0, 105000.0, 105000.0]}
    )
    report = audit(table, d, DisclosurePolicy())
    # L1 + L2 in [99900, 100100]: each in [0, 100100], wide enough.
    assert report.passed
    assert report.intervals[0].required == pytest.approx(10010)
    narrow = table.set_column(1, "pay", pa.array([None, 95000.0, 5000.0, 105000.0, 105000.0]))
    failed = audit(narrow, d, DisclosurePolicy())
    assert not failed.passed  # L1 in [4850, 5150]: 300 wide, 10% of 5150 needed


def test_warm_solver_and_linprog_agree(monkeypatch):
    table = _published({"L1": None, "L2": 40, "L3": None, "R1": 70, "UK": 70})
    fast = audit(table, D, DisclosurePolicy())
    monkeypatch.setattr(audit_module, "FAST_SOLVER", False)
    slow = audit(table, D, DisclosurePolicy())
    bounds = [b for i in fast.intervals for b in (i.lower, i.upper)]
    assert bounds == pytest.approx([b for i in slow.intervals for b in (i.lower, i.upper)])
    assert bounds == [0, 34, 0, 34]
