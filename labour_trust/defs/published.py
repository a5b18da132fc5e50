"""The month's published tables as one Dagster step: joint disclosure control, blocking
SDC checks, Delta output.

`published_month` month m reads every `trust.<name>` of m from the warehouse and protects
them as one problem (`publishing/joint.protect_month`): every view of every table, the
relations between tables (the same people counted in two tables, subsets ≤ their sets) and
the release consumers already hold for m. The contributors behind the magnitudes are the
trust step's summaries of the same month (no feed is read here). Every disclosure check
then runs on what would be published, the LP audit jointly over all tables and the earlier
release (`joint.audit_month`). A failed check writes nothing: the previous good release of
every table stays published.

If all pass, each table's month is published as a transaction whose commit point is the
audit entry:

1. read the agreement register (a broken register fails the run with nothing written);
2. under the table's publication lock, undo any earlier unreleased version, then write the
   month to the Delta table `<published root>/<name>` (a new version, not yet served);
3. append the `publication` audit entry naming that version and the one it replaces;
4. release the version (`<table>/_released.json`) — only now do the sharing server and the
   restricted copies see it;
5. expose it: the warehouse table `published.<name>`, the human-facing CSV ('c' suppressed,
   'z' not applicable; written atomically) and the restricted copies — the assets
   `exports/<name>` and `restricted/<name>`, whose checks read back what was written
   (`defs/consumer_copies.py`).

If the audit append fails, the version is never released and the next run rolls it back
and publishes again, so a publication and its audit record exist together or not at all.
"""

import hashlib
from collections.abc import Iterator, Mapping

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.defs.automation import follow_upstream
from labour_trust.defs.consumer_copies import (
    consumer_check_specs,
    consumer_specs,
    export_results,
    restricted_results,
)
from labour_trust.defs.partitions import MONTHLY, monthly_check
from labour_trust.defs.resources import AuditTrail, PublicationStore, TrustTables
from labour_trust.disclosure import (
    SDC_CHECKS,
    AuditReport,
    CheckResult,
    DisclosurePolicy,
    PolicyError,
    SdcResult,
    Violation,
)
from labour_trust.disclosure.primary import VALUE_COLUMN, WEIGHT_COLUMN
from labour_trust.governance.agreements import AgreementRegister
from labour_trust.publishing.joint import audit_month, month_loss, protect_month
from labour_trust.publishing.protect import verify
from labour_trust.publishing.tables import PUBLISHED, PublishedTable
from labour_trust.trust.contributors import of_magnitude
from labour_trust.trust.datasets import TRUST_DATASETS

PUBLISHED_CLASSIFICATION = "OFFICIAL"
# Bump when disclosure control changes what a month publishes: every month shows as unsynced.
PUBLISH_CODE_VERSION = "sdc-3"


def published_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["published", name])


def _spec(
    table: PublishedTable,
    agreements: list[str],
    policy: DisclosurePolicy,
    trust_keys: list[dg.AssetKey],
) -> dg.AssetSpec:
    dataset = TRUST_DATASETS[table.name]
    trust_key = dg.AssetKey(["trust", table.name])
    return dg.AssetSpec(
        key=published_key(table.name),
        # The lineage table in the description too: the open-source UI renders descriptions
        # on the asset page, while markdown metadata sits behind a "show" button.
        description=f"{dataset.description}\n\nPublished under disclosure control, protected "
        f"together with the month's other published tables.\n\n**Lineage**\n\n"
        f"{_lineage_markdown(table)}",
        group_name="published",
        partitions_def=MONTHLY,
        # Every trust table of the month, not only its own: the month is protected as one
        # problem (a suppression here can be forced by a cell there), and a backfill then
        # targets the same months for every key of this one step.
        deps=trust_keys,
        owners=["team:labour-trust"],
        kinds={"delta", "duckdb"},
        tags={"classification": PUBLISHED_CLASSIFICATION},
        metadata={
            "dagster/column_schema": _column_schema(table, policy),
            "dagster/column_lineage": _lineage(table, trust_key),
            "lineage": dg.MetadataValue.md(_lineage_markdown(table)),
            "dagster/table_name": f"published.{table.name}",
            # As registered when the code location loaded; each run records the current list.
            "agreements": ", ".join(agreements) or "none",
        },
        automation_condition=follow_upstream(),
        code_version=PUBLISH_CODE_VERSION,
    )


def build_published_month(
    publications: PublicationStore, tables: Mapping[str, PublishedTable] = PUBLISHED
) -> dg.AssetsDefinition:
    """All published tables of a month as one step: one protection problem over every table,
    its breakdowns, the relations between tables and the release consumers already hold."""
    policy = _catalog_policy(publications)
    trust_keys = [dg.AssetKey(["trust", name]) for name in tables]

    @dg.multi_asset(
        name="published_month",
        specs=[
            *[
                _spec(t, publications.agreements_for(t.name), policy, trust_keys)
                for t in tables.values()
            ],
            *[
                spec
                for t in tables.values()
                for spec in consumer_specs(
                    t, PUBLISH_CODE_VERSION, _column_schema(t, policy), trust_keys
                )
            ],
        ],
        check_specs=[
            *[
                monthly_check(name, published_key(t), text)
                for t in tables
                for name, text in SDC_CHECKS.items()
            ],
            *[c for t in tables.values() for c in consumer_check_specs(t)],
        ],
        partitions_def=MONTHLY,
        can_subset=False,  # one problem: a table alone would drop its relations to the others
    )
    def published_month(
        context: dg.AssetExecutionContext,
        trust_tables: TrustTables,
        publications: PublicationStore,
        audit: AuditTrail,
    ) -> Iterator:
        month = context.partition_key
        _require_derived(context, trust_keys, month)
        policy = publications.policy()
        rows, contributors = month_inputs(trust_tables, month, tables)
        previous = {
            name: old
            for name in tables
            if (old := publications.released_month(name, month)) is not None
        }
        results = protect_month(rows, policy, contributors, previous, published=tables)
        final = {name: result.table for name, result in results.items()}
        joint = audit_month(final, policy, previous, published=tables)
        checks = {
            name: [
                *verify(results[name], t, policy, contributors[name]),
                _joint_check(joint, name),
            ]
            for name, t in tables.items()
        }
        failed = {n: [c.check for c in cs if not c.passed] for n, cs in checks.items()}
        failed = {n: f for n, f in failed.items() if f}
        if failed:
            for name in tables:
                yield from _check_results(name, month, checks[name], results[name].loss, policy)
            audit.append("publication.blocked", month=month, tables=failed)
            raise dg.Failure(
                description=f"Disclosure checks failed for the published tables of {month}:\n"
                + "\n".join(c.message for cs in checks.values() for c in cs if not c.passed),
            )
        # The register before anything is written: a broken register must leave no trace.
        register = publications.register()
        released = {
            name: _publish(context, publications, audit, register, policy, name, results[name])
            for name in tables
        }
        restricted = publications.refresh_restricted_copies(register)
        loss = month_loss(rows, results, policy, contributors, published=tables)
        for name, (version, previous_version, agreements) in released.items():
            result = results[name]
            # Released and recorded: now expose it everywhere else.
            trust_tables.write_month("published", name, month, result.table)
            csv = publications.write_export(name, month, result)
            copies = [c for c in restricted if c.table == name]
            yield dg.MaterializeResult(
                asset_key=published_key(name),
                metadata={
                    "month": month,
                    "dagster/row_count": result.table.num_rows,
                    "delta_uri": dg.MetadataValue.path(publications.uri(name)),
                    "delta_version": version,
                    "replaces_version": previous_version,
                    "csv": dg.MetadataValue.path(str(csv)),
                    "policy_version": policy.version,
                    "agreements": ", ".join(agreements) or "none",
                    "restricted_copies": len(copies),
                    **_loss_metadata(result.loss),
                    **_baseline_metadata(loss[name]["baseline"]),
                    **{f"joint_{k}": v for k, v in results.metadata().items() if v is not None},
                    "joint_audit_cells_attacked": joint.cells_attacked,
                    "joint_audit_seconds": round(joint.seconds, 3),
                },
            )
            # Checks after their materialisation, so that they belong to it (see feeds).
            yield from _check_results(name, month, checks[name], result.loss, policy)
            # What consumers receive, checked as written (lineage ends where they read).
            yield from export_results(name, month, result, csv)
            yield from restricted_results(name, month, copies, result.table.column_names)

    return published_month


def _require_derived(
    context: dg.AssetExecutionContext, trust_keys: list[dg.AssetKey], month: str
) -> None:
    """A trust month never derived reads as no rows, on which the disclosure control fails
    with an error that names nothing. A backfill or `refresh --months` of the publication
    step alone can ask for such a month: say which tables and what to do."""
    missing = [
        key.to_user_string()
        for key in trust_keys
        if month not in context.instance.get_materialized_partitions(key)
    ]
    if missing:
        raise dg.Failure(
            description=f"published tables of {month}: {', '.join(missing)} not derived for "
            f"{month}: materialise them first (or include them in the selection); nothing "
            "was published"
        )


def _publish(
    context: dg.AssetExecutionContext,
    publications: PublicationStore,
    audit: AuditTrail,
    register: AgreementRegister,
    policy: DisclosurePolicy,
    name: str,
    result: SdcResult,
) -> tuple[int, int | None, list[str]]:
    """The transaction: write a new Delta version, append its audit entry (the commit
    point), release it. Returns the version, the one it replaces, and the agreements."""
    month = context.partition_key
    agreements = publications.agreements_for(name, register)
    uri = publications.uri(name)
    with publications.lock(name):
        recovered = publications.recover(name, audit.published_versions)
        if recovered in ("rolled back", "rolled forward"):
            context.log.warning(f"published/{name}: unreleased version {recovered}")
        previous = publications.released_version(name)
        version = publications.write(name, month, result.table)
        table_id = publications.table_id(name)
        try:
            audit.append(
                "publication",
                table=name,
                month=month,
                delta_version=version,
                replaces_version=previous,
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
                description=f"published/{name} {month}: Delta version {version} "
                f"was written but its audit entry could not be appended ({exc}), so it "
                f"is not released (consumers still see version {previous}). Repair the "
                "audit log (`labour-trust audit verify`) and rerun: the run republishes."
            ) from exc
        publications.release(name, version, table_id)
    return version, previous, agreements


def _joint_check(report: AuditReport, name: str) -> CheckResult:
    """The joint audit's failures in one table, as that table's audit check."""
    violations = [
        Violation(f.table, f.column, f.cell, "protection", f.message)
        for f in report.failures
        if f.table == name
    ]
    return CheckResult("audit", name, not violations, violations[:20], len(violations))


def content_hash(table: pa.Table) -> str:
    """SHA-256 of the published month as Arrow IPC: the same rows in the same order and
    schema give the same hash (the rows come from the warehouse ORDER BY ALL)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def month_inputs(
    trust_tables: TrustTables, month: str, tables: Mapping[str, PublishedTable] = PUBLISHED
) -> tuple[dict[str, pa.Table], dict[str, dict[str, pa.Table]]]:
    """Each table's trust month, and the contributors behind its magnitudes."""
    rows = {name: trust_tables.read_month("trust", name, month) for name in tables}
    contributors = {
        name: _contributors(t, rows[name], _summary(trust_tables, name, month))
        for name, t in tables.items()
    }
    return rows, contributors


def _contributors(
    table: PublishedTable, rows: pa.Table, summary: pa.Table | None
) -> dict[str, pa.Table]:
    """Every magnitude's contributors at the finest cells (the engine and the checks roll
    them up the hierarchies): the trust step's summaries for the magnitudes under the
    dominance rules; for a median (exempt) its contributor count, one summary row a cell."""
    description = table.views[0].description
    dataset = TRUST_DATASETS[table.name]
    dims = list(description.dimension_columns)
    out: dict[str, pa.Table] = {}
    for magnitude in description.magnitudes:
        column = magnitude.column
        if column in dataset.contributor_selects:
            if summary is None:
                raise dg.Failure(f"trust/{table.name} has no contributor summary: rerun it")
            out[column] = _finest(of_magnitude(summary, column), description)
            continue
        if magnitude.dominance:
            raise dg.Failure(
                f"published/{table.name}.{column}: under the dominance rules but "
                f"trust/{table.name} declares no contributor values for it"
            )
        finest = _finest(rows, description)
        n = pc.fill_null(finest[dataset.contributor_columns[column]], 0).cast(pa.int64())
        counts = finest.select(dims).append_column(WEIGHT_COLUMN, n)
        counts = counts.filter(pc.greater(n, 0))
        # n contributors whose values a median's rule does not need (it is exempt from
        # dominance): zeros stand in for them.
        out[column] = counts.append_column(VALUE_COLUMN, pa.array([0.0] * counts.num_rows))
    return out


def _summary(trust_tables: TrustTables, name: str, month: str) -> pa.Table | None:
    if not TRUST_DATASETS[name].contributor_selects:
        return None
    return trust_tables.read_month("contributors", name, month)


def _finest(rows: pa.Table, description) -> pa.Table:
    """Rows whose hierarchical dimensions are at their finest level."""
    keep = pa.array([True] * rows.num_rows)
    for dim in description.dimensions:
        if dim.parent:
            parents = pa.array(sorted(set(dim.parent.values())))
            keep = pc.and_(keep, pc.invert(pc.is_in(rows[dim.column], value_set=parents)))
    return rows.filter(keep)


def _check_results(
    table: str, month: str, checks: list[CheckResult], loss, policy: DisclosurePolicy
) -> Iterator[dg.AssetCheckResult]:
    by_name: dict[str, list[CheckResult]] = {}
    for check in checks:
        by_name.setdefault(check.check, []).append(check)
    for name in SDC_CHECKS:
        results = by_name.get(name, [])
        failed = [c for c in results if not c.passed]
        yield dg.AssetCheckResult(
            asset_key=published_key(table),
            check_name=name,
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(c.message for c in failed) or None,
            metadata={
                "month": month,
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


def _baseline_metadata(figures: dict[str, float]) -> dict[str, object]:
    """What the "partner" baseline (hide the smallest partner; not audited) would have
    cost on this table alone: the information loss the joint engine is judged against."""
    return {
        "baseline_method": "partner",
        "baseline_cells_suppressed": figures["suppressed"],
        "baseline_suppressed_value_share": figures["suppressed_value_share"],
    }


def published_columns(table: PublishedTable) -> list[str]:
    """The trust dataset's columns less those used by disclosure control only."""
    hidden = set(table.views[0].description.hidden_columns)
    return [c.name for c in TRUST_DATASETS[table.name].column_specs if c.name not in hidden]


def _column_schema(table: PublishedTable, policy: DisclosurePolicy) -> dg.TableSchema:
    """The trust column's meaning, then how it is published (rounding, suppression)."""
    specs = {c.name: c for c in TRUST_DATASETS[table.name].column_specs}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                str(specs[name].type),
                description=" ".join(
                    filter(None, [specs[name].description, table.publication_rule(name, policy)])
                ),
            )
            for name in published_columns(table)
        ]
    )


def _catalog_policy(publications: PublicationStore) -> DisclosurePolicy:
    """The home's policy for the catalog's column notes; a broken policy file must not stop
    the code location loading (the publish step reports it), so the defaults stand in."""
    try:
        return publications.policy()
    except PolicyError:
        return DisclosurePolicy()


def _lineage_markdown(table: PublishedTable) -> str:
    """Published column ← trust column ← feed columns, for the open-source UI."""
    feeds = TRUST_DATASETS[table.name].lineage
    lines = ["| column | from trust column | from feed columns |", "|---|---|---|"]
    for column in published_columns(table):
        sources = ", ".join(f"{share}.{c}" for share, c in feeds.get(column, []))
        lines.append(f"| {column} | trust/{table.name}.{column} | {sources} |")
    return "\n".join(lines)


def _lineage(table: PublishedTable, trust_key: dg.AssetKey) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            c: [dg.TableColumnDep(asset_key=trust_key, column_name=c)]
            for c in published_columns(table)
        }
    )


def build_published_assets(publications: PublicationStore) -> list[dg.AssetsDefinition]:
    return [build_published_month(publications)]
