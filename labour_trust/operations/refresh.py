"""Headless refresh: materialise every feed month that is missing or stale, and downstream.

A month is stale when the share's files for it (the Delta log's add actions) no longer
match the fingerprint of the pointer that was checked, so the test costs one log read per
share and no data scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from labour_trust.feeds.spec import FeedSpec
from labour_trust.partitions import MONTHLY
from labour_trust.resources import PointerIOManager, ShareStore
from labour_trust.shares.pinned import month_fingerprints


@dataclass
class RefreshPlan:
    months: dict[str, list[FeedSpec]] = field(default_factory=dict)  # month -> feeds to run
    outside_partitions: dict[str, list[str]] = field(default_factory=dict)  # share -> months

    @property
    def empty(self) -> bool:
        return not self.months


@dataclass
class RefreshOutcome:
    runs: int = 0
    failures: list[str] = field(default_factory=list)


def stale_months(spec: FeedSpec, shares: ShareStore, pointers: PointerIOManager) -> list[str]:
    table = shares.open(spec)
    key = dg.AssetKey(spec.asset_key_path)
    return sorted(
        month
        for month, fingerprint in month_fingerprints(table).items()
        if (p := pointers.read(key, month)) is None or p.content_hash != fingerprint.content_hash
    )


def plan_refresh(
    specs: list[FeedSpec], shares: ShareStore, pointers: PointerIOManager
) -> RefreshPlan:
    plan = RefreshPlan()
    known = set(MONTHLY.get_partition_keys())
    for spec in specs:
        for month in stale_months(spec, shares, pointers):
            if month in known:
                plan.months.setdefault(month, []).append(spec)
            else:
                plan.outside_partitions.setdefault(spec.name, []).append(month)
    return plan


def run_refresh(
    defs: dg.Definitions, plan: RefreshPlan, instance: dg.DagsterInstance
) -> RefreshOutcome:
    """One run per month: the stale feeds of that month and everything downstream of them."""
    outcome = RefreshOutcome()
    job = defs.resolve_implicit_global_asset_job_def()
    for month, specs in sorted(plan.months.items()):
        feeds = dg.AssetSelection.assets(*[dg.AssetKey(s.asset_key_path) for s in specs])
        selection = feeds.downstream().resolve(defs.resolve_asset_graph())
        result = job.execute_in_process(
            partition_key=month,
            instance=instance,
            asset_selection=list(selection),
            raise_on_error=False,
            tags={"labour_trust/trigger": "refresh"},
        )
        outcome.runs += 1
        outcome.failures += _failed_checks(result)
        if not result.success and not outcome.failures:
            outcome.failures.append(f"run for {month} failed (see the Dagster UI)")
    return outcome


def _failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{'/'.join(e.asset_key.path)} [{e.check_name}] {e.description or ''}".strip()
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR  # warnings don't fail
    ]
