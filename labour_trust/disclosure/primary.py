"""Primary suppression: the cells that are sensitive in themselves.

Counts
    ``0 < n < threshold``: rule ``threshold``. A count of events with a contributor count
    (``TableDescription.contributor_counts``) is also primary when fewer than
    ``threshold`` people are behind it: rule ``min_contributors``.

Disclosive zeros (rule ``disclosive_zero``), when the policy treats them as sensitive.
    Take an equation ``T = c_1 + ... + c_k`` (k >= 2) of a breakdown marked
    ``attribute=True`` (the categories are attributes of the people counted, e.g.
    conditionality regime or outcome). If ``T > 0`` and one category holds the whole group
    (``c_j = T``, so every other ``c_i = 0``), then publishing those zeros next to the
    total says that every member of the group has attribute j. Each such zero cell is
    primary; protecting it to the protection level means an attacker can no longer rule
    out that up to that many members have another attribute. Zeros of non-attribute
    breakdowns (an area with no claimants of a kind) reveal nothing about a person and
    are published.

Magnitudes (from contributor-level values, aggregated in DuckDB)
    fewer than ``threshold`` contributors (``min_contributors``); unless the magnitude
    opts out of dominance: the p% rule ``X - x1 - x2 < p/100 * x1`` (``p_percent``) and
    the (n, k) rule ``x1 + ... + xn > k/100 * X`` (``nk_dominance``), where X is the sum
    over contributors and x1 >= x2 >= ... the contributors' values. A contributor that
    appears in several rows (an enterprise with several units) is summed first when the
    contributors table has a ``contributor`` column; otherwise each row is a contributor.
    Contributor rows are given at the finest level; they are rolled up the dimension
    hierarchies so that every level's cell is tested on its own contributors. A magnitude
    exempt from dominance may instead rely on its contributor-count column.

    Summarised contributors: rows without a ``contributor`` id may carry a ``contributors``
    column, the number of contributors the row stands for (``value`` is then their sum).
    Only rows standing for one contributor can be among the largest, so a summary keeps
    each finest cell's largest contributors as rows of their own and the rest as one row
    (``trust/contributors.py``): the rules give the same answer as on every contributor.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.disclosure.cells import Grid
from labour_trust.disclosure.description import (
    DescriptionError,
    Magnitude,
    TableDescription,
)
from labour_trust.disclosure.policy import DisclosurePolicy

CONTRIBUTOR_COLUMN = "contributor"
VALUE_COLUMN = "value"
WEIGHT_COLUMN = "contributors"  # how many contributors a summary row stands for


def weight_sql(contributors: pa.Table) -> str:
    """SQL for the number of contributors each row stands for (1 without a summary)."""
    return f"{WEIGHT_COLUMN}::BIGINT" if WEIGHT_COLUMN in contributors.column_names else "1"


def count_primaries(grid: Grid, policy: DisclosurePolicy) -> dict[int, str]:
    """Primary count cells → rule, for the count columns of the grid."""
    counts = set(grid.description.counts)
    is_count = np.array([c in counts for c in grid.additive], dtype=bool)
    small = (grid.values > 0) & (grid.values < policy.threshold) & is_count[None, :]
    primaries = {int(cell): "threshold" for cell in np.flatnonzero(small.ravel())}
    # An event count (FE starts) can be large while few people are behind it.
    for column, people in grid.contributors.items():
        c = grid.additive.index(column)
        few = (grid.values[:, c] > 0) & ~(people >= policy.threshold)
        for row in np.flatnonzero(few):
            primaries.setdefault(grid.cell(int(row), c), "min_contributors")
    if policy.disclosive_zeros:
        for cell in disclosive_zero_cells(grid):
            primaries.setdefault(cell, "disclosive_zero")
    return primaries


def disclosive_zero_cells(grid: Grid) -> set[int]:
    """Zero cells of attribute breakdowns whose whole group is in one other category."""
    counts = set(grid.description.counts)
    flat = grid.values.ravel()
    found: set[int] = set()
    for eq in grid.equations:
        if not eq.attribute or len(eq.children) < 2:
            continue
        if grid.locate(eq.parent)[1] not in counts:
            continue
        total = flat[eq.parent]
        children = np.array(eq.children)
        kids = flat[children]
        if total > 0 and np.count_nonzero(kids == total) == 1 and kids.sum() == total:
            found.update(int(c) for c in children[kids == 0])
    return found


def magnitude_primaries(
    table: pa.Table,
    description: TableDescription,
    policy: DisclosurePolicy,
    contributors: pa.Table | Mapping[str, pa.Table] | None,
) -> dict[str, dict[int, str]]:
    """For each magnitude column: row → failed rule, for rows with a (non-null) value."""
    result: dict[str, dict[int, str]] = {}
    if not description.magnitudes:
        return result
    keys = list(
        zip(*(table.column(d).to_pylist() for d in description.dimension_columns), strict=True)
    )
    for magnitude in description.magnitudes:
        present = table.column(magnitude.column).is_valid().to_pylist()
        source = _contributors_for(magnitude.column, contributors)
        if source is not None:
            stats = contributor_stats(source, description, nk_n=policy.nk_n)
            rule_of = {
                row: magnitude_rule(stats.get(key), policy, dominance=magnitude.dominance)
                for row, key in enumerate(keys)
            }
        else:
            rule_of = _frequency_rules(table, description, magnitude, policy)
        result[magnitude.column] = {
            row: rule for row, rule in rule_of.items() if rule and present[row]
        }
    return result


def _frequency_rules(
    table: pa.Table,
    description: TableDescription,
    magnitude: Magnitude,
    policy: DisclosurePolicy,
) -> dict[int, str | None]:
    """Without contributor-level values only the contributor count can be tested, which
    is enough for a statistic exempt from dominance (a median)."""
    count_column = description.contributor_counts.get(magnitude.column)
    if count_column is None or magnitude.dominance:
        raise DescriptionError(
            f"table {description.name!r}: magnitude {magnitude.column!r} needs "
            "contributor-level values (an Arrow table of the cell's dimensions and "
            "'value') to apply the dominance rules"
        )
    counts = table.column(count_column).to_pylist()
    return {
        row: "min_contributors" if n is None or n < policy.threshold else None
        for row, n in enumerate(counts)
    }


def magnitude_rule(
    stats: tuple[int, float, float, float, float] | None,
    policy: DisclosurePolicy,
    *,
    dominance: bool,
) -> str | None:
    """The first rule a cell fails, from (n, sum, x1, x2, sum of top n), or None."""
    if stats is None:
        return "min_contributors"
    n, total, x1, x2, top_n = stats
    if n < policy.threshold:
        return "min_contributors"
    if not dominance:
        return None
    if total - x1 - x2 < policy.p_percent / 100 * x1:
        return "p_percent"
    if top_n > policy.nk_k / 100 * total:
        return "nk_dominance"
    return None


def contributor_stats(
    contributors: pa.Table, description: TableDescription, *, nk_n: int
) -> dict[tuple, tuple[int, float, float, float, float]]:
    """Per cell at every hierarchy level: (n, sum, x1, x2, sum of the nk_n largest)."""
    _check_contributors(contributors, description)
    top = max(2, nk_n)
    if CONTRIBUTOR_COLUMN in contributors.column_names:
        rows = _stats_by_contributor(contributors, description, top)
    else:
        rows = _rolled_up(_stats_of_rows(contributors, description, top), description, top)
    dims = description.dimension_columns
    stats = {}
    for r in rows:
        largest = [*r["top"], 0.0, 0.0]
        key = tuple(r[d] for d in dims)
        stats[key] = (r["n"], r["total"], largest[0], largest[1], float(sum(r["top"][:nk_n])))
    return stats


def _stats_of_rows(contributors: pa.Table, description: TableDescription, top: int) -> list[dict]:
    """Each row is a contributor: count, sum and the largest values per finest cell."""
    dim_list = ", ".join(_quote(d) for d in description.dimension_columns)
    weight = weight_sql(contributors)
    con = _connect()
    try:
        con.register("contrib", contributors)
        return (
            con.sql(f"""
            SELECT {dim_list}, sum({weight})::BIGINT AS n, sum({VALUE_COLUMN}::DOUBLE) AS total,
                   coalesce(max({VALUE_COLUMN}::DOUBLE, {top}) FILTER ({weight} = 1),
                            []::DOUBLE[]) AS top
            FROM contrib GROUP BY {dim_list}
        """)
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        con.close()


def _rolled_up(rows: list[dict], description: TableDescription, top: int) -> list[dict]:
    """Cells at every level from the finest ones: counts and sums add up, and the largest
    values of a parent are the largest of its children's largest (a few hundred cells, so
    this is cheaper than joining millions of contributor rows to their ancestors)."""
    merged: dict[tuple, dict] = {}
    dims = description.dimensions
    for r in rows:
        chains = [_chain(r[d.column], d.parent) for d in dims]
        for key in itertools.product(*chains):
            cell = merged.setdefault(key, {"n": 0, "total": 0.0, "top": []})
            cell["n"] += r["n"]
            cell["total"] += r["total"]
            cell["top"] = heapq.nlargest(top, cell["top"] + r["top"])
    return [
        {**dict(zip((d.column for d in dims), key, strict=True)), **cell}
        for key, cell in merged.items()
    ]


def _chain(value: str, parent: Mapping[str, str]) -> list[str]:
    chain = [value]
    while chain[-1] in parent:
        chain.append(parent[chain[-1]])
    return chain


def _stats_by_contributor(
    contributors: pa.Table, description: TableDescription, top: int
) -> list[dict]:
    """Contributors identified by id (an enterprise with units in several areas): roll
    rows up to every level first, then sum each contributor within each cell."""
    dims = description.dimension_columns
    con = _connect()
    try:
        con.register("contrib", contributors)
        joins, selects = [], []
        for i, dim in enumerate(description.dimensions):
            col = _quote(dim.column)
            if dim.hierarchical:
                con.register(f"anc{i}", _ancestors(dim.parent))
                joins.append(f"JOIN anc{i} ON c.{col} = anc{i}.value")
                selects.append(f"anc{i}.ancestor AS {col}")
            else:
                selects.append(f"c.{col} AS {col}")
        dim_list = ", ".join(_quote(d) for d in dims)
        return (
            con.sql(f"""
            WITH up AS (
                SELECT {", ".join(selects)}, c.{CONTRIBUTOR_COLUMN} AS contributor,
                       c.{VALUE_COLUMN}::DOUBLE AS v
                FROM contrib c {" ".join(joins)}
            ),
            per AS (SELECT {dim_list}, sum(v) AS v FROM up GROUP BY {dim_list}, contributor)
            SELECT {dim_list}, count(*) AS n, sum(v) AS total, max(v, {top}) AS top
            FROM per GROUP BY {dim_list}
        """)
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        con.close()


def _contributors_for(
    column: str, contributors: pa.Table | Mapping[str, pa.Table] | None
) -> pa.Table | None:
    if isinstance(contributors, pa.Table):
        return contributors
    return (contributors or {}).get(column)


def _check_contributors(contributors: pa.Table, description: TableDescription) -> None:
    needed = [*description.dimension_columns, VALUE_COLUMN]
    missing = [c for c in needed if c not in contributors.column_names]
    if missing:
        raise DescriptionError(f"table {description.name!r}: contributors lack column(s) {missing}")
    if contributors.column(VALUE_COLUMN).null_count:
        raise DescriptionError(f"table {description.name!r}: contributor values have nulls")
    if WEIGHT_COLUMN in contributors.column_names:
        if CONTRIBUTOR_COLUMN in contributors.column_names:
            raise DescriptionError(
                f"table {description.name!r}: contributors are either identified or "
                "summarised, not both"
            )
        weights = contributors.column(WEIGHT_COLUMN)
        if weights.null_count or (len(weights) and pc.min(weights).as_py() < 1):
            raise DescriptionError(
                f"table {description.name!r}: a summary row stands for fewer than one contributor"
            )
    for dim in description.dimensions:
        if dim.hierarchical:
            values = pc.unique(contributors.column(dim.column)).to_pylist()
            unknown = set(values) - dim.known_values()
            if unknown:
                raise DescriptionError(
                    f"table {description.name!r}: contributors' {dim.column!r} has values "
                    f"outside its hierarchy: {sorted(map(str, unknown))[:5]}"
                )


def _ancestors(parent: Mapping[str, str]) -> pa.Table:
    """(value, ancestor) for every value and each of its ancestors, itself included."""
    values, ancestors = [], []
    for value in set(parent) | set(parent.values()):
        node: str | None = value
        while node is not None:
            values.append(value)
            ancestors.append(node)
            node = parent.get(node)
    return pa.table({"value": values, "ancestor": ancestors})


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # library code: nothing on the terminal
    return con
