"""One health picture: shares, feed months checked and stale, assets and failing checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import dagster as dg

from labour_trust.feeds.spec import FeedSpec
from labour_trust.governance.agreements import AgreementRegister
from labour_trust.operations.refresh import stale_months
from labour_trust.resources import PointerIOManager, ShareStore
from labour_trust.shares.pinned import ShareReadError, month_fingerprints


@dataclass
class ShareStatus:
    share: str
    uri: str
    version: int | None = None
    months: list[str] = field(default_factory=list)
    last_change: str | None = None
    stale_months: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class AssetStatus:
    asset: str
    last_materialization: str | None
    partitions_materialized: int
    failing_checks: list[str]  # blocking (ERROR) checks whose latest execution failed
    warnings: list[str]  # non-blocking (WARN) checks whose latest execution failed


def share_status(spec: FeedSpec, shares: ShareStore, pointers: PointerIOManager) -> ShareStatus:
    status = ShareStatus(spec.name, shares.uri(spec))
    try:
        table = shares.open(spec)
        status.version = table.version()
        fingerprints = month_fingerprints(table)  # one log read for months and staleness
        status.months = sorted(fingerprints)
        timestamp = table.history(1)[0]["timestamp"]
        status.last_change = _iso(timestamp / 1000)
        status.stale_months = stale_months(spec, fingerprints, pointers)
    except ShareReadError as e:
        status.error = str(e)
    return status


def asset_status(instance: dg.DagsterInstance, defs: dg.Definitions) -> list[AssetStatus]:
    graph = defs.resolve_asset_graph()
    out = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        event = instance.get_latest_materialization_event(key)
        materialized = instance.get_materialized_partitions(key)
        failed = _failed_checks(instance, graph, key)
        out.append(
            AssetStatus(
                asset=key.to_user_string(),
                last_materialization=_iso(event.timestamp) if event else None,
                partitions_materialized=len(materialized),
                failing_checks=[n for n, s in failed if s == dg.AssetCheckSeverity.ERROR],
                warnings=[n for n, s in failed if s == dg.AssetCheckSeverity.WARN],
            )
        )
    return out


def _failed_checks(
    instance: dg.DagsterInstance, graph, key: dg.AssetKey
) -> list[tuple[str, dg.AssetCheckSeverity]]:
    failed = []
    for check_key in sorted(graph.get_check_keys_for_assets({key}), key=lambda k: k.name):
        history = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=1)
        evaluation = history[0].evaluation if history else None
        if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed:
            failed.append((check_key.name, evaluation.severity))
    return failed


EXPIRY_WARNING_DAYS = 30


def agreement_status(register: AgreementRegister, today: dt.date) -> list[dict]:
    """Agreements that are not live, or expire within the warning window."""
    out = []
    for agreement in register.agreements():
        state = agreement.state_on(today)
        days_left = (agreement.expires - today).days
        if state != "active" or days_left <= EXPIRY_WARNING_DAYS:
            out.append(
                {
                    "id": agreement.id,
                    "consumer": agreement.consumer,
                    "expires": agreement.expires.isoformat(),
                    "status": state,
                    "days_left": days_left,
                }
            )
    return out


def status_report(
    specs: list[FeedSpec],
    resources: dict,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
) -> dict[str, list[dict]]:
    shares, pointers = resources["shares"], resources["pointer_io_manager"]
    register = resources["publications"].register()
    return {
        "shares": [asdict(share_status(s, shares, pointers)) for s in specs],
        "assets": [asdict(a) for a in asset_status(instance, defs)],
        "agreements": agreement_status(register, dt.datetime.now(dt.UTC).date()),
    }


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")
