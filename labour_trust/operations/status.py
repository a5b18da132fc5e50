"""One health picture: shares, feed months checked and stale, assets and failing checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import dagster as dg

from labour_trust.defs.partitions import MONTHLY
from labour_trust.defs.resources import PointerIOManager, ShareStore
from labour_trust.feeds.spec import FeedSpec
from labour_trust.governance.agreements import AgreementRegister
from labour_trust.operations.refresh import TRIGGER_TAG
from labour_trust.operations.state import fail_orphaned_runs, partition_states
from labour_trust.shares.pinned import MonthFingerprint, ShareReadError, month_fingerprints


@dataclass
class ShareStatus:
    share: str
    uri: str
    version: int | None = None
    months: list[str] = field(default_factory=list)
    last_change: str | None = None
    stale_months: list[str] = field(default_factory=list)
    error: str | None = None


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


def stale_months(
    spec: FeedSpec, fingerprints: dict[str, MonthFingerprint], pointers: PointerIOManager
) -> list[str]:
    """Months whose files (from the share's log) differ from what was last checked."""
    key = dg.AssetKey(spec.asset_key_path)
    return sorted(
        month
        for month, fingerprint in fingerprints.items()
        if (p := pointers.read(key, month)) is None or p.content_hash != fingerprint.content_hash
    )


def asset_status(
    instance: dg.DagsterInstance, defs: dg.Definitions, months_with_data: list[str]
) -> list[dict]:
    """Per asset: months materialised of those with data, failed months (with the error),
    unsynced months (with the cause), missing months, and failing checks."""
    graph = defs.resolve_asset_graph()
    out = []
    for state in partition_states(instance, defs, months_with_data):
        key = dg.AssetKey.from_user_string(state.asset)
        failed = _failed_checks(instance, graph, key)
        out.append(
            {
                **asdict(state),
                "failing_checks": [n for n, s in failed if s == dg.AssetCheckSeverity.ERROR],
                "warnings": [n for n, s in failed if s == dg.AssetCheckSeverity.WARN],
            }
        )
    return out


def _failed_checks(
    instance: dg.DagsterInstance, graph, key: dg.AssetKey, history: int = 200
) -> list[tuple[str, dg.AssetCheckSeverity]]:
    """Checks whose latest execution failed for some month: "rule (2024-02, 2024-03)"."""
    failed = []
    for check_key in sorted(graph.get_check_keys_for_assets({key}), key=lambda k: k.name):
        records = instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=history
        )
        latest: dict[str | None, dg.AssetCheckEvaluation] = {}
        for record in records:  # newest first
            evaluation = record.evaluation
            if isinstance(evaluation, dg.AssetCheckEvaluation):
                latest.setdefault(record.partition, evaluation)
        bad = {p: e for p, e in latest.items() if not e.passed}
        if bad:
            months = ", ".join(sorted(p for p in bad if p))
            severity = next(iter(bad.values())).severity
            failed.append((f"{check_key.name} ({months})" if months else check_key.name, severity))
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
    fail_orphaned_runs(instance, TRIGGER_TAG, "refresh")  # a killed refresh: failed, not running
    shares, pointers = resources["shares"], resources["pointer_io_manager"]
    register = resources["publications"].register()
    share_report = [share_status(s, shares, pointers) for s in specs]
    partitions = set(MONTHLY.get_partition_keys())
    months = sorted(partitions & set().union(*[s.months for s in share_report]))
    return {
        "shares": [asdict(s) for s in share_report],
        "assets": asset_status(instance, defs, months),
        "agreements": agreement_status(register, dt.datetime.now(dt.UTC).date()),
    }


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")
