"""Published tables as Dagster assets: disclosure control, blocking SDC checks, Delta output.

`published/<name>` month m: read `trust.<name>` for m from the warehouse, protect it, run
every disclosure check (threshold and rounding, contributors and dominance, identifiers,
the independent LP audit). A failed check writes nothing: the previous good version of that
month stays published.

If all pass, the month is published as a transaction whose commit point is the audit entry:

1. read the agreement register (a broken register fails the run with nothing written);
2. under the table's publication lock, undo any earlier unreleased version, then write the
   month to the Delta table `<published root>/<name>` (a new version, not yet served);
3. append the `publication` audit entry naming that version (and the month's hash);
4. release the version (`<table>/_released.json`) — only now do the sharing server and the
   restricted copies see it;
5. expose it: the warehouse table `published.<name>`, the human-facing CSV ('c' suppressed,
   'z' not applicable; written atomically) and the restricted copies.

If the audit append fails, the version is never released and the next run rolls it back
and publishes again, so a publication and its audit record exist together or not at all.
"""

import hashlib
from collections.abc import Iterator, Mapping

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from labour_trust.automation import follow_upstream
from labour_trust.disclosure import CheckResult, DisclosurePolicy, write_csv
from labour_trust.feeds.departments import FEEDS_BY_NAME
from labour_trust.partitions import MONTHLY
from labour_trust.publishing.protect import protect, verify
from labour_trust.publishing.tables import PUBLISHED, PublishedTable
from labour_trust.resources import AuditTrail, PublicationStore, ShareStore
from labour_trust.shares.pinned import SharePointer
from labour_trust.trust.datasets import TRUST_DATASETS
from labour_trust.trust.factory import feed_inputs, pinned_connection
from labour_trust.trust.months import month_params
from labour_trust.warehouse import read_month, write_month

PUBLISHED_CLASSIFICATION = "OFFICIAL"
# Bump when disclosure control changes what a month publishes: every month shows as unsynced.
PUBLISH_CODE_VERSION = "sdc-2"
SDC_CHECKS = {
    "columns": "Only the declared, publishable columns are present.",
    "identifiers": "No token, identifier or person-level column or value is present.",
    "counts": "Every published count is at least the threshold and a multiple of the base.",
    "magnitudes": "Every published magnitude has enough contributors and passes the p% and "
    "(n, k) dominance rules.",
    "audit": "Independent LP audit: no suppressed cell can be narrowed below its protection "
    "level from what is published.",
}
# disclosure.check_published's names → asset check names (an unknown name is an error, so
# that no check can silently go unreported).
_CHECK_NAMES = {
    "published columns": "columns",
    "no identifiers": "identifiers",
    "published counts": "counts",
    "published magnitudes": "magnitudes",
    "independent audit": "audit",
}


def build_published_asset(table: PublishedTable, agreements: list[str]) -> dg.AssetsDefinition:
    dataset = TRUST_DATASETS[table.name]
    trust_key = dg.AssetKey(["trust", table.name])
    key = dg.AssetKey(["published", table.name])
    # Feed pointers are inputs for the contributor-level values behind the magnitudes.
    ins = feed_inputs(dataset)

    @dg.asset(
        key=key,
        description=f"{dataset.description}\n\nPublished under disclosure control.",
        group_name="published",
        partitions_def=MONTHLY,
        deps=[dg.AssetDep(trust_key)],
        ins=ins,
        owners=["team:labour-trust"],
        kinds={"delta", "duckdb"},
        tags={"classification": PUBLISHED_CLASSIFICATION},
        check_specs=[
            dg.AssetCheckSpec(name, asset=key, description=text, blocking=True)
            for name, text in SDC_CHECKS.items()
        ],
        metadata={
            "dagster/column_schema": _column_schema(table),
            "dagster/column_lineage": _lineage(table, trust_key),
            "dagster/table_name": f"published.{table.name}",
            # As registered when the code location loaded; each run records the current list.
            "agreements": ", ".join(agreements) or "none",
        },
        # Feeds are inputs only for contributor values: the trust month is what triggers.
        automation_condition=follow_upstream(
            [dg.AssetKey(f.asset_key_path) for f in FEEDS_BY_NAME.values()]
        ),
        code_version=PUBLISH_CODE_VERSION,
    )
    def published(
        context: dg.AssetExecutionContext,
        warehouse: DuckDBResource,
        shares: ShareStore,
        publications: PublicationStore,
        audit: AuditTrail,
        **feeds: SharePointer | dict[str, SharePointer],
    ) -> Iterator:
        month = context.partition_key
        policy = publications.policy()
        rows = read_month(warehouse, "trust", table.name, month)
        values = _contributors(table, month, feeds, shares)
        result = protect(rows, table, policy, values)
        checks = verify(result, table, policy, values)
        yield from _check_results(checks, result.loss, policy)
        if not all(c.passed for c in checks):
            audit.append(
                "publication.blocked",
                table=table.name,
                month=month,
                checks=[c.check for c in checks if not c.passed],
            )
            raise dg.Failure(
                description=f"Disclosure checks failed for published/{table.name} {month}:\n"
                + "\n".join(c.message for c in checks if not c.passed),
            )
        # The register before anything is written: a broken register must leave no trace.
        register = publications.register()
        agreements = publications.agreements_for(table.name, register)
        uri = publications.uri(table.name)
        with publications.lock(table.name):
            recovered = publications.recover(table.name, audit.published_versions)
            if recovered in ("rolled back", "rolled forward"):
                context.log.warning(f"published/{table.name}: unreleased version {recovered}")
            previous = publications.released_version(table.name)
            version = publications.write(table.name, month, result.table)
            table_id = publications.table_id(table.name)
            try:
                audit.append(
                    "publication",
                    table=table.name,
                    month=month,
                    delta_version=version,
                    delta_uri=uri,
                    delta_table_id=table_id,
                    content_sha256=content_hash(result.table),
                    rows=result.table.num_rows,
                    policy_version=policy.version,
                    agreements=agreements,
                )
            except Exception as exc:
                # Not released: consumers keep `previous`; the next run rolls this back.
                raise dg.Failure(
                    description=f"published/{table.name} {month}: Delta version {version} "
                    f"was written but its audit entry could not be appended ({exc}), so it "
                    f"is not released (consumers still see version {previous}). Repair the "
                    "audit log (`labour-trust audit verify`) and rerun: the run republishes."
                ) from exc
            publications.release(table.name, version, table_id)
        # Released and recorded: now expose it everywhere else.
        write_month(warehouse, "published", table.name, month, result.table)
        csv = write_csv(result, publications.csv_path(table.name, month))
        restricted = publications.refresh_restricted_copies(register)
        yield dg.Output(
            None,
            metadata={
                "dagster/row_count": result.table.num_rows,
                "delta_uri": dg.MetadataValue.path(publications.uri(table.name)),
                "delta_version": version,
                "csv": dg.MetadataValue.path(str(csv)),
                "policy_version": policy.version,
                "agreements": ", ".join(agreements) or "none",
                "restricted_copies": restricted,
                **_loss_metadata(result.loss),
            },
        )

    return published


def content_hash(table: pa.Table) -> str:
    """SHA-256 of the published month as Arrow IPC: the same rows in the same order and
    schema give the same hash (the rows come from the warehouse ORDER BY ALL)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _contributors(
    table: PublishedTable,
    month: str,
    feeds: Mapping[str, SharePointer | dict[str, SharePointer]],
    shares: ShareStore,
) -> dict[str, pa.Table]:
    """Contributor-level values of every magnitude, at the finest cells only (the engine
    and the checks roll them up the hierarchy). Magnitudes sharing one SQL (mean and median
    pay) are computed once."""
    dataset = TRUST_DATASETS[table.name]
    description = table.views[0].description
    parents = sorted({v for d in description.dimensions for v in d.parent.values()})
    hierarchical = [d.column for d in description.dimensions if d.parent]
    finest = " AND ".join(f"{c} NOT IN (SELECT unnest($parents))" for c in hierarchical)
    by_sql: dict[str, list[str]] = {}
    for column, sql in dataset.contributor_sql.items():
        by_sql.setdefault(sql, []).append(column)
    out: dict[str, pa.Table] = {}
    with pinned_connection(dataset, month, feeds, shares.storage_options()) as con:
        for sql, columns in by_sql.items():
            query = f"SELECT * FROM ({sql}) WHERE {finest or 'true'}"
            params = {**month_params(sql, month), "parents": parents}
            rows = con.sql(query, params=params).to_arrow_table()
            out.update(dict.fromkeys(columns, rows))
    return out


def _check_results(
    checks: list[CheckResult], loss, policy: DisclosurePolicy
) -> Iterator[dg.AssetCheckResult]:
    by_name: dict[str, list[CheckResult]] = {}
    for check in checks:
        by_name.setdefault(_CHECK_NAMES[check.check], []).append(check)
    for name in SDC_CHECKS:
        results = by_name.get(name, [])
        failed = [c for c in results if not c.passed]
        yield dg.AssetCheckResult(
            check_name=name,
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(c.message for c in failed) or None,
            metadata={
                "violations": sum(c.total_violations for c in failed),
                "policy_version": policy.version,
                **_loss_metadata(loss),
            },
        )


def _loss_metadata(loss) -> dict[str, object]:
    return {
        "cells": loss.cells,
        "cells_primary": loss.primary,
        "cells_secondary": loss.secondary,
        "cells_rounded": loss.rounded,
        "suppressed_value_share": float(loss.suppressed_value_share),
    }


def _published_columns(table: PublishedTable) -> list[str]:
    """The trust dataset's columns less those used by disclosure control only."""
    hidden = set(table.views[0].description.hidden_columns)
    return [c.name for c in TRUST_DATASETS[table.name].column_specs if c.name not in hidden]


def _column_schema(table: PublishedTable) -> dg.TableSchema:
    specs = {c.name: c for c in TRUST_DATASETS[table.name].column_specs}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, str(specs[name].type), description=specs[name].description)
            for name in _published_columns(table)
        ]
    )


def _lineage(table: PublishedTable, trust_key: dg.AssetKey) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            c: [dg.TableColumnDep(asset_key=trust_key, column_name=c)]
            for c in _published_columns(table)
        }
    )


def build_published_assets(publications: PublicationStore) -> list[dg.AssetsDefinition]:
    return [
        build_published_asset(t, publications.agreements_for(t.name)) for t in PUBLISHED.values()
    ]
