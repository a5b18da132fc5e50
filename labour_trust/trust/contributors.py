"""Contributor summaries: what the dominance rules need of a magnitude's contributors,
computed by the trust step beside its dataset, so that publishing never reads a feed again.

For each cell and magnitude: the ``TOP_CONTRIBUTORS`` largest values as rows of their own
(``contributors`` = 1) and everyone else as one row (``contributors`` = how many, ``value``
= their sum) — the summarised form the disclosure rules take (``disclosure/primary.py``)
and give the same answer on as on every contributor. Cells of every level are summarised;
the publish step keeps the finest (it knows the hierarchies) and the rules roll them up.
A month of a national feed (tens of millions of contributor rows) becomes a few thousand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.disclosure.policy import MAX_NK_N
from labour_trust.months import month_params
from labour_trust.trust.spec import TrustDataset

if TYPE_CHECKING:
    import duckdb

# Enough for the (n, k) dominance rule's largest n and the p% rule's top two.
TOP_CONTRIBUTORS = MAX_NK_N
MAGNITUDE_COLUMN = "magnitude"


def summary_sql(dimensions: tuple[str, ...], contributor_sql: str, magnitudes: list[str]) -> str:
    """One contributor query summarised per cell, once for each magnitude it serves."""
    dims = ", ".join(f'"{d}"' for d in dimensions)
    labels = ", ".join(f"'{m}'" for m in magnitudes)
    return f"""
        WITH cells AS (
            SELECT {dims}, count(*) AS n, sum(value::DOUBLE) AS total,
                   max(value::DOUBLE, {TOP_CONTRIBUTORS}) AS top
            FROM ({contributor_sql}) GROUP BY ALL
        ),
        rows AS (
            SELECT {dims}, unnest(top) AS value, 1::BIGINT AS contributors FROM cells
            UNION ALL
            SELECT {dims}, total - list_sum(top), n - len(top) FROM cells WHERE n > len(top)
        )
        SELECT m.magnitude, rows.* FROM rows CROSS JOIN (SELECT unnest([{labels}]) AS magnitude) m
    """


def summarise(
    con: duckdb.DuckDBPyConnection,
    dataset: TrustDataset,
    month: str,
    tables: frozenset[str] = frozenset(),
) -> pa.Table | None:
    """Every magnitude's contributor summary for ``month`` (columns: magnitude, the dataset's
    dimensions, value, contributors), None without magnitudes under the dominance rules;
    magnitudes sharing one query are computed once.
    ``tables``: stages already tables of ``con`` (``stages.materialise_stages``)."""
    by_sql: dict[str, list[str]] = {}
    for column, sql in dataset.contributor_sql_over(tables).items():
        by_sql.setdefault(sql, []).append(column)
    if not by_sql:
        return None
    parts = []
    for sql, columns in by_sql.items():
        query = summary_sql(dataset.dimensions, sql, columns)
        parts.append(con.sql(query, params=month_params(sql, month)).to_arrow_table())
    return pa.concat_tables(parts, promote_options="permissive")


def of_magnitude(summary: pa.Table, magnitude: str) -> pa.Table:
    """One magnitude's rows, without the magnitude column."""

    rows = summary.filter(pc.equal(summary[MAGNITUDE_COLUMN], magnitude))
    return rows.drop_columns([MAGNITUDE_COLUMN])
