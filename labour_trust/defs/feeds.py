"""One factory turns each FeedSpec into its Dagster asset, contract checks and sensor."""

import datetime as dt
import warnings
from collections.abc import Iterator, Sequence

import dagster as dg

from labour_trust.defs.partitions import MONTHLY, monthly_check
from labour_trust.defs.resources import AuditTrail, ShareStore
from labour_trust.defs.sensors import build_shares_sensor
from labour_trust.feeds.contract import RULES, ContractReport, check_share_month
from labour_trust.feeds.freshness import freshness_problem
from labour_trust.feeds.spec import FeedSpec
from labour_trust.shares.pinned import SharePointer, month_fingerprints, pointer_for

FEED_CLASSIFICATION = "OFFICIAL-SENSITIVE"
# Bump when the contract rules change: every feed month then shows as unsynced.
CONTRACT_VERSION = "contract-2"
SHARES_SENSOR = "shares_sensor"


def column_schema(spec: FeedSpec) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=f.name,
                type=str(f.type),
                description=spec.column_descriptions.get(f.name),
                constraints=dg.TableColumnConstraints(nullable=f.nullable),
            )
            for f in spec.schema
        ]
    )


def contract_check_specs(spec: FeedSpec) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey(spec.asset_key_path)
    return [monthly_check(rule, key, text) for rule, text in RULES.items()]


def build_feed_asset(spec: FeedSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.asset_key_path,
        description=spec.description,
        group_name=spec.department,
        partitions_def=MONTHLY,
        owners=list(spec.owners),
        kinds={"delta", "pandera"},
        tags={"classification": FEED_CLASSIFICATION, "department": spec.department},
        metadata={
            "dagster/column_schema": column_schema(spec),
            "share": spec.name,
            "key_columns": ", ".join(spec.key_columns),
        },
        check_specs=contract_check_specs(spec),
        io_manager_key="pointer_io_manager",
        code_version=CONTRACT_VERSION,
    )
    def feed(context: dg.AssetExecutionContext, shares: ShareStore, audit: AuditTrail) -> Iterator:
        month = context.partition_key
        # Pin the latest version (never older than the one a sensor saw, so a late run can't
        # regress the pointer); everything below reads this one version.
        table = shares.open(spec)
        report = check_share_month(spec, table, month)
        if not report.passed:
            yield from contract_results(report)
            rules = sorted({v.rule for v in report.violations})
            audit.append(
                "check.failed", asset=spec.name, month=month, version=table.version(), rules=rules
            )
            # No Output: the pointer of the last good materialisation stays in place.
            raise dg.Failure(
                description=f"Contract failed for {spec.name} month {month} at version "
                f"{table.version()} (rules {', '.join(rules)}):\n{report.summary()}",
                metadata={"share": spec.name, "month": month, "version": table.version()},
            )
        pointer = pointer_for(
            spec.name, shares.uri(spec), table, month, report.rows, report.key_version
        )
        yield versioned_output(pointer)
        # After the output: a month's check result belongs to the materialisation it checked
        # (yielded before, Dagster files it under the previous one and automation ignores it).
        yield from contract_results(report)

    return feed


def versioned_output(pointer: SharePointer) -> dg.Output:
    """The month's data version is the fingerprint of its files: re-checking unchanged data
    leaves everything downstream in sync."""
    with warnings.catch_warnings():  # a beta parameter, stable in the pinned Dagster
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(
            pointer,
            metadata=pointer_metadata(pointer),
            data_version=dg.DataVersion(pointer.content_hash),
        )


def contract_results(report: ContractReport) -> Iterator[dg.AssetCheckResult]:
    for rule in RULES:
        violations = report.for_rule(rule)
        yield dg.AssetCheckResult(
            check_name=rule,
            passed=not violations,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(v.message() for v in violations) or None,
            metadata={
                "month": report.month,
                "offending_rows": sum(v.rows for v in violations),
                "columns": ", ".join(sorted({v.column for v in violations if v.column})) or "none",
            },
        )


def pointer_metadata(pointer: SharePointer) -> dict[str, object]:
    return {
        "share_uri": dg.MetadataValue.path(pointer.uri),
        "month": pointer.month,
        "pinned_version": pointer.version,
        "dagster/row_count": pointer.rows,
        "bytes": pointer.bytes,
        "files": pointer.files,
        "content_hash": pointer.content_hash,
    }


def build_freshness_check(spec: FeedSpec) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(spec.asset_key_path),
        name="freshness",
        description=f"{spec.name} publishes month m by day {spec.publication_day} of m+1.",
        blocking=False,
        automation_condition=dg.AutomationCondition.cron_tick_passed("0 7 * * *"),
    )
    def freshness(shares: ShareStore) -> dg.AssetCheckResult:
        months = sorted(month_fingerprints(shares.open(spec)))
        problem = freshness_problem(spec, months, dt.date.today())
        return dg.AssetCheckResult(
            passed=problem is None,
            severity=dg.AssetCheckSeverity.WARN,
            description=problem,
            metadata={"newest_month": months[-1] if months else "none"},
        )

    return freshness


def build_feed_assets(specs: Sequence[FeedSpec]) -> list[dg.AssetsDefinition]:
    return [build_feed_asset(spec) for spec in specs]


def build_feed_checks(specs: Sequence[FeedSpec]) -> list[dg.AssetChecksDefinition]:
    return [build_freshness_check(spec) for spec in specs]


def build_feed_sensors(specs: Sequence[FeedSpec], shares: ShareStore) -> list[dg.SensorDefinition]:
    """One sensor over every share: the months that changed run once each, with the feed
    assets of all shares that changed in them; downstream follows by automation (a trust
    month needs every same-month feed checked, which a share's run can't know)."""
    return [
        build_shares_sensor(
            specs,
            lambda spec: (shares.uri(spec), shares.storage_options()),  # resolved every tick
            name=SHARES_SENSOR,
        )
    ]
