"""Small hand-made tables for the disclosure tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from labour_trust.disclosure.description import ColumnGroup, Dimension, TableDescription


def tree(regions: Mapping[str, Sequence[str]], root: str = "UK") -> dict[str, str]:
    """child → parent for a two-level area tree: LADs → regions → root."""
    parent = {lad: region for region, lads in regions.items() for lad in lads}
    parent.update({region: root for region in regions})
    return parent


def area_table(leaves: Mapping[str, Mapping[str, int]], parent: Mapping[str, str]) -> pa.Table:
    """Rows for every leaf and every ancestor (sums), columns as given per leaf."""
    columns = list(next(iter(leaves.values())))
    totals: dict[str, dict[str, int]] = {}
    for leaf, values in leaves.items():
        node: str | None = leaf
        while node is not None:
            row = totals.setdefault(node, dict.fromkeys(columns, 0))
            for c in columns:
                row[c] += values[c]
            node = parent.get(node)
    # Leaves first, then regions, then the root: predictable row positions for tests.
    areas = list(leaves) + sorted(
        (a for a in totals if a not in leaves), key=lambda a: (a not in parent, a)
    )
    return pa.table(
        {"area": areas, **{c: pa.array([totals[a][c] for a in areas], pa.int64()) for c in columns}}
    )


def area_description(
    parent: Mapping[str, str],
    counts: Sequence[str],
    groups: Sequence[ColumnGroup] = (),
    name: str = "test_table",
) -> TableDescription:
    return TableDescription(
        name=name,
        dimensions=(Dimension("area", parent=parent),),
        counts=tuple(counts),
        column_groups=tuple(groups),
    )


def cells(table: pa.Table, column: str, key: str = "area") -> dict[str, object]:
    return dict(zip(table.column(key).to_pylist(), table.column(column).to_pylist(), strict=True))
