"""Resources, in one place: where shares live, the trust's tables, feed pointers,
publications and the audit trail.

All trust state lives in the store (`labour_trust.settings.store_root`: a folder, or
s3://bucket/prefix on a cluster, where a run pod needs no shared volume). The DuckDB
warehouse is a convenience mirror for analysts on the machine that has one, never read by
the pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.dataset as pds
from dagster_duckdb import DuckDBResource
from deltalake import DeltaTable, write_deltalake
from pydantic import PrivateAttr

from labour_trust.disclosure import DisclosurePolicy, SdcResult
from labour_trust.disclosure.export import csv_bytes
from labour_trust.feeds.spec import FeedSpec
from labour_trust.governance.agreements import AgreementRegister
from labour_trust.governance.audit_log import audit_location, open_audit_log
from labour_trust.settings import is_embedded, store_root, trust_home
from labour_trust.shares.pinned import SharePointer, open_share
from labour_trust.shares.storage import share_uri, storage_options_for
from labour_trust.store import Store
from labour_trust.trust.stages import SharedStages
from labour_trust.warehouse import UNMIRRORED_SCHEMAS, mirror_month

SHARES_ENV = "LABOUR_TRUST_SHARES"
PUBLISHED_ENV = "LABOUR_TRUST_PUBLISHED"


def shares_root(home: Path | None = None) -> str:
    """Department shares: LABOUR_TRUST_SHARES (a folder or s3://bucket/prefix) or
    STORE/shares."""
    return os.environ.get(SHARES_ENV) or Store(store_root(home or trust_home())).uri("shares")


class ShareStore(dg.ConfigurableResource):
    """Where the department shares live: a local folder or an S3 prefix (read in place)."""

    root: str

    def uri(self, spec: FeedSpec) -> str:
        return share_uri(self.root, spec.department, spec.table)

    def storage_options(self) -> dict[str, str] | None:
        return storage_options_for(self.root)

    def open(self, spec: FeedSpec, version: int | None = None) -> DeltaTable:
        return open_share(spec.name, self.uri(spec), version, self.storage_options())


def replace_month(uri: str, month: str, table: pa.Table, **options: str) -> int:
    """Replace one month of a month-partitioned Delta table in one commit (readers see the
    old month or the new one); the table's new version."""
    storage_options = storage_options_for(uri)
    write_deltalake(
        uri,
        table,
        mode="overwrite",
        predicate=f"month = '{month}'",
        partition_by=["month"],
        storage_options=storage_options,
        **options,
    )
    return DeltaTable(uri, storage_options=storage_options).version()


class TrustStages(dg.ConfigurableResource):
    """The stage tables the trust datasets of a run share (``trust/stages.SharedStages``):
    one per run, dropped when the run ends."""

    _shared: SharedStages = PrivateAttr(default_factory=SharedStages)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._shared = SharedStages()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._shared.close()

    @property
    def shared(self) -> SharedStages:
        return self._shared


class PointerIOManager(dg.ConfigurableIOManager):
    """Stores each feed partition's SharePointer as a small JSON object — never the data."""

    base_dir: str  # a folder or s3:// prefix

    def _parts(self, key: dg.AssetKey, partition: str) -> tuple[str, ...]:
        return (*key.path, f"{partition}.json")

    def handle_output(self, context: dg.OutputContext, obj: SharePointer | None) -> None:
        parts = self._parts(context.asset_key, context.partition_key)
        if obj is None:  # a month read from afar, not published yet (defs/feed_offsets.py)
            Store(self.base_dir).delete(*parts)
        else:  # replaced whole: a reader sees the old pointer or the new one
            Store(self.base_dir).write_text(*parts, text=obj.to_json())

    def load_input(self, context: dg.InputContext) -> SharePointer | dict[str, SharePointer] | None:
        key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        months = context.asset_partition_keys
        if months == [context.partition_key]:
            # The same month: None if never checked (the reader says why: not published
            # yet, or published and not checked).
            return self.read(key, months[0])
        # Look-ahead / look-back inputs: months not published yet are simply absent.
        return {m: p for m in months if (p := self.read(key, m)) is not None}

    def read(self, key: dg.AssetKey, month: str) -> SharePointer | None:
        text = Store(self.base_dir).read_text(*self._parts(key, month))
        return None if text is None else SharePointer.from_json(text)


class TrustTables(dg.ConfigurableResource):
    """The trust's own tables (trust datasets, evaluation results, published copies) as
    Delta tables in the store, partitioned by month: the source of truth. `warehouse`, if
    set, is a DuckDB file mirrored after each write for analysts (see `warehouse.py`)."""

    store: str  # the trust's state: a folder or s3:// prefix; tables under `tables/`
    warehouse: DuckDBResource | None = None

    def uri(self, schema: str, name: str) -> str:
        return Store(self.store).uri("tables", schema, name)

    def write_month(self, schema: str, name: str, month: str, table: pa.Table) -> int:
        """Replace one month (one Delta commit: readers see the old month or the new one);
        returns the table's new version."""
        with Store(self.store).lock(f"table-{schema}.{name}"):  # one writer per table
            version = replace_month(self.uri(schema, name), month, table, schema_mode="merge")
        if self.warehouse is not None and schema not in UNMIRRORED_SCHEMAS:
            mirror_month(self.warehouse, schema, name, month, table)
        return version

    def read_month(self, schema: str, name: str, month: str) -> pa.Table:
        """One month at the newest version, rows in a stable order (ORDER BY ALL)."""
        uri = self.uri(schema, name)
        options = storage_options_for(uri)
        if not DeltaTable.is_deltatable(uri, storage_options=options):
            raise dg.Failure(f"{schema}/{name} has no table yet ({uri})")
        rows = (
            DeltaTable(uri, storage_options=options)
            .to_pyarrow_dataset()
            .to_table(filter=pds.field("month") == month)
        )
        with duckdb.connect() as con:
            con.register("month_rows", rows)
            return con.sql("SELECT * FROM month_rows ORDER BY ALL").to_arrow_table()


class PublicationStore(dg.ConfigurableResource):
    """Where published tables go (Delta, in place for Delta Sharing), the disclosure policy,
    the agreement register and the audit log.

    A publication is a transaction whose commit point is its audit entry (see the
    published asset): under `lock(name)`, `recover` → `write` → audit append → `release`.
    Consumers see only the released version (`governance/restricted.py`).
    """

    store: str  # the trust's state: a folder or s3://bucket/prefix
    root: str  # published tables: a folder or s3://bucket/prefix

    def uri(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """One publication of a table at a time (across processes on this host): Delta
        versions are cumulative, so a version must be released or rolled back before the
        next one is written on top of it."""
        with Store(self.store).lock(f"published-{name}"):
            yield

    def table_id(self, name: str) -> str:
        uri = self.uri(name)
        return DeltaTable(uri, storage_options=storage_options_for(uri)).metadata().id

    def recover(self, name: str, audited: Callable[[str, str], set[int]]) -> str:
        """Before a write: make the newest Delta version the released one, or roll it back.

        `audited(uri, table_id)` gives the versions with a `publication` audit entry. A
        newer, unreleased version whose audit entry exists (the run stopped between audit
        and release) is released — the audit log is the commit point; one without an entry
        is undone (restored to the released version, or emptied if nothing was released),
        so the next write never carries it into a released version. Returns what was done.
        """
        from labour_trust.governance.restricted import read_release, write_release

        uri = self.uri(name)
        options = storage_options_for(uri)
        release = read_release(uri)
        if not DeltaTable.is_deltatable(uri, storage_options=options):
            if not release.managed or release.version is not None:
                write_release(uri, None, None)  # managed from the first write: none released
            return "new"
        table = DeltaTable(uri, storage_options=options)
        head, table_id = table.version(), table.metadata().id
        if not release.managed:
            # Published before release records existed: what was served stays served.
            write_release(uri, head, table_id, recovered="baseline")
            return "baseline"
        same_table = release.table_id in (None, table_id)
        if same_table and release.version == head:
            return "clean"
        if head in audited(uri, table_id):
            write_release(uri, head, table_id, recovered="audited")
            return "rolled forward"
        if same_table and release.version is not None:
            table.restore(release.version)
        else:
            table.delete()  # nothing of this table was ever released
        return "rolled back"

    def write(self, name: str, month: str, table: pa.Table) -> int:
        """Replace one month of the published Delta table; returns the new version (not yet
        released: consumers keep the previous release until `release`)."""
        return replace_month(self.uri(name), month, table)

    def release(self, name: str, version: int, table_id: str) -> None:
        """Let consumers see `version` (call only after its audit entry is appended)."""
        from labour_trust.governance.restricted import write_release

        write_release(self.uri(name), version, table_id)

    def released_version(self, name: str) -> int | None:
        from labour_trust.governance.restricted import read_release

        return read_release(self.uri(name)).version

    def released_month(self, name: str, month: str) -> pa.Table | None:
        """The month as consumers hold it (the released version), or None if never released."""
        version = self.released_version(name)
        if version is None:
            return None
        uri = self.uri(name)
        table = DeltaTable(uri, version=version, storage_options=storage_options_for(uri))
        rows = table.to_pyarrow_dataset().to_table(filter=pds.field("month") == month)
        return rows if rows.num_rows else None

    def write_export(self, name: str, month: str, result: SdcResult) -> str:
        """Write the month's CSV export to STORE/exports/<name>/ (replaced whole); its URI."""
        store, parts = Store(self.store), ("exports", name, f"{name}_{month}.csv")
        store.write_bytes(*parts, content=csv_bytes(result))
        return store.uri(*parts)

    def policy(self) -> DisclosurePolicy:
        """STORE/disclosure_policy.yaml if present, else the policy's defaults."""
        store = Store(self.store)
        text = store.read_text("disclosure_policy.yaml")
        if not text:
            return DisclosurePolicy()
        return DisclosurePolicy.from_text(text, store.uri("disclosure_policy.yaml"))

    def register(self) -> AgreementRegister:
        """STORE/agreements.yaml, else the shipped demo register read in place: reading the
        register (as loading the definitions does) never writes into the store."""
        store = Store(self.store)
        if store.fingerprint("agreements.yaml") is not None:
            return AgreementRegister.in_store(store)
        demo = resources.files("labour_trust.governance").joinpath("demo_agreements.yaml")
        with resources.as_file(demo) as source:
            return AgreementRegister.load(Path(source))

    def agreements_for(self, name: str, register: AgreementRegister | None = None) -> list[str]:
        register = register or self.register()
        return [a.id for a in register.agreements() if a.grant(name) is not None]

    def refresh_restricted_copies(self, register: AgreementRegister | None = None) -> list:
        """Region- and column-limited grants are served from physically restricted copies
        (a pre-signed URL hands over a whole file): bring them up to date now, not on the
        first consumer request. Copies follow released versions only."""
        from labour_trust.governance.restricted import materialise_restricted_tables
        from labour_trust.governance.sharing_service import default_restricted_root

        restricted = default_restricted_root(self.root, self.store)
        register = register or self.register()
        return materialise_restricted_tables(self.root, register, restricted)


class AuditTrail(dg.ConfigurableResource):
    """The hash-chained audit log: publications, blocked publications, failed checks."""

    path: str  # a file (embedded) or an s3:// prefix of entries

    def append(self, event: str, **details: object) -> dict[str, object]:
        return open_audit_log(self.path, actor="labour-trust").append(event, **details)

    def published_versions(self, uri: str, table_id: str) -> set[int]:
        """Delta versions of the table at `uri` with a `publication` entry. Entries written
        before `delta_uri` / `delta_table_id` were recorded match on the table name."""
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        versions: set[int] = set()
        for entry in open_audit_log(self.path).entries():
            details = entry.get("details") or {}
            if (
                entry.get("event") == "publication"
                and details.get("table") == name
                and details.get("delta_uri", uri) == uri
                and details.get("delta_table_id", table_id) == table_id
                and isinstance(details.get("delta_version"), int)
            ):
                versions.add(details["delta_version"])
        return versions


def published_root(home: Path) -> str:
    return os.environ.get(PUBLISHED_ENV) or Store(store_root(home)).uri("published")


def warehouse_path(home: Path) -> Path:
    # Not "trust.duckdb": DuckDB names the catalog after the file, and a catalog named
    # like the `trust` schema makes `trust.<table>` ambiguous for every analyst.
    return home / "warehouse.duckdb"


def build_resources(home: Path) -> dict[str, object]:
    store = Store(store_root(home))
    return {
        "shares": ShareStore(root=shares_root(home)),
        "publications": PublicationStore(store=store.root, root=published_root(home)),
        "audit": AuditTrail(path=audit_location(store.root)),
        # On a cluster (store on S3) no pod keeps a warehouse: `labour-trust warehouse`
        # builds one from the store where an analyst wants it.
        "trust_tables": TrustTables(
            store=store.root,
            warehouse=DuckDBResource(database=str(warehouse_path(home)))
            if is_embedded(home)
            else None,
        ),
        "pointer_io_manager": PointerIOManager(base_dir=store.uri("pointers")),
        "trust_stages": TrustStages(),
    }
