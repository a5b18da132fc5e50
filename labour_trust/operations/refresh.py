"""Headless refresh: materialise every feed month that is missing or stale, and downstream.

A month is stale when the share's files for it (the Delta log's add actions) no longer
match the fingerprint of the pointer that was checked, so the test costs one log read per
share and no data scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from labour_trust.feeds.departments import FEEDS_BY_NAME
from labour_trust.feeds.spec import FeedSpec
from labour_trust.partitions import MONTHLY
from labour_trust.resources import PointerIOManager, ShareStore
from labour_trust.shares.pinned import MonthFingerprint, month_fingerprints
from labour_trust.trust.datasets import TRUST_DATASETS
from labour_trust.trust.months import shift_month


@dataclass
class RefreshPlan:
    months: dict[str, list[FeedSpec]] = field(default_factory=dict)  # month -> feeds to run
    outside_partitions: dict[str, list[str]] = field(default_factory=dict)  # share -> months
    # month -> trust datasets reading a changed feed month (m itself, m-1, m+3, m+6 …)
    trust: dict[str, set[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.months


@dataclass
class RefreshOutcome:
    runs: int = 0
    failures: list[str] = field(default_factory=list)


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


def plan_refresh(
    specs: list[FeedSpec], shares: ShareStore, pointers: PointerIOManager
) -> RefreshPlan:
    plan = RefreshPlan()
    known = set(MONTHLY.get_partition_keys())
    for spec in specs:
        for month in stale_months(spec, month_fingerprints(shares.open(spec)), pointers):
            if month in known:
                plan.months.setdefault(month, []).append(spec)
            else:
                plan.outside_partitions.setdefault(spec.name, []).append(month)

    def checked(share: str, month: str) -> bool:
        key = dg.AssetKey(FEEDS_BY_NAME[share].asset_key_path)
        refreshed = FEEDS_BY_NAME[share] in plan.months.get(month, [])
        return refreshed or pointers.read(key, month) is not None

    plan.trust = _affected_trust_months(plan.months, known, checked)
    return plan


def _affected_trust_months(
    changed: dict[str, list[FeedSpec]], known: set[str], checked
) -> dict[str, set[str]]:
    """Trust months reading a changed feed month, once their own month's feeds are checked."""
    out: dict[str, set[str]] = {}
    for month, specs in changed.items():
        for dataset in TRUST_DATASETS.values():
            same_month = [s for s, offsets in dataset.month_offsets.items() if 0 in offsets]
            for spec in specs:
                for offset in dataset.month_offsets.get(spec.name, ()):
                    target = shift_month(month, -offset)
                    if target in known and all(checked(s, target) for s in same_month):
                        out.setdefault(target, set()).add(dataset.name)
    return out


def run_refresh(
    defs: dg.Definitions, plan: RefreshPlan, instance: dg.DagsterInstance
) -> RefreshOutcome:
    """Check every changed feed month first, then recompute each affected trust month once,
    with what is downstream of it — so an outcome at m reads m+6 only after m+6 is checked.
    """
    outcome = RefreshOutcome()
    failed = set()
    for month, specs in sorted(plan.months.items()):
        feeds = [dg.AssetKey(s.asset_key_path) for s in specs]
        if not _run(defs, instance, month, feeds, outcome):
            failed.add(month)
    graph = defs.resolve_asset_graph()
    for month, names in sorted(plan.trust.items()):
        if month in failed:  # a feed of that month failed its checks: nothing new to derive
            continue
        datasets = dg.AssetSelection.assets(*[dg.AssetKey(["trust", n]) for n in names])
        _run(defs, instance, month, list(datasets.downstream().resolve(graph)), outcome)
    return outcome


def _run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    month: str,
    selection: list[dg.AssetKey],
    outcome: RefreshOutcome,
) -> bool:
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        partition_key=month,
        instance=instance,
        asset_selection=selection,
        raise_on_error=False,
        tags={"labour_trust/trigger": "refresh"},
    )
    outcome.runs += 1
    failures = _failed_checks(result)
    if not result.success and not failures:
        failures = [f"run for {month} failed (see the Dagster UI, run {result.run_id})"]
    outcome.failures += failures
    return result.success


def _failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{'/'.join(e.asset_key.path)} [{e.check_name}] {e.description or ''}".strip()
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR  # warnings don't fail
    ]
