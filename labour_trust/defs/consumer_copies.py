"""What consumers actually receive, as assets downstream of each published table.

`exports/<name>`: the month's human-facing CSV ('c' suppressed, 'z' not applicable).
`restricted/<name>`: the physically restricted copies of the table, one per region- or
column-limited grant of a live agreement (`governance/restricted.py`), following the
released version. Both are written by the `published_month` step after the release (the
publication transaction), so lineage ends where consumers read; their checks read back
what was written: no identifier, the markers exactly where the publication has them, the
published columns only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pds
from deltalake import DeltaTable

from labour_trust.defs.automation import follow_upstream
from labour_trust.defs.partitions import MONTHLY, monthly_check
from labour_trust.disclosure import SdcResult, check_no_identifiers, human_table
from labour_trust.governance.restricted import RestrictedTable
from labour_trust.publishing.tables import PublishedTable
from labour_trust.shares.storage import storage_options_for
from labour_trust.store import locate

EXPORT_CHECKS = {
    "identifiers": "No token, NINO or person-level column or value in the file.",
    "markers": "Every suppressed cell reads 'c', every not-applicable cell 'z', and every "
    "other cell its published value.",
    "columns": "Exactly the published table's columns, in order.",
}
RESTRICTED_CHECKS = {
    "identifiers": "No token, NINO or person-level column or value in any restricted copy.",
    "columns": "Every restricted copy holds only published columns.",
}


def export_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["exports", name])


def restricted_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["restricted", name])


def consumer_specs(
    table: PublishedTable,
    code_version: str,
    columns: dg.TableSchema,
    step_inputs: list[dg.AssetKey],
) -> list[dg.AssetSpec]:
    """`columns`: the published table's column schema (a copy holds a subset of it).
    `step_inputs`: the publication step's inputs (every trust table of the month). A copy
    depends on them too, so that a backfill's planner gives every key of the one step the
    same months (with the published table alone, a month the planner drops for the tables
    stayed targeted for the copies and the step ran for none)."""
    published = dg.AssetKey(["published", table.name])
    common = dict(
        metadata={"dagster/column_schema": columns},
        partitions_def=MONTHLY,
        deps=[published, *step_inputs],
        owners=["team:labour-trust"],
        tags={"classification": "OFFICIAL"},
        automation_condition=follow_upstream(),
        code_version=code_version,
    )
    return [
        dg.AssetSpec(
            key=export_key(table.name),
            description=f"CSV of published/{table.name} for one month, for people: "
            "'c' marks a suppressed cell, 'z' a cell that does not apply.",
            group_name="exports",
            kinds={"csv"},
            **common,
        ),
        dg.AssetSpec(
            key=restricted_key(table.name),
            description=f"Restricted copies of published/{table.name}: one Delta table per "
            "region- or column-limited grant, holding only what the agreement allows.",
            group_name="restricted",
            kinds={"delta"},
            **common,
        ),
    ]


def consumer_check_specs(table: PublishedTable) -> list[dg.AssetCheckSpec]:
    return [
        monthly_check(name, export_key(table.name), text) for name, text in EXPORT_CHECKS.items()
    ] + [
        monthly_check(name, restricted_key(table.name), text)
        for name, text in RESTRICTED_CHECKS.items()
    ]


def export_results(name: str, month: str, result: SdcResult, csv: str) -> Iterator:
    """The export's materialisation and its checks, read back from the written object."""
    store, filename = locate(csv)
    written = pacsv.read_csv(
        pa.BufferReader(store.read_bytes(filename) or b""),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in result.table.column_names},
            strings_can_be_null=False,
        ),
    )
    expected = human_table(result)
    key = export_key(name)
    yield dg.MaterializeResult(
        asset_key=key,
        metadata={"month": month, "path": dg.MetadataValue.path(csv), "rows": len(written)},
    )
    yield _identifiers(key, month, [(filename, written)])
    columns_ok = written.column_names == result.table.column_names
    yield _result(key, "columns", month, columns_ok, f"{filename} has {written.column_names}")
    wrong = _marker_mismatches(written, expected) if columns_ok else ["columns differ"]
    yield _result(key, "markers", month, not wrong, "; ".join(wrong[:10]))


def restricted_results(
    name: str, month: str, copies: Iterable[RestrictedTable], published_columns: list[str]
) -> Iterator:
    """The restricted copies' materialisation and checks, read from the copies themselves
    (this month's rows: earlier months were checked when they were published)."""
    tables = []
    for copy in copies:
        table = DeltaTable(copy.uri, storage_options=storage_options_for(copy.uri))
        rows = table.to_pyarrow_dataset().to_table(filter=pds.field("month") == month)
        tables.append((f"{copy.agreement_id}/{name}", rows))
    key = restricted_key(name)
    yield dg.MaterializeResult(
        asset_key=key,
        metadata={
            "month": month,
            "copies": len(tables),
            "agreements": ", ".join(label for label, _ in tables) or "none",
        },
    )
    yield _identifiers(key, month, tables)
    extra = [
        f"{label}: {sorted(set(t.column_names) - set(published_columns))}"
        for label, t in tables
        if not set(t.column_names) <= set(published_columns)
    ]
    yield _result(key, "columns", month, not extra, "; ".join(extra))


def _marker_mismatches(written: pa.Table, expected: pa.Table) -> list[str]:
    out = []
    for column in expected.column_names:
        if not pa.types.is_string(expected.schema.field(column).type):
            continue  # dimensions and flags: not disclosure-controlled cells
        got, want = written[column].to_pylist(), expected[column].to_pylist()
        out += [
            f"{column} row {i}: {g!r} where the publication has {w!r}"
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            if g != w and (g in ("c", "z") or w in ("c", "z"))
        ]
    return out


def _identifiers(key: dg.AssetKey, month: str, tables: list[tuple[str, pa.Table]]):
    found = [v.message for label, t in tables for v in check_no_identifiers(t, label).violations]
    return _result(key, "identifiers", month, not found, "\n".join(found[:20]))


def _result(key: dg.AssetKey, check: str, month: str, passed: bool, why: str):
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=check,
        passed=passed,
        description=None if passed else why,
        metadata={"month": month},
    )
