"""The engine's view of a statistics table: validated rows, additive cells and equations.

A *cell* is one (row, additive column) pair, numbered ``row * n_columns + column``. Every
additivity the description declares becomes an *equation* ``parent = sum(children)``:

- a dimension hierarchy gives, for each parent row present and each additive column, the
  parent cell equal to the sum of the child rows present (other dimensions held fixed);
- a column group gives, for each row, the parent column equal to the sum of its children.

Children absent from the table are structural zeros. The engine checks that the data obey
the equations: a table that does not add up as described would make the attacker model
(and so the protection) wrong. A null in an additive column means "not available" (e.g.
an outcome whose look-ahead month has not happened yet); an equation whose cells are all
null is dropped, one that mixes null and known cells is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from labour_trust.disclosure.description import DescriptionError, TableDescription


@dataclass(frozen=True)
class Equation:
    parent: int  # cell id
    children: tuple[int, ...]  # cell ids
    attribute: bool  # a breakdown by an attribute of people (zeros may disclose)


@dataclass
class Grid:
    description: TableDescription
    keys: list[tuple]  # dimension values per row
    additive: tuple[str, ...]  # additive columns, in cell order
    values: np.ndarray  # (rows, additive columns), float; NaN = not available
    equations: list[Equation]
    # Count column → its contributors per row (event counts), NaN where null.
    contributors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.keys)

    @property
    def n_cells(self) -> int:
        return self.values.size

    def cell(self, row: int, column: int) -> int:
        return row * len(self.additive) + column

    def locate(self, cell: int) -> tuple[int, str]:
        row, column = divmod(cell, len(self.additive))
        return row, self.additive[column]

    def describe(self, cell: int) -> str:
        row, column = self.locate(cell)
        dims = ", ".join(
            f"{d}={v}"
            for d, v in zip(self.description.dimension_columns, self.keys[row], strict=True)
        )
        return f"{self.description.name}.{column} [{dims}]"

    def matrix(self) -> sp.csr_matrix:
        """Equations as rows of ``parent - sum(children) = 0``."""
        rows, cols, vals = [], [], []
        for i, eq in enumerate(self.equations):
            rows.append(i)
            cols.append(eq.parent)
            vals.append(1.0)
            rows.extend([i] * len(eq.children))
            cols.extend(eq.children)
            vals.extend([-1.0] * len(eq.children))
        return sp.csr_matrix(
            (vals, (rows, cols)), shape=(len(self.equations), self.n_cells), dtype=float
        )


def build_grid(table: pa.Table, description: TableDescription) -> Grid:
    """Validate ``table`` against ``description`` and derive its cells and equations."""
    validate_table(table, description)
    keys = list(
        zip(*(table.column(d).to_pylist() for d in description.dimension_columns), strict=True)
    )
    additive = description.additive_columns
    values = np.zeros((len(keys), len(additive)))
    for c, column in enumerate(additive):
        values[:, c] = _floats(table, column)
    contributors = {
        measure: _floats(table, column)
        for measure, column in description.contributor_counts.items()
        if measure in description.counts
    }
    grid = Grid(description, keys, additive, values, [], contributors)
    grid.equations = _available(grid, _row_equations(grid) + _column_equations(grid))
    _check_additive(grid)
    return grid


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return table.column(column).cast(pa.float64()).fill_null(np.nan).to_numpy()


def validate_table(table: pa.Table, description: TableDescription) -> None:
    """The table has exactly the declared columns, unique keys and valid measure values."""
    name = description.name
    declared = set(description.dimension_columns) | set(description.measure_columns)
    declared |= set(description.labels) | set(description.hidden_columns)
    undeclared = sorted(set(table.column_names) - declared)
    if undeclared:
        # An undeclared column could carry anything out of the trust; refuse it.
        raise DescriptionError(f"table {name!r}: undeclared column(s) {undeclared}")
    missing = sorted(declared - set(table.column_names))
    if missing:
        raise DescriptionError(f"table {name!r}: declared column(s) missing: {missing}")
    for dim in description.dimensions:
        column = table.column(dim.column)
        if column.null_count:
            raise DescriptionError(f"table {name!r}: dimension {dim.column!r} has nulls")
        if dim.hierarchical:
            unknown = set(column.to_pylist()) - dim.known_values()
            if unknown:
                raise DescriptionError(
                    f"table {name!r}: dimension {dim.column!r} has values outside its "
                    f"hierarchy: {sorted(map(str, unknown))[:5]}"
                )
    _check_unique(table, description)
    for column in description.additive_columns:
        _check_additive_values(table, name, column, integer=column in description.counts)
    for column in description.hidden_columns:
        _check_additive_values(table, name, column, integer=True)


def _check_unique(table: pa.Table, description: TableDescription) -> None:
    dims = list(description.dimension_columns)
    if table.num_rows == 0:
        return
    grouped = table.group_by(dims).aggregate([([], "count_all")])
    dupes = grouped.filter(pc.greater(grouped.column("count_all"), 1))
    if dupes.num_rows:
        first = {d: dupes.column(d)[0].as_py() for d in dims}
        raise DescriptionError(
            f"table {description.name!r}: {dupes.num_rows} duplicate key(s), e.g. {first}"
        )


def _check_additive_values(table: pa.Table, name: str, column: str, *, integer: bool) -> None:
    data = table.column(column)
    if not (pa.types.is_integer(data.type) or pa.types.is_floating(data.type)):
        raise DescriptionError(f"table {name!r}: measure {column!r} is not numeric ({data.type})")
    values = np.asarray(data.drop_null().to_numpy(zero_copy_only=False), dtype=float)
    if (values < 0).any():
        raise DescriptionError(f"table {name!r}: measure {column!r} has negative values")
    if integer and not np.all(np.mod(values, 1) == 0):
        raise DescriptionError(f"table {name!r}: count {column!r} has non-integer values")


def _row_equations(grid: Grid) -> list[Equation]:
    """Parent row = sum of child rows, for each hierarchical dimension and column."""
    description = grid.description
    index = {key: row for row, key in enumerate(grid.keys)}
    n_columns = len(grid.additive)
    equations: list[Equation] = []
    for position, dim in enumerate(description.dimensions):
        if not dim.hierarchical:
            continue
        children: dict[int, list[int]] = {}
        for row, key in enumerate(grid.keys):
            parent_value = dim.parent.get(key[position])
            if parent_value is None:
                continue
            parent_key = (*key[:position], parent_value, *key[position + 1 :])
            parent_row = index.get(parent_key)
            if parent_row is not None:
                children.setdefault(parent_row, []).append(row)
        for parent_row, rows in children.items():
            for c in range(n_columns):
                equations.append(
                    Equation(
                        parent_row * n_columns + c,
                        tuple(r * n_columns + c for r in rows),
                        dim.attribute,
                    )
                )
    return equations


def _column_equations(grid: Grid) -> list[Equation]:
    """Parent column = sum of child columns, for each column group and row."""
    position = {c: i for i, c in enumerate(grid.additive)}
    n_columns = len(grid.additive)
    equations: list[Equation] = []
    for group in grid.description.column_groups:
        by_parent: dict[str, list[str]] = {}
        for child, parent in group.parent.items():
            by_parent.setdefault(parent, []).append(child)
        for parent, kids in by_parent.items():
            for row in range(grid.n_rows):
                base = row * n_columns
                equations.append(
                    Equation(
                        base + position[parent],
                        tuple(base + position[k] for k in kids),
                        group.attribute,
                    )
                )
    return equations


def _available(grid: Grid, equations: list[Equation]) -> list[Equation]:
    """Drop equations among unavailable (null) cells; refuse partly unavailable ones."""
    flat = grid.values.ravel()
    kept = []
    for eq in equations:
        missing = np.isnan(flat[[eq.parent, *eq.children]])
        if not missing.any():
            kept.append(eq)
        elif not missing.all():
            raise DescriptionError(
                f"{grid.describe(eq.parent)}: some cells of this sum are null and others "
                "not; a figure is either available at every level or at none"
            )
    return kept


def _check_additive(grid: Grid) -> None:
    flat = grid.values.ravel()
    for eq in grid.equations:
        total = flat[list(eq.children)].sum()
        if abs(flat[eq.parent] - total) > 1e-6 * max(1.0, abs(total)):
            raise DescriptionError(
                f"{grid.describe(eq.parent)} = {flat[eq.parent]:g} but its children sum to "
                f"{total:g}: the table does not add up as its description declares"
            )
