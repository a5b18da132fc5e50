"""What Dagster's own state says of each asset month: materialised, failed, unsynced, missing.

`refresh` and `status` read it here, and the automation conditions read the same state, so
the CLI, the daemon and the UI tell one truth.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.definitions.data_version import (
    DATA_VERSION_TAG,
    CachingStaleStatusResolver,
    StaleStatus,
)
from dagster._core.definitions.temporal_context import TemporalContext
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionResolvedStatus,
)
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.storage.partition_status_cache import AssetPartitionStatus
from dagster._time import get_current_datetime
from dagster._utils.error import SerializableErrorInfo

PID_TAG = "labour_trust/pid"
HOST_TAG = "labour_trust/host"
_UNFINISHED = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def latest_data_version(instance: dg.DagsterInstance, key: dg.AssetKey, month: str) -> str | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    return records[0].asset_materialization.tags.get(DATA_VERSION_TAG)


def failed_partitions(
    instance: dg.DagsterInstance, defs: dg.Definitions, keys: Iterable[dg.AssetKey]
) -> dict[dg.AssetKey, list[str]]:
    """Months whose latest run of the asset failed (and that have not succeeded since),
    including months materialised by a run that died before their checks ran."""
    graph = defs.resolve_asset_graph()
    out = {}
    for key in keys:
        partitions_def = graph.get(key).partitions_def
        months = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
        status = instance.get_status_by_partition(key, months, partitions_def) or {}
        failed = {m for m, s in status.items() if s == AssetPartitionStatus.FAILED}
        failed = sorted(failed | unchecked_months(instance, graph, key))
        if failed:
            out[key] = failed
    return out


def unchecked_months(instance: dg.DagsterInstance, graph, key: dg.AssetKey) -> set[str]:
    """Months whose blocking checks were planned in a run that ended without running them
    (a worker killed between the output and its checks): the materialisation stands
    unchecked, and automation holds everything downstream until it is checked again."""
    partitions_def = graph.get(key).partitions_def
    checks = [
        (check_key, partitions_def)
        for check_key in graph.get_check_keys_for_assets({key})
        if graph.get(check_key).blocking and graph.get(check_key).partitions_def is not None
    ]
    if not checks:
        return set()
    months: set[str] = set()
    for state in instance.event_log_storage.get_asset_check_state(checks).values():
        subset = state.subsets.get(AssetCheckExecutionResolvedStatus.EXECUTION_FAILED)
        if subset is not None and not subset.is_empty:
            months |= set(subset.subset_value.get_partition_keys())
    return months


def process_tags() -> dict[str, str]:
    """Tags naming the process that executes a run in-process (so a killed one is found)."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def fail_orphaned_runs(instance: dg.DagsterInstance, tag: str, value: str) -> list[str]:
    """Mark failed the unfinished runs (tagged ``tag=value``) whose process on this host is
    gone — a refresh killed mid-run — so their months read as failed, not in progress for
    ever. Returns their run ids."""
    host = socket.gethostname()
    orphans = []
    for run in instance.get_runs(RunsFilter(tags={tag: value}, statuses=_UNFINISHED)):
        pid = run.tags.get(PID_TAG)
        if run.tags.get(HOST_TAG) == host and pid and not _alive(int(pid)):
            instance.report_run_failed(run, message=f"the process running it ({pid}) is gone")
            orphans.append(run.run_id)
    return orphans


def error_line(error: SerializableErrorInfo | None) -> str:
    """The first line of the error the user's code raised, not Dagster's wrapper of it."""
    if error is None:
        return "failed"
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines() or [error.cls_name or "failed"]
    # "labour_trust.x.ShareReadError: dwp/uc_claimants: …" → "dwp/uc_claimants: …"
    first = lines[0]
    if error.cls_name and first.split(": ", 1)[0].endswith(error.cls_name):
        first = first.split(": ", 1)[1] if ": " in first else first
    return first


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class PartitionState:
    asset: str
    materialized: int
    expected: int  # months that have data to derive from
    failed: dict[str, str] = field(default_factory=dict)  # month → first line of the error
    stale: dict[str, str] = field(default_factory=dict)  # month → why Dagster says unsynced
    missing: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)


def partition_states(
    instance: dg.DagsterInstance, defs: dg.Definitions, months_with_data: Iterable[str]
) -> list[PartitionState]:
    """Per asset: failed months (with the error), unsynced months (with the cause), months
    with data not yet materialised, and months in progress."""
    graph = defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance, graph, view)
    months = sorted(months_with_data)
    errors = _latest_errors(instance, graph)
    out = []
    for key in sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
        partitions_def = graph.get(key).partitions_def
        status = instance.get_status_by_partition(key, months, partitions_def) or {}
        unchecked = unchecked_months(instance, graph, key)
        state = PartitionState(key.to_user_string(), 0, len(months))
        for month in months:
            s = status.get(month)
            if month in unchecked and s == AssetPartitionStatus.MATERIALIZED:
                state.failed[month] = "materialised, but the run ended before its checks ran"
            elif s == AssetPartitionStatus.MATERIALIZED:
                state.materialized += 1
                if resolver.get_status(key, month) == StaleStatus.STALE:
                    state.stale[month] = _cause(resolver, key, month)
            elif s == AssetPartitionStatus.FAILED:
                state.failed[month] = errors.get((key, month), "run failed")
            elif s == AssetPartitionStatus.IN_PROGRESS:
                state.in_progress.append(month)
            else:
                state.missing.append(month)
        out.append(state)
    return out


def _cause(resolver: CachingStaleStatusResolver, key: dg.AssetKey, month: str) -> str:
    causes = resolver.get_stale_root_causes(key, month) or resolver.get_stale_causes(key, month)
    if not causes:
        return "unsynced"
    cause = causes[0]
    where = cause.asset_key.to_user_string()
    if cause.partition_key:
        where += f" {cause.partition_key}"
    return f"{where} {cause.reason}"


def _latest_errors(instance: dg.DagsterInstance, graph, limit: int = 200) -> dict[tuple, str]:
    """(asset, month) → the first line of the error of its most recent failed step."""
    step_assets = {a.node_def.name: a.keys for a in graph.assets_defs if a.is_executable and a.keys}
    errors: dict[tuple, str] = {}
    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]), limit=limit)
    for run in runs:  # newest first: keep the first error seen per asset month
        month = run.tags.get("dagster/partition")
        if month is None:
            continue
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            for key in step_assets.get(event.step_key, ()):
                errors.setdefault((key, month), error_line(event.step_failure_data.error))
    return errors
