"""Declarative automation, defined once: the one planner of the trust.

The daemon's `trust_automation` sensor and the headless `labour-trust refresh` evaluate the
same conditions against the same state — Dagster's own: partition status (materialised,
failed, in progress) and data versions (a feed month's version is the content hash of its
files, a derived month's version follows from its inputs' versions and its code version).
A month is due when it is missing or *unsynced* (what the UI shows: an input's data version
or the code version changed since it was materialised), its same-month inputs exist and
passed their blocking checks, nothing it reads is still running, and no share's changed
months are still being checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus

from labour_trust.defs.sensors import SHARE_TAG


class UnsyncedCondition(dg.AutomationCondition):
    """Partitions that Dagster reports as stale ("unsynced" in the UI): a dependency partition
    has a new data version, or the asset's code version changed, since the last
    materialisation. Stateless, so a headless evaluation sees what the daemon sees."""

    @property
    def name(self) -> str:
        return "unsynced"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        view = context.asset_graph_view
        resolver = CachingStaleStatusResolver(view.instance, context.asset_graph, view)
        stale = {
            key
            for key in context.candidate_subset.expensively_compute_partition_keys()
            if resolver.get_status(context.key, key) == StaleStatus.STALE
        }
        if context.partitions_def is None:
            true_subset = context.candidate_subset if stale else context.get_empty_subset()
        else:
            true_subset = view.get_subset_from_partition_keys(
                context.key, context.partitions_def, stale
            )
        return dg.AutomationResult(context, true_subset=true_subset)


class SameMonthInputsExist(dg.AutomationCondition):
    """Partitions whose inputs of the same month are all materialised (or requested now, to
    run first in the same run). Inputs read over a
    window of months (look-back, look-ahead) need only their month m: the other months are
    optional (provisional outcomes, a history that starts later), which Dagster's
    `any_deps_missing` cannot say of a window mapping. ``also``: assets that are not
    inputs, whose month m must exist too."""

    def __init__(
        self,
        optional: frozenset[dg.AssetKey] = frozenset(),
        also: frozenset[dg.AssetKey] = frozenset(),
    ) -> None:
        self.optional = optional
        self.also = also

    @property
    def name(self) -> str:
        return "same_month_inputs_exist"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        view = context.asset_graph_view
        parents = (context.asset_graph.get(context.key).parent_keys - self.optional) | self.also
        present = [_present_or_requested(context, parent) for parent in parents]
        ready = {
            month
            for month in context.candidate_subset.expensively_compute_partition_keys()
            if all(month in months for months in present)
        }
        true_subset = view.get_subset_from_partition_keys(
            context.key, context.partitions_def, ready
        )
        return dg.AutomationResult(context, true_subset=true_subset)


def _present_or_requested(context: dg.AutomationContext, parent: dg.AssetKey) -> set[str]:
    """A parent's months that are materialised or requested in this same evaluation (they
    then run first, in one run with this asset)."""
    months = set(context.asset_graph_view.instance.get_materialized_partitions(parent))
    requested = context.request_subsets_by_key.get(parent)
    if requested is not None:
        months |= set(requested.expensively_compute_partition_keys())
    return months


class SharesSettled(dg.AutomationCondition):
    """True when no share-sensor run (a department's changed months being checked) is queued
    or running. Deriving after the changes have landed puts a month's derived assets in one
    run, rather than one run per input as it arrives, and computes each month once when
    several departments publish together. Runs not updated for `STALE_AFTER_SECONDS` (a
    worker that died) do not hold derivation back."""

    STALE_AFTER_SECONDS = 900

    @property
    def name(self) -> str:
        return "shares_settled"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        instance = context.asset_graph_view.instance
        active = instance.get_runs(
            dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                ],
                updated_after=datetime.now(UTC) - timedelta(seconds=self.STALE_AFTER_SECONDS),
            )
        )
        settled = not any(SHARE_TAG in run.tags for run in active)
        true_subset = context.candidate_subset if settled else context.get_empty_subset()
        return dg.AutomationResult(context, true_subset=true_subset)


def follow_upstream(
    other_months: Iterable[dg.AssetKey] = (), month_of: Iterable[dg.AssetKey] = ()
) -> dg.AutomationCondition:
    """Compute a month when it is missing or unsynced — including when a look-ahead month it
    reads arrives later — once its same-month inputs exist and passed their blocking checks
    (automation does not honour `blocking=True` on its own).

    `other_months` are upstreams read only at other months: they may be missing; of the
    others only month m must exist, as it must of the assets `month_of`. A month
    whose last run failed waits for new input (the daemon retries failed runs a bounded
    number of times, see dagster.yaml `run_retries`; `refresh` retries them once per call).
    """
    AC = dg.AutomationCondition
    optional = frozenset(other_months)
    return (
        ~AC.in_progress()
        & ~AC.any_deps_in_progress()
        & SharesSettled()
        & SameMonthInputsExist(optional, frozenset(month_of))
        & (
            AC.all_deps_blocking_checks_passed().ignore(dg.AssetSelection.assets(*optional))
            # Inputs all requested in this tick run first in the same run, whose blocking
            # checks stop this step if they fail (a check without a condition of its own is
            # never "requested", so Dagster's in-tick allowance does not see it).
            | AC.all_deps_match(AC.will_be_requested())
        )
        # An input requested in this tick will change this month: run in the same run.
        & (AC.missing() | UnsyncedCondition() | AC.any_deps_match(AC.will_be_requested()))
        & (~AC.execution_failed() | AC.any_deps_updated())
    ).with_label("missing or unsynced, inputs ready")
