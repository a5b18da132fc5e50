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
from labour_trust.disclosure.loss import loss_from_status
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
    *,
    method: str = "lp",
) -> SdcResult:
    """Suppress and round the table, one month or several.

    The table's views and its own relations (``PublishedTable.relations`` within the
    table: claimant_outcomes' breakdowns sharing their 'all' rows, ``employed_m6 <=
    achievers``) are protected as one problem (``joint.protect_month``), so the merged
    table passes the joint audit, not just each view's. Relations to *other* tables need
    ``protect_month`` over all of them. ``method="partner"``: the information-loss
    baseline, view by view (see ``disclosure/loss.py``)."""
    if method == "lp":
        from labour_trust.publishing.joint import protect_month  # joint imports this module

        name = published.name
        months = protect_month(
            {name: table},
            policy,
            {name: contributors} if contributors else None,
            published={name: published},
        )
        return months[name]
    results = [
        apply_policy(
            rows_of(table, published, view),
            view.description,
            policy,
            contributors=contributors_for(view, contributors) or None,
            method=method,
        )
        for view in published.views
    ]
    if len(results) == 1:
        return results[0]
    return _merge(results, kept_rows(table, published))


def kept_rows(table: pa.Table, published: PublishedTable) -> pa.Table:
    """The rows of ``table`` that are published (before view filters)."""
    if published.drop_rows is None:
        return table
    return table.filter(pc.invert(published.drop_rows(table)))


def contributors_for(
    view: PublishedView, contributors: Mapping[str, pa.Table] | None
) -> Mapping[str, pa.Table] | None:
    """The contributor rows of a view's cells: a view that filters rows (one breakdown of
    claimant_outcomes) has contributors of the other breakdowns' cells too."""
    if not contributors or view.rows is None:
        return contributors
    out = {}
    for column, table in contributors.items():
        for dim in view.description.dimensions:
            if dim.hierarchical and dim.column in table.column_names:
                known = pa.array(sorted(dim.known_values()), table.schema.field(dim.column).type)
                table = table.filter(pc.is_in(table[dim.column], value_set=known))
        out[column] = table
    return out


def verify(
    result: SdcResult,
    published: PublishedTable,
    policy: DisclosurePolicy,
    contributors: Mapping[str, pa.Table] | None = None,
) -> list[CheckResult]:
    """Every blocking disclosure check on each view of what would be published, except the
    LP audit: that attacks all of a month's tables together (``joint.audit_month``)."""
    checks = []
    for view in published.views:
        shown = rows_of(result.table, published, view)
        checks += check_published(
            shown,
            view.description,
            policy,
            contributors=contributors_for(view, contributors),
            run_audit=False,
        )
    return checks


def _merge(results: list[SdcResult], rows: pa.Table | None = None) -> SdcResult:
    """Views share their margin rows: a shared cell is suppressed if any view suppresses it.
    ``rows`` (the true values) gives the merged table its own information-loss summary."""
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
    merged = dataclasses.replace(results[0], table=table, status=status)
    if rows is not None:
        loss = loss_from_status(status, rows, dims, description.additive_columns)
        merged = dataclasses.replace(merged, loss=loss)
    return merged


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
