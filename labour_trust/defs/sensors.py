"""Share sensors: read the new commits of a Delta log, run the months that changed.

Cursor (JSON, stored by Dagster per sensor)::

    {"version": 42,                    # last Delta version fully read
     "table_id": "…", "fingerprint": "etag:…",  # identity of that version's commit file
     "schema": {"month": "string", …}, # columns at that version (for schema diffs)
     "epoch": 0,                       # bumped when the share is re-created (run keys)
     "pending": {"2026-12": 41},       # changed months that are not yet a partition
     "schema_changes": [{…}]}          # the last few schema changes seen (for people)

Each tick: `read_changes` after the cursor → one RunRequest per changed month, with
`partition_key=month` and `run_key=f"{share}@{version}:{month}"`. A fault skips the tick
with its reason and keeps the cursor, so the change is reported once the fault clears.
Schema changes are logged, recorded in the cursor, put on the runs as the tag
`labour_trust/schema_change` (JSON) and emitted as an AssetObservation of the feed asset.

`build_shares_sensor` watches several shares with one sensor (a cursor per share, as above)
and requests **one run per changed month** with the feed assets of every share that changed
that month: a run costs seconds of process start-up against a fraction of a second of
contract checks, so four departments publishing a year at once make 12 runs, not 48. Each
share is read on its own: one that cannot be read is skipped with its reason (its cursor
kept) and the others go on; in a run, a share that fails its contract fails its own step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from labour_trust.feeds.spec import FeedSpec
from labour_trust.shares.commit_log import (
    DEFAULT_MAX_COMMITS,
    SchemaChange,
    ShareChanges,
    ShareCursor,
    read_changes,
)
from labour_trust.shares.faults import ShareUnavailable
from labour_trust.shares.storage import S3Settings

SHARE_TAG = "labour_trust/share"
VERSION_TAG = "labour_trust/share_version"
SCHEMA_CHANGE_TAG = "labour_trust/schema_change"
RESET_TAG = "labour_trust/share_reset"
RECENT_SCHEMA_CHANGES = 10


Storage = S3Settings | Mapping[str, str] | None
ShareLocation = tuple[str, Storage]
Target = Any  # an AssetSelection, asset keys / key strings, or None


@dataclass(frozen=True)
class SensorCursor:
    share: ShareCursor | None = None
    epoch: int = 0
    pending: dict[str, int] = field(default_factory=dict)
    schema_changes: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_json(cls, text: str | None) -> SensorCursor:
        if not text:
            return cls()
        d = json.loads(text)
        return cls(
            share=ShareCursor.from_dict(d) if d.get("version") is not None else None,
            epoch=int(d.get("epoch", 0)),
            pending={str(k): int(v) for k, v in (d.get("pending") or {}).items()},
            schema_changes=tuple(d.get("schema_changes") or ()),
        )

    def to_json(self) -> str:
        d: dict[str, Any] = self.share.to_dict() if self.share else {"version": None}
        d.update(epoch=self.epoch, pending=self.pending, schema_changes=list(self.schema_changes))
        return json.dumps(d, sort_keys=True, separators=(",", ":"))


def run_key(share: str, version: int, month: str, epoch: int = 0) -> str:
    """`dwp/uc_claimants@42:2024-03`; after the n-th re-creation of the share `…#n`, because
    a re-created table reuses version numbers and Dagster dedupes runs by key."""
    key = f"{share}@{version}:{month}"
    return key if epoch == 0 else f"{key}#{epoch}"


def _months_by_partition(
    months: Mapping[str, int],
    partitions_def: dg.TimeWindowPartitionsDefinition,
) -> tuple[list[str], dict[str, int], list[str]]:
    """Split changed months into (requestable, pending, dropped)."""
    keys = set(partitions_def.get_partition_keys())
    first = min(keys) if keys else None
    ok, pending, dropped = [], {}, []
    for month, version in sorted(months.items()):
        if month in keys:
            ok.append(month)
        elif isinstance(partitions_def, dg.TimeWindowPartitionsDefinition) and (
            first is None or month > first
        ):
            pending[month] = version  # not a partition *yet* (month not complete): retry
        else:
            dropped.append(month)
    return ok, pending, dropped


def _observation(spec: FeedSpec, changes: ShareChanges) -> dg.AssetObservation:
    metadata: dict[str, Any] = {"share_version": changes.version, "share_uri": changes.uri}
    if changes.schema_changes:
        metadata["schema_change"] = dg.MetadataValue.json(
            [c.to_dict() for c in changes.schema_changes]
        )
        metadata["schema_change_summary"] = "; ".join(c.describe() for c in changes.schema_changes)
    if changes.reset_reason:
        metadata["share_reset"] = changes.reset_reason
    return dg.AssetObservation(asset_key=dg.AssetKey(spec.asset_key_path), metadata=metadata)


def _tags(spec: FeedSpec, changes: ShareChanges) -> dict[str, str]:
    tags = {SHARE_TAG: spec.name, VERSION_TAG: str(changes.version)}
    if changes.schema_changes:
        tags[SCHEMA_CHANGE_TAG] = json.dumps(
            [c.to_dict() for c in changes.schema_changes], separators=(",", ":")
        )
    if changes.reset_reason:
        tags[RESET_TAG] = changes.reset_reason
    return tags


def _log_changes(context: dg.SensorEvaluationContext, spec: FeedSpec, ch: ShareChanges) -> None:
    if ch.reset_reason:
        context.log.warning(f"{spec.name}: {ch.reset_reason}")
    for change in ch.schema_changes:
        context.log.warning(f"{spec.name}: schema change at {change.describe()}")
    if ch.more:
        context.log.info(f"{spec.name}: more commits after {ch.version}; next tick continues")


def evaluate_share_tick(
    context: dg.SensorEvaluationContext,
    spec: FeedSpec,
    location: ShareLocation,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    asset_selection: list[dg.AssetKey] | None,
    max_commits: int = DEFAULT_MAX_COMMITS,
    check_files: bool = True,
) -> dg.SensorResult | dg.SkipReason:
    """One tick of a share sensor (also usable headless, e.g. by `labour-trust refresh`)."""
    state = SensorCursor.from_json(context.cursor)
    uri, storage = location
    try:
        changes = read_changes(
            uri, state.share, storage, max_commits=max_commits, check_files=check_files
        )
    except ShareUnavailable as fault:
        kept = "no cursor yet" if state.share is None else f"cursor kept at {state.share.version}"
        message = f"{spec.name} not read ({fault.kind}): {fault.reason} [{kept}]"
        context.log.warning(message)
        return dg.SkipReason(message)
    if not changes.is_new and not state.pending:
        return dg.SkipReason(f"no new commits ({spec.name} at version {changes.version})")

    _log_changes(context, spec, changes)
    epoch = state.epoch + (1 if changes.reset_reason else 0)
    # A reset re-reads every month, so months pending from the old table are superseded.
    candidates = {} if changes.reset_reason else dict(state.pending)
    candidates.update({m: changes.version for m in changes.months})
    ok, pending, dropped = _months_by_partition(candidates, partitions_def)
    for month in dropped:
        context.log.warning(f"{spec.name}: month {month} is not a partition; ignored")
    for month in sorted(set(pending) - set(state.pending)):
        context.log.info(f"{spec.name}: month {month} is not a partition yet; will retry")

    tags = _tags(spec, changes)
    requests = [
        dg.RunRequest(
            run_key=run_key(spec.name, changes.version, month, epoch),
            partition_key=month,
            asset_selection=asset_selection,
            tags=tags,
        )
        for month in ok
    ]
    recent = state.schema_changes + tuple(c.to_dict() for c in changes.schema_changes)
    cursor = SensorCursor(changes.cursor, epoch, pending, recent[-RECENT_SCHEMA_CHANGES:])
    events = [_observation(spec, changes)] if changes.schema_changes or changes.reset_reason else []
    skip = None
    if not requests:
        waiting = f"; month(s) waiting to become partitions: {sorted(pending)}" if pending else ""
        skip = (
            f"{spec.name}: {changes.commits_read} new commit(s) up to version "
            f"{changes.version}, no month to run{waiting}"
        )
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=skip,
        cursor=cursor.to_json(),
        asset_events=events,
    )


def _default_partitions() -> dg.PartitionsDefinition:
    from labour_trust.defs.partitions import MONTHLY  # the project's one month partitioning

    return MONTHLY


def build_share_sensor(
    spec: FeedSpec,
    target: Target,
    share_location: Callable[[], ShareLocation] | ShareLocation | str,
    *,
    partitions_def: dg.TimeWindowPartitionsDefinition | None = None,
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    max_commits: int = DEFAULT_MAX_COMMITS,
    check_files: bool = True,
) -> dg.SensorDefinition:
    """A sensor that runs the months of `spec`'s feed asset whose share data changed.

    `target`: None (the feed asset only), or an asset selection / asset keys to run
    together with the feed asset (e.g. downstream trust datasets). `share_location` gives
    `(uri, S3Settings | deltalake storage options | None)`; a callable is resolved at every
    tick, so the location can come from the environment of the daemon.
    """
    feed_key = dg.AssetKey(spec.asset_key_path)
    parts = partitions_def or _default_partitions()
    if target is None:
        sensor_target: Any = [feed_key]
        selection: list[dg.AssetKey] | None = [feed_key]
    else:
        sensor_target = dg.AssetSelection.assets(feed_key) | dg.AssetSelection.from_coercible(
            target
        )
        selection = None  # the whole target: feed asset and the caller's downstream

    def location() -> ShareLocation:
        if callable(share_location):
            return share_location()
        if isinstance(share_location, str):
            return share_location, None
        return share_location

    def evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_share_tick(
            context, spec, location(), parts, selection, max_commits, check_files
        )

    return dg.SensorDefinition(
        name=name or f"{spec.department}_{spec.table}_share_sensor",
        evaluation_fn=evaluate,
        target=sensor_target,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            f"Watches the commit log of the {spec.name} Delta share (cursor = last Delta "
            "version read) and requests a run for each month whose data changed."
        ),
    )


def evaluate_shares_tick(
    context: dg.SensorEvaluationContext,
    specs: Sequence[FeedSpec],
    location_of: Callable[[FeedSpec], ShareLocation],
    partitions_def: dg.TimeWindowPartitionsDefinition,
) -> dg.SensorResult | dg.SkipReason:
    """One tick over several shares: each share's tick (`evaluate_share_tick`, its own
    cursor), then their requests merged into one run per month."""
    cursors: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    by_month: dict[str, list[dg.RunRequest]] = {}
    skipped: list[str] = []
    events = []
    for spec in specs:
        share_context = _ShareContext(context, cursors.get(spec.name))
        try:
            result = evaluate_share_tick(
                share_context, spec, location_of(spec), partitions_def, [_feed_key(spec)]
            )
        except Exception as error:  # one share's fault must not stop the others
            message = f"{spec.name} not read: {type(error).__name__}: {error}"
            context.log.error(message)
            skipped.append(message)
            continue
        if isinstance(result, dg.SkipReason):
            skipped.append(result.skip_message or spec.name)
            continue
        cursors[spec.name] = result.cursor
        events += result.asset_events or []
        for request in result.run_requests or []:
            by_month.setdefault(request.partition_key, []).append(request)
    requests = [_merged(month, by_month[month]) for month in sorted(by_month)]
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=None if requests else "; ".join(skipped),
        cursor=json.dumps(cursors, sort_keys=True, separators=(",", ":")),
        asset_events=events,
    )


class _ShareContext:
    """The tick's context as one share sees it: its own cursor (instance read lazily, a
    headless context may have none)."""

    def __init__(self, context: dg.SensorEvaluationContext, cursor: str | None) -> None:
        self._context, self.cursor = context, cursor

    @property
    def log(self):
        return self._context.log

    @property
    def instance(self) -> dg.DagsterInstance:
        return self._context.instance


def _feed_key(spec: FeedSpec) -> dg.AssetKey:
    return dg.AssetKey(spec.asset_key_path)


def _merged(month: str, requests: list[dg.RunRequest]) -> dg.RunRequest:
    """One run for a month: every share's feed asset and run key; the tags say which
    version of which share (`share@version`), and carry every schema change and reset."""
    if len(requests) == 1:
        return requests[0]
    shares = [r.tags[SHARE_TAG] for r in requests]
    tags = {
        SHARE_TAG: ",".join(shares),
        VERSION_TAG: ",".join(f"{r.tags[SHARE_TAG]}@{r.tags[VERSION_TAG]}" for r in requests),
    }
    schema = [c for r in requests for c in json.loads(r.tags.get(SCHEMA_CHANGE_TAG, "[]"))]
    if schema:
        tags[SCHEMA_CHANGE_TAG] = json.dumps(schema, separators=(",", ":"))
    if resets := [r.tags[RESET_TAG] for r in requests if RESET_TAG in r.tags]:
        tags[RESET_TAG] = "; ".join(resets)
    return dg.RunRequest(
        run_key="+".join(r.run_key for r in requests),
        partition_key=month,
        asset_selection=[k for r in requests for k in r.asset_selection],
        tags=tags,
    )


def build_shares_sensor(
    specs: Sequence[FeedSpec],
    location_of: Callable[[FeedSpec], ShareLocation],
    *,
    name: str = "shares_sensor",
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """One sensor over the shares of `specs`: one run per changed month for all the feed
    assets whose share changed in it. `location_of(spec)` is resolved at every tick."""
    parts = _default_partitions()

    def evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_shares_tick(context, specs, location_of, parts)

    return dg.SensorDefinition(
        name=name,
        evaluation_fn=evaluate,
        target=[_feed_key(spec) for spec in specs],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Watches the commit logs of the "
            + ", ".join(spec.name for spec in specs)
            + " Delta shares (a cursor per share: the last Delta version read) and requests "
            "one run per month whose data changed, for the shares that changed in it."
        ),
    )


__all__ = [
    "SCHEMA_CHANGE_TAG",
    "SHARE_TAG",
    "VERSION_TAG",
    "SchemaChange",
    "SensorCursor",
    "build_share_sensor",
    "build_shares_sensor",
    "evaluate_share_tick",
    "evaluate_shares_tick",
    "run_key",
]
