"""Compare SQL output with the oracle, figure by figure."""

from __future__ import annotations

import math
from collections import defaultdict

import pyarrow as pa

from labour_trust.months import month_params


def same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def assert_rows_equal(actual: pa.Table, expected: list[dict], dims: tuple[str, ...]) -> None:
    """Same rows in the same order, every column equal (floats to 1e-9)."""
    rows = actual.to_pylist()
    assert [tuple(r[d] for d in dims) for r in rows] == [
        tuple(r[d] for d in dims) for r in expected
    ]
    assert set(actual.column_names) == set(expected[0]), set(actual.column_names) ^ set(expected[0])
    mismatches = [
        (tuple(a[d] for d in dims), col, a[col], e[col])
        for a, e in zip(rows, expected, strict=True)
        for col in e
        if not same(a[col], e[col])
    ]
    assert not mismatches, f"{len(mismatches)} mismatches, e.g. {mismatches[:5]}"


def contributors(con, dataset, month: str) -> dict[str, pa.Table]:
    """Magnitude column → one row per (cell, contributor) from the dataset's contributor SQL
    (what the publish step's dominance rules read)."""
    return {
        column: con.sql(sql, params=month_params(sql, month)).to_arrow_table()
        for column, sql in dataset.contributor_sql.items()
    }


def contributor_cells(table: pa.Table, dims: tuple[str, ...]) -> dict[tuple, list[float]]:
    cells: dict[tuple, list[float]] = defaultdict(list)
    for r in table.to_pylist():
        cells[tuple(r[d] for d in dims)].append(r["value"])
    return {k: sorted(v) for k, v in cells.items()}


def assert_cells_equal(
    actual: dict[tuple, list[float]], expected: dict[tuple, list[float]]
) -> None:
    assert set(actual) == set(expected), set(actual) ^ set(expected)
    for key, values in expected.items():
        assert len(actual[key]) == len(values), key
        assert all(same(a, e) for a, e in zip(actual[key], values, strict=True)), key
