"""Resources, in one place: where shares live, the trust warehouse, feed pointers."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource
from deltalake import DeltaTable, write_deltalake

from labour_trust.disclosure import DisclosurePolicy
from labour_trust.feeds.spec import FeedSpec
from labour_trust.governance.agreements import AgreementRegister
from labour_trust.governance.audit_log import AuditLog
from labour_trust.shares.pinned import SharePointer, open_share
from labour_trust.shares.storage import share_uri, storage_options_for

HOME_ENV = "LABOUR_TRUST_HOME"
SHARES_ENV = "LABOUR_TRUST_SHARES"
PUBLISHED_ENV = "LABOUR_TRUST_PUBLISHED"


def trust_home() -> Path:
    """Everything of the embedded default lives here (LABOUR_TRUST_HOME, ./.labour_trust)."""
    return Path(os.environ.get(HOME_ENV, ".labour_trust")).resolve()


def shares_root(home: Path | None = None) -> str:
    """Department shares: LABOUR_TRUST_SHARES (a folder or s3://bucket/prefix) or HOME/shares."""
    return os.environ.get(SHARES_ENV) or str((home or trust_home()) / "shares")


class ShareStore(dg.ConfigurableResource):
    """Where the department shares live: a local folder or an S3 prefix (read in place)."""

    root: str

    def uri(self, spec: FeedSpec) -> str:
        return share_uri(self.root, spec.department, spec.table)

    def storage_options(self) -> dict[str, str] | None:
        return storage_options_for(self.root)

    def open(self, spec: FeedSpec, version: int | None = None) -> DeltaTable:
        return open_share(spec.name, self.uri(spec), version, self.storage_options())


class PointerIOManager(dg.ConfigurableIOManager):
    """Stores each feed partition's SharePointer as a small JSON file — never the data."""

    base_dir: str

    def _path(self, key: dg.AssetKey, partition: str) -> Path:
        return Path(self.base_dir, *key.path, f"{partition}.json")

    def handle_output(self, context: dg.OutputContext, obj: SharePointer) -> None:
        path = self._path(context.asset_key, context.partition_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(obj.to_json())
        tmp.replace(path)  # atomic: a reader sees the old pointer or the new one

    def load_input(self, context: dg.InputContext) -> SharePointer | dict[str, SharePointer]:
        key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        months = context.asset_partition_keys
        if months == [context.partition_key]:  # the same month: it must have been checked
            if (pointer := self.read(key, months[0])) is None:
                raise dg.Failure(f"{'/'.join(key.path)} month {months[0]} has no checked pointer")
            return pointer
        # Look-ahead / look-back inputs: months not published yet are simply absent.
        return {m: p for m in months if (p := self.read(key, m)) is not None}

    def read(self, key: dg.AssetKey, month: str) -> SharePointer | None:
        path = self._path(key, month)
        return SharePointer.from_json(path.read_text()) if path.exists() else None


class PublicationStore(dg.ConfigurableResource):
    """Where published tables go (Delta, in place for Delta Sharing), the disclosure policy,
    the agreement register and the audit log."""

    home: str
    root: str  # a folder or s3://bucket/prefix

    def uri(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def write(self, name: str, month: str, table: pa.Table) -> int:
        """Replace one month of the published Delta table; returns the new version."""
        uri = self.uri(name)
        write_deltalake(
            uri,
            table,
            mode="overwrite",
            predicate=f"month = '{month}'",
            partition_by=["month"],
            storage_options=storage_options_for(uri),
        )
        return DeltaTable(uri, storage_options=storage_options_for(uri)).version()

    def csv_path(self, name: str, month: str) -> Path:
        return Path(self.home, "exports", name, f"{name}_{month}.csv")

    def policy(self) -> DisclosurePolicy:
        """HOME/disclosure_policy.yaml if present, else the defaults of DESIGN §5."""
        path = Path(self.home, "disclosure_policy.yaml")
        return DisclosurePolicy.from_yaml(path) if path.exists() else DisclosurePolicy()

    def register(self) -> AgreementRegister:
        from labour_trust.governance.cli import ensure_register

        return AgreementRegister.load(ensure_register(Path(self.home)))

    def agreements_for(self, name: str) -> list[str]:
        return [a.id for a in self.register().agreements() if a.grant(name) is not None]

    def refresh_restricted_copies(self) -> int:
        """Region- and column-limited grants are served from physically restricted copies
        (a pre-signed URL hands over a whole file): bring them up to date now, not on the
        first consumer request."""
        from labour_trust.governance.restricted import materialise_restricted_tables
        from labour_trust.governance.sharing_service import default_restricted_root

        restricted = default_restricted_root(self.root, Path(self.home))
        return len(materialise_restricted_tables(self.root, self.register(), restricted))


class AuditTrail(dg.ConfigurableResource):
    """The hash-chained audit log: publications, blocked publications, failed checks."""

    path: str

    def append(self, event: str, **details: object) -> None:
        AuditLog(Path(self.path), actor="labour-trust").append(event, **details)


def published_root(home: Path) -> str:
    return os.environ.get(PUBLISHED_ENV) or str(home / "published")


def build_resources(home: Path) -> dict[str, object]:
    return {
        "shares": ShareStore(root=shares_root(home)),
        "publications": PublicationStore(home=str(home), root=published_root(home)),
        "audit": AuditTrail(path=str(home / "audit.log")),
        # Not "trust.duckdb": DuckDB names the catalog after the file, and a catalog named
        # like the `trust` schema makes `trust.<table>` ambiguous for every analyst.
        "warehouse": DuckDBResource(database=str(home / "warehouse.duckdb")),
        "pointer_io_manager": PointerIOManager(base_dir=str(home / "pointers")),
    }
