"""Protect a trust dataset month for publication: views → engine → one published table.

Plain library (no Dagster): the published assets call `protect` and `verify`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.disclosure import CheckResult, DisclosurePolicy, SdcResult, apply_policy
from labour_trust.disclosure.checks import check_published
from labour_trust.disclosure.engine import (
    NOT_APPLICABLE,
    PRIMARY,
    PUBLISHED,
    ROUNDED,
    SECONDARY,
)
from labour_trust.publishing.tables import PublishedTable, PublishedView

# When views disagree about a shared cell, the most protective status wins.
_SEVERITY = {PUBLISHED: 0, ROUNDED: 1, NOT_APPLICABLE: 2, SECONDARY: 3, PRIMARY: 4}


def rows_of(table: pa.Table, published: PublishedTable, view: PublishedView) -> pa.Table:
    if published.drop_rows is not None:
        table = table.filter(pc.invert(published.drop_rows(table)))
    if view.rows is not None:
        table = table.filter(view.rows(table))
    return table


def protect(
    table: pa.Table,
    published: PublishedTable,
    policy: DisclosurePolicy,
    contributors: Mapping[str, pa.Table] | None = None,
) -> SdcResult:
    """Suppress and round each view, then merge the views into one publishable result."""
    results = [
        apply_policy(
            rows_of(table, published, view),
            view.description,
            policy,
            contributors=contributors or None,
        )
        for view in published.views
    ]
    return results[0] if len(results) == 1 else _merge(results)


def verify(
    result: SdcResult,
    published: PublishedTable,
    policy: DisclosurePolicy,
    contributors: Mapping[str, pa.Table] | None = None,
) -> list[CheckResult]:
    """Every blocking disclosure check, including the independent audit, on each view of
    what would actually be published."""
    checks = []
    for view in published.views:
        shown = rows_of(result.table, published, view)
        checks += check_published(shown, view.description, policy, contributors=contributors)
    return checks


def _merge(results: list[SdcResult]) -> SdcResult:
    """Views share their margin rows: a shared cell is suppressed if any view suppresses it."""
    description = results[0].description
    dims = list(description.dimension_columns)
    con = duckdb.connect()
    try:
        con.register("status_all", pa.concat_tables([r.status for r in results]))
        worst = " ".join(f"WHEN '{s}' THEN {n}" for s, n in _SEVERITY.items())
        status = con.sql(f"""
            SELECT {", ".join(dims)}, "column", arg_max(status, CASE status {worst} END) AS status,
                   arg_max(rule, CASE status {worst} END) AS rule
            FROM status_all GROUP BY ALL
        """).to_arrow_table()
        con.register("status", status)
        con.register("rows_all", pa.concat_tables([r.table for r in results]))
        table = con.sql(_merged_rows_sql(results[0].table, description, dims)).to_arrow_table()
        status = _status_in_row_order(con, table, dims)
    finally:
        con.close()
    table = table.cast(results[0].table.schema)
    return dataclasses.replace(results[0], table=table, status=status)


def _merged_rows_sql(sample: pa.Table, description, dims: list[str]) -> str:
    keys = " AND ".join(f"s.{d} = r.{d}" for d in dims)
    measures = set(description.measure_columns)
    columns = []
    for name in sample.column_names:
        if name in measures:
            hidden = f"""EXISTS (SELECT 1 FROM status s WHERE {keys} AND s."column" = '{name}'
                         AND s.status IN ('{PRIMARY}', '{SECONDARY}'))"""
            columns.append(f'CASE WHEN {hidden} THEN NULL ELSE r."{name}" END AS "{name}"')
        else:
            columns.append(f'r."{name}"')
    return f"""
        SELECT DISTINCT ON ({", ".join("r." + d for d in dims)}) {", ".join(columns)}
        FROM rows_all r ORDER BY {", ".join("r." + d for d in dims)}
    """


def _status_in_row_order(con: duckdb.DuckDBPyConnection, table: pa.Table, dims: list[str]):
    con.register(
        "merged",
        table.select(dims).append_column("_row", pa.array(range(table.num_rows), pa.int64())),
    )
    keys = " AND ".join(f"s.{d} = m.{d}" for d in dims)
    return con.sql(f"""
        SELECT s.* FROM status s JOIN merged m ON {keys} ORDER BY s."column", m._row
    """).to_arrow_table()
