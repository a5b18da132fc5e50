"""Physically restricted copies of published tables, one per column- or region-limited grant.

A Delta Sharing consumer downloads whole data files (through pre-signed URLs), so a
restriction applied as a filter at query time would hand over the rows and columns it was
meant to hide. Instead, every restricted grant is served from its own Delta table, holding
only the permitted columns and the rows of the permitted ITL1 regions:

    <restricted_root>/<agreement id>/<table>

Each copy records, in its commit metadata, the published version it was derived from and
a fingerprint of the grant, so a copy that is stale (the table was republished, or the grant
changed) is detected and rebuilt before it is served.

Released versions
-----------------
A published table's newest Delta version is not necessarily one consumers may see. The
trust's pipeline publishes a month as a transaction whose commit point is the audit entry:
write a new Delta version → append the `publication` audit entry naming it → record it as
released in `<table>/_released.json` (written atomically: temp file + rename, or one S3
PUT). A version whose audit append failed is never recorded, so it is never served; the
next publication of the table first rolls it back (or, if its audit entry did get written,
rolls the record forward) — see `labour_trust.defs.resources.PublicationStore.recover`.

Who reads the record: the sharing service (queries, metadata, versions, table lists) and
every restricted copy, which is derived from the released version only. A table without
a record (published before the record existed, or written by other tooling) is served at
its newest version, as before; once the pipeline has touched a table — it writes the record
before its first Delta write — only released versions are served. `_`-prefixed files are
ignored by Delta readers and by vacuum, so the record can live inside the table's folder
and moves with it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
from deltalake import CommitProperties, DeltaTable, write_deltalake

from labour_trust.files import atomic_write
from labour_trust.governance.agreements import Agreement, AgreementRegister, TableGrant, utc_today
from labour_trust.shares.storage import S3Settings, is_s3, storage_options_for

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
RELEASED_FILE = "_released.json"


class UnreleasedError(LookupError):
    """The table exists but no version of it has been released to consumers yet."""


@dataclass(frozen=True)
class Release:
    """What consumers may see of one published table (from `<table>/_released.json`)."""

    managed: bool  # a record exists: only the recorded version is ever served
    version: int | None  # the released Delta version; None: nothing released yet
    table_id: str | None  # the Delta table id it belongs to (a re-created table restarts)


UNMANAGED = Release(managed=False, version=None, table_id=None)


def read_release(uri: str, settings: S3Settings | None = None) -> Release:
    """The table's release record, or UNMANAGED if it has none."""
    text = _read_text(f"{uri.rstrip('/')}/{RELEASED_FILE}", settings)
    if text is None:
        return UNMANAGED
    record = json.loads(text)
    version = record.get("version")
    return Release(True, None if version is None else int(version), record.get("table_id"))


def write_release(
    uri: str,
    version: int | None,
    table_id: str | None,
    settings: S3Settings | None = None,
    **details: Any,
) -> None:
    """Record `version` as the one consumers see (None: managed, nothing released yet)."""
    record = {"version": version, "table_id": table_id, **details}
    _write_text(f"{uri.rstrip('/')}/{RELEASED_FILE}", json.dumps(record, sort_keys=True), settings)


def open_released(uri: str, settings: S3Settings | None = None) -> DeltaTable:
    """The published table at the version consumers may see.

    Raises UnreleasedError if the pipeline manages the table but has released nothing (or
    the record belongs to an earlier table of the same name)."""
    options = storage_options_for(uri, settings)
    release = read_release(uri, settings)
    if not release.managed:
        return DeltaTable(uri, storage_options=options)
    if release.version is None:
        raise UnreleasedError(f"{uri}: no version has been released yet")
    table = DeltaTable(uri, version=release.version, storage_options=options)
    if release.table_id is not None and table.metadata().id != release.table_id:
        raise UnreleasedError(f"{uri}: the release record belongs to another table")
    return table


def is_released(uri: str, settings: S3Settings | None = None) -> bool:
    """A Delta table with a version consumers may see."""
    if not _exists(uri, settings):
        return False
    if not read_release(uri, settings).managed:
        return True  # served at its newest version: no need to load it here
    try:
        open_released(uri, settings)
    except UnreleasedError:
        return False
    return True


def _read_text(uri: str, settings: S3Settings | None) -> str | None:
    if not is_s3(uri):
        path = Path(uri)
        return path.read_text(encoding="utf-8") if path.is_file() else None
    from labour_trust.governance.file_urls import split_s3_uri

    bucket, key = split_s3_uri(uri)
    client = _s3_client(settings or S3Settings.from_env())
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except client.exceptions.NoSuchKey:
        return None


def _write_text(uri: str, text: str, settings: S3Settings | None) -> None:
    if not is_s3(uri):
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text + "\n")  # readers see the old record or the new one
        return
    from labour_trust.governance.file_urls import split_s3_uri

    bucket, key = split_s3_uri(uri)
    # One PUT: S3 shows the whole object or the previous one, never part of it.
    _s3_client(settings or S3Settings.from_env()).put_object(
        Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/json"
    )


@functools.lru_cache(maxsize=8)
def _s3_client(settings: S3Settings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        **settings.boto3_credentials(),  # none: boto3's chain (session token, profile, role)
        config=Config(s3={"addressing_style": "path" if settings.endpoint_url else "auto"}),
    )


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
    published, or with no released version, are skipped. The sharing server also rebuilds
    a stale copy on demand, so this is about latency, not correctness.
    """
    day = today or utc_today()
    results = []
    for agreement in register.agreements():
        if not agreement.is_live(day):
            continue
        for grant in agreement.tables:
            source = table_uri(published_root, grant.name)
            if grant.restricted and is_released(source, settings):
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
    """Return the grant's restricted copy, rebuilding it first if it is missing or stale.

    The copy is derived from the released version of the source (see the module docstring),
    never from a newer, unreleased one; UnreleasedError if nothing is released."""
    source = open_released(source_uri, settings)
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
