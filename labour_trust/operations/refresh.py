"""Headless refresh (cron, CI): the daemon's logic, run to completion in this process.

1. Tick the shares sensor (its cursor kept in the instance), as the daemon would, and run
   the feed months it requests — unless that month's files are exactly the ones already
   checked (its data version), so a refresh after the daemon does not re-check them.
2. Retry, once per call, every month whose last run failed.
3. Evaluate the automation conditions (`labour_trust.defs.automation`) and run what they
   request, month by month, until nothing more is requested.

Nothing here knows month offsets or staleness rules: the conditions and Dagster's state do.

`backfill` is the operator's forced re-run of a selection over a range of months (one run
per month, as the daemon's backfills): months after the newest one any department has
published are not requested, and automation then brings dependents (look-ahead months)
into line.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.dependency import NodeHandle

from labour_trust.defs.feeds import SHARES_SENSOR
from labour_trust.defs.partitions import MONTHLY
from labour_trust.defs.resources import ShareStore
from labour_trust.feeds.departments import FEEDS
from labour_trust.operations.state import (
    error_line,
    fail_orphaned_runs,
    failed_partitions,
    latest_data_version,
    process_tags,
)
from labour_trust.shares.pinned import ShareReadError, month_fingerprints

CURSOR_PREFIX = "labour_trust/refresh/"
TRIGGER_TAG = "labour_trust/trigger"
MAX_ROUNDS = 50  # automation rounds: each round runs at least one new month, so a bound


@dataclass
class RunOutcome:
    month: str
    assets: list[str]
    success: bool
    seconds: float
    run_id: str
    failed_checks: list[str] = field(default_factory=list)  # "asset [check] message"
    failed_steps: list[str] = field(default_factory=list)  # "asset: first line of the error"


@dataclass
class RefreshReport:
    runs: list[RunOutcome] = field(default_factory=list)
    share_faults: list[str] = field(default_factory=list)
    not_published: list[str] = field(default_factory=list)  # months past the newest data

    @property
    def failed_checks(self) -> list[str]:
        return [c for r in self.runs for c in r.failed_checks]

    @property
    def failed_steps(self) -> list[str]:
        return [s for r in self.runs for s in r.failed_steps]

    @property
    def ok(self) -> bool:
        return all(r.success for r in self.runs) and not self.share_faults


Progress = Callable[[RunOutcome, int], None]


def refresh(
    defs: dg.Definitions, instance: dg.DagsterInstance, progress: Progress | None = None
) -> RefreshReport:
    report = RefreshReport()
    fail_orphaned_runs(instance, TRIGGER_TAG, "refresh")
    runner = _Runner(defs, instance, report, progress or (lambda outcome, n: None))
    feeds = _feed_requests(defs, instance, report)
    for key, months in failed_partitions(instance, defs, [_feed_key(s) for s in FEEDS]).items():
        for month in months:
            feeds.setdefault(month, set()).add(key)
    for month, keys in sorted(feeds.items()):
        runner.run(month, keys)
    runner.follow_automation()
    derived = [k for k in _asset_keys(defs) if k not in {_feed_key(s) for s in FEEDS}]
    retries: dict[str, set[dg.AssetKey]] = {}
    for key, months in failed_partitions(instance, defs, derived).items():
        for month in months:
            if (key, month) not in runner.failed:
                retries.setdefault(month, set()).add(key)
    for month, keys in sorted(retries.items()):
        runner.run(month, keys)
    runner.follow_automation()
    return report


def backfill(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    months: list[str],
    selection: dg.AssetSelection,
    progress: Progress | None = None,
    *,
    follow: bool = True,
) -> RefreshReport:
    """Re-run the selected assets for every month of `months` up to the newest month with
    data (oldest first, one run per month), then, if `follow`, follow automation. A month
    past the newest is reported in `report.not_published`, not run."""
    report = RefreshReport()
    fail_orphaned_runs(instance, TRIGGER_TAG, "backfill")
    runner = _Runner(defs, instance, report, progress or (lambda outcome, n: None), "backfill")
    graph = defs.resolve_asset_graph()
    keys = selection.resolve(graph) & set(graph.materializable_asset_keys)
    if not keys:
        raise ValueError(f"the selection {selection} matches no asset")
    newest = _newest_data_month(defs, report)
    for month in sorted(months):
        if newest is None or month > newest:
            report.not_published.append(month)
        else:
            runner.run(month, keys)
    if follow:
        runner.follow_automation()
    return report


def _newest_data_month(defs: dg.Definitions, report: RefreshReport) -> str | None:
    shares: ShareStore = defs.resources["shares"]
    months: set[str] = set()
    for spec in FEEDS:
        try:
            months |= set(month_fingerprints(shares.open(spec)))
        except ShareReadError as e:
            report.share_faults.append(str(e))
    return max(months, default=None)


def _feed_key(spec) -> dg.AssetKey:
    return dg.AssetKey(spec.asset_key_path)


def _asset_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string())


def _feed_requests(
    defs: dg.Definitions, instance: dg.DagsterInstance, report: RefreshReport
) -> dict[str, set[dg.AssetKey]]:
    """Month → feed assets to check: what one headless tick of the shares sensor requests,
    and any month whose files differ from the ones last checked (a month never checked, or
    emptied since), so a killed refresh or a lost cursor cannot hide a change. A share that
    cannot be read is reported and skipped: the other shares go on."""
    shares: ShareStore = defs.resources["shares"]
    partitions = set(MONTHLY.get_partition_keys())
    requested = _sensor_tick(defs, instance)
    out: dict[str, set[dg.AssetKey]] = {}
    for spec in FEEDS:
        key = _feed_key(spec)
        try:
            fingerprints = month_fingerprints(shares.open(spec))
        except ShareReadError as e:
            report.share_faults.append(str(e))
            continue
        months = {m for m, keys in requested.items() if key in keys}
        candidates = months | set(fingerprints) | instance.get_materialized_partitions(key)
        for month in candidates & partitions:
            current = fingerprints[month].content_hash if month in fingerprints else None
            if latest_data_version(instance, key, month) != current:
                out.setdefault(month, set()).add(key)
    return out


def _sensor_tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, set]:
    """Month → feed keys one tick of the shares sensor requests (its cursor kept in the
    instance, apart from the daemon's)."""
    sensor = defs.get_sensor_def(SHARES_SENSOR)
    cursor_key = CURSOR_PREFIX + sensor.name
    cursor = instance.run_storage.get_cursor_values({cursor_key}).get(cursor_key)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    tick = sensor.evaluate_tick(context)
    if tick.cursor is not None:
        instance.run_storage.set_cursor_values({cursor_key: tick.cursor})
    return {r.partition_key: set(r.asset_selection or []) for r in tick.run_requests}


class _Runner:
    def __init__(
        self, defs, instance, report: RefreshReport, progress: Progress, trigger: str = "refresh"
    ) -> None:
        self.defs = defs
        self.trigger = trigger
        self.instance = instance
        self.report = report
        self.progress = progress
        self.job = defs.resolve_implicit_global_asset_job_def()
        # What failed in this call is not run again in it. What succeeded is, once, when
        # automation asks: a backfill runs month m before m+3 is in, and m's look-ahead
        # outcomes are due once it is. More would be chasing another writer's runs (a
        # daemon, or a second refresh), which bounds the rounds too.
        self.failed: set[tuple[dg.AssetKey, str]] = set()
        self.succeeded: Counter[tuple[dg.AssetKey, str]] = Counter()
        self.cursor = None

    def run(self, month: str, keys: set[dg.AssetKey]) -> RunOutcome:
        started = time.perf_counter()
        result = self.job.execute_in_process(
            partition_key=month,
            instance=self.instance,
            asset_selection=sorted(keys, key=lambda k: k.to_user_string()),
            raise_on_error=False,
            tags={TRIGGER_TAG: self.trigger, **process_tags()},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
        outcome = _outcome(result, month, keys, time.perf_counter() - started)
        if outcome.success:
            self.succeeded.update((k, month) for k in keys)
        else:
            self.failed |= {(k, month) for k in keys}
        self.report.runs.append(outcome)
        self.progress(outcome, len(self.report.runs))
        return outcome

    def may_run(self, key: dg.AssetKey, month: str) -> bool:
        return (key, month) not in self.failed and self.succeeded[(key, month)] < 2

    def follow_automation(self) -> None:
        """Run what the automation conditions request until they request nothing new."""
        derived = dg.AssetSelection.all() - dg.AssetSelection.assets(*[_feed_key(s) for s in FEEDS])
        for _ in range(MAX_ROUNDS):
            result = dg.evaluate_automation_conditions(
                defs=self.defs, instance=self.instance, asset_selection=derived, cursor=self.cursor
            )
            self.cursor = result.cursor
            requested: dict[str, set[dg.AssetKey]] = {}
            for key in derived.resolve(self.defs.resolve_asset_graph()):
                for month in result.get_requested_partitions(key):
                    if month is not None and self.may_run(key, month):
                        requested.setdefault(month, set()).add(key)
            if not requested:
                return
            for month, keys in sorted(requested.items()):
                self.run(month, keys)


def _outcome(
    result: dg.ExecuteInProcessResult, month: str, keys: set[dg.AssetKey], seconds: float
) -> RunOutcome:
    checks = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR  # warnings don't fail
    ]
    checked = {e.asset_key for e in checks}
    failed_steps = []
    for event in result.get_step_failure_events():
        step_keys = _step_assets(result, event.step_key)
        if step_keys & checked:
            continue  # the step failed because its blocking checks did: reported as checks
        names = sorted(k.to_user_string() for k in step_keys) or [event.step_key]
        error = error_line(event.step_failure_data.error)
        failed_steps += [f"{name}: {error}" for name in names]
    return RunOutcome(
        month=month,
        assets=sorted(k.to_user_string() for k in keys),
        success=result.success,
        seconds=seconds,
        run_id=result.run_id,
        failed_checks=[
            f"{e.asset_key.to_user_string()} [{e.check_name}] {e.description or ''}".strip()
            for e in checks
        ],
        failed_steps=failed_steps,
    )


def _step_assets(result: dg.ExecuteInProcessResult, step_key: str | None) -> set[dg.AssetKey]:
    """The assets a step materialises (one, or the month's published tables)."""
    if step_key is None:
        return set()
    assets = result.job_def.asset_layer.get_assets_def_for_node(NodeHandle.from_string(step_key))
    return set(assets.keys) if assets else set()
