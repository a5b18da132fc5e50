"""Physically restricted copies of published tables, one per column- or region-limited grant.

A Delta Sharing consumer downloads whole data files (through pre-signed URLs), so a
restriction applied as a filter at query time would hand over the rows and columns it was
meant to hide. Instead, every restricted grant is served from its own Delta table, holding
only the permitted columns and the rows of the permitted ITL1 regions:

    <restricted_root>/<agreement id>/<table>

Each copy records, in its commit metadata, the published version it was derived from and
a fingerprint of the grant, so a copy that is stale (the table was republished, or the grant
changed) is detected and rebuilt before it is served.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
from deltalake import CommitProperties, DeltaTable, write_deltalake

from labour_trust.governance.agreements import Agreement, AgreementRegister, TableGrant, utc_today
from labour_trust.shares.storage import S3Settings, storage_options_for

# The column naming each row's ITL1 region, per published table. None: use `itl1_code` if
# the table has it, else `parent_code` (a LAD row's parent is its ITL1 region). Rows whose
# own `area_code` is a permitted region (the ITL1 rows themselves) are kept as well.
DEFAULT_REGION_COLUMNS: dict[str, str | None] = {
    "local_labour_market": None,
    "sector_view": None,
    "claimant_outcomes": None,
    "skills_outcomes": None,
}
_REGION_COLUMN_FALLBACKS = ("itl1_code", "parent_code")
AREA_CODE_COLUMN = "area_code"
SOURCE_VERSION_KEY = "labour_trust.source_version"
# The published table's Delta id: a table deleted and recreated restarts at version 0.
SOURCE_ID_KEY = "labour_trust.source_id"
GRANT_KEY = "labour_trust.grant"


class RestrictionError(ValueError):
    """A grant cannot be applied to its table (e.g. it names a column the table lacks)."""


@dataclass(frozen=True)
class RestrictedTable:
    agreement_id: str
    table: str
    uri: str
    source_version: int
    version: int
    rows: int | None  # rows written; None if the existing copy was already current
    rebuilt: bool


def table_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def restricted_uri(restricted_root: str, agreement_id: str, table: str) -> str:
    return table_uri(restricted_root, agreement_id, table)


def grant_fingerprint(grant: TableGrant, region_column: str | None) -> str:
    spec = {
        "table": grant.name,
        "columns": list(grant.columns) if grant.columns else None,
        "regions": sorted(grant.regions) if grant.regions else None,
        "region_column": region_column,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def materialise_restricted_tables(
    published_root: str,
    register: AgreementRegister,
    restricted_root: str,
    *,
    region_columns: Mapping[str, str | None] | None = None,
    settings: S3Settings | None = None,
    today: date | None = None,
) -> list[RestrictedTable]:
    """Bring the restricted copy of every restricted grant of every live agreement up to date.

    Run after publishing (copies of unchanged tables are left alone). Tables not yet
    published are skipped. The sharing server also rebuilds a stale copy on demand, so this
    is about latency, not correctness.
    """
    day = today or utc_today()
    results = []
    for agreement in register.agreements():
        if not agreement.is_live(day):
            continue
        for grant in agreement.tables:
            source = table_uri(published_root, grant.name)
            if grant.restricted and _exists(source, settings):
                results.append(
                    ensure_restricted_table(
                        source,
                        agreement,
                        grant,
                        restricted_root,
                        region_columns=region_columns,
                        settings=settings,
                    )
                )
    return results


def ensure_restricted_table(
    source_uri: str,
    agreement: Agreement,
    grant: TableGrant,
    restricted_root: str,
    *,
    region_columns: Mapping[str, str | None] | None = None,
    settings: S3Settings | None = None,
) -> RestrictedTable:
    """Return the grant's restricted copy, rebuilding it first if it is missing or stale."""
    source = DeltaTable(source_uri, storage_options=storage_options_for(source_uri, settings))
    region_column = resolve_region_column(source, grant, region_columns)
    fingerprint = grant_fingerprint(grant, region_column)
    target_uri = restricted_uri(restricted_root, agreement.id, grant.name)
    current = _current_copy(target_uri, _source_marks(source, fingerprint), settings)
    if current is not None:
        return RestrictedTable(
            agreement.id, grant.name, target_uri, source.version(), current.version(), None, False
        )
    rows = _write_copy(source, grant, region_column, target_uri, fingerprint, settings)
    target = DeltaTable(target_uri, storage_options=storage_options_for(target_uri, settings))
    return RestrictedTable(
        agreement.id, grant.name, target_uri, source.version(), target.version(), rows, True
    )


def resolve_region_column(
    source: DeltaTable,
    grant: TableGrant,
    region_columns: Mapping[str, str | None] | None = None,
) -> str | None:
    """The column holding each row's ITL1 region, for a region-limited grant."""
    if grant.regions is None:
        return None
    names = set(source.schema().to_arrow().names)
    configured = grant.region_column or {**DEFAULT_REGION_COLUMNS, **(region_columns or {})}.get(
        grant.name
    )
    if configured is not None:
        if configured not in names:
            raise RestrictionError(
                f"region column {configured!r} is not in published table {grant.name!r}"
            )
        return configured
    for candidate in _REGION_COLUMN_FALLBACKS:
        if candidate in names:
            return candidate
    raise RestrictionError(
        f"published table {grant.name!r} has no region column "
        f"({' or '.join(_REGION_COLUMN_FALLBACKS)}); set region_column in the grant"
    )


def _source_marks(source: DeltaTable, fingerprint: str) -> dict[str, str]:
    """What a copy records (in its commit metadata) about what it was derived from."""
    return {
        SOURCE_ID_KEY: source.metadata().id,
        SOURCE_VERSION_KEY: str(source.version()),
        GRANT_KEY: fingerprint,
    }


def _current_copy(
    uri: str, marks: dict[str, str], settings: S3Settings | None
) -> DeltaTable | None:
    if not _exists(uri, settings):
        return None
    copy = DeltaTable(uri, storage_options=storage_options_for(uri, settings))
    last = copy.history(1)[0]
    if all(str(last.get(key)) == value for key, value in marks.items()):
        return copy
    return None


def _write_copy(
    source: DeltaTable,
    grant: TableGrant,
    region_column: str | None,
    target_uri: str,
    fingerprint: str,
    settings: S3Settings | None,
) -> int:
    schema = source.schema().to_arrow()
    partitions = list(source.metadata().partition_columns)
    columns = _projected_columns(pa.schema(schema), grant, partitions)
    dataset = source.to_pyarrow_dataset()
    row_filter = _region_filter(grant, region_column, set(pa.schema(schema).names))
    # Stream batches: a restricted copy of a large table never sits in memory at once.
    reader = dataset.scanner(columns=columns, filter=row_filter).to_reader()
    counter = _CountingReader(reader)
    write_deltalake(
        target_uri,
        counter.reader(),
        partition_by=[p for p in partitions if p in columns] or None,
        mode="overwrite",
        schema_mode="overwrite",
        description=f"{grant.name} restricted for a data-sharing agreement",
        storage_options=storage_options_for(target_uri, settings),
        commit_properties=CommitProperties(custom_metadata=_source_marks(source, fingerprint)),
    )
    return counter.rows


def _projected_columns(schema: pa.Schema, grant: TableGrant, partitions: list[str]) -> list[str]:
    if grant.columns is None:
        return list(schema.names)
    missing = [c for c in grant.columns if c not in schema.names]
    if missing:
        raise RestrictionError(
            f"grant on {grant.name!r} names columns the published table lacks: {missing}"
        )
    # Partition columns (month) are kept: they are how consumers and files are organised.
    keep = set(grant.columns) | set(partitions)
    return [name for name in schema.names if name in keep]


def _region_filter(
    grant: TableGrant, region_column: str | None, names: set[str]
) -> pds.Expression | None:
    if grant.regions is None or region_column is None:
        return None
    regions = pa.array(sorted(grant.regions), pa.string())
    keep = pc.field(region_column).isin(regions)
    if AREA_CODE_COLUMN in names:
        keep = keep | pc.field(AREA_CODE_COLUMN).isin(regions)
    # Nulls (e.g. a UK row's region) count as "not permitted", never as "unknown, keep".
    return pc.coalesce(keep, pa.scalar(False))


class _CountingReader:
    """Counts rows as a RecordBatchReader is consumed by the writer."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self._reader = reader
        self.rows = 0

    def reader(self) -> pa.RecordBatchReader:
        def batches():
            for batch in self._reader:
                self.rows += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(self._reader.schema, batches())


def _exists(uri: str, settings: S3Settings | None) -> bool:
    return DeltaTable.is_deltatable(uri, storage_options=storage_options_for(uri, settings))
