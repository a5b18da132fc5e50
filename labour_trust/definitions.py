"""The Dagster code location: feeds, trust datasets, published tables, sensors, resources."""

import os
import warnings
from pathlib import Path

import dagster as dg

from labour_trust.defs.evaluations import build_evaluation_assets, feed_reads
from labour_trust.defs.feed_offsets import build_offset_assets
from labour_trust.defs.feeds import build_feed_assets, build_feed_checks, build_feed_sensors
from labour_trust.defs.insight import build_insight_assets
from labour_trust.defs.published import build_published_assets
from labour_trust.defs.resources import build_resources, trust_home
from labour_trust.defs.trust import build_trust_assets
from labour_trust.evaluation.spec import load_evaluations
from labour_trust.feeds.departments import FEEDS
from labour_trust.trust.datasets import TRUST_DATASETS


def _automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Trust and published months follow their inputs by declarative automation."""
    with warnings.catch_warnings():  # use_user_code_server is "beta"
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.AutomationConditionSensorDefinition(
            "trust_automation",
            target=dg.AssetSelection.all(),
            default_status=dg.DefaultSensorStatus.RUNNING,
            # The "unsynced" condition is Python, evaluated where the code lives.
            use_user_code_server=True,
            minimum_interval_seconds=10,
        )


EXECUTOR_ENV = "LABOUR_TRUST_EXECUTOR"


def run_executor() -> dg.ExecutorDefinition:
    """One process per run by default: month runs are small and many; parallelism comes from
    concurrent runs (dagster.yaml; a pod per run with the K8sRunLauncher), and a step process
    would cost more than its work. LABOUR_TRUST_EXECUTOR=multiprocess or k8s_job (a pod per
    step, dagster-k8s) where steps are big enough to be worth it."""
    name = os.environ.get(EXECUTOR_ENV, "in_process")
    if name == "k8s_job":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    executors = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}
    if name not in executors:
        raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected in_process, multiprocess or k8s_job")
    return executors[name]


def build_definitions(home: Path) -> dg.Definitions:
    resources = build_resources(home)
    evaluations = load_evaluations(home)
    reads = [d.month_offsets for d in TRUST_DATASETS.values()]
    reads += [feed_reads(spec) for spec in evaluations.values()]
    return dg.Definitions(
        assets=[
            *build_feed_assets(FEEDS),
            *build_offset_assets(reads),
            *build_trust_assets(TRUST_DATASETS),
            *build_published_assets(resources["publications"]),
            *build_insight_assets(resources["publications"]),
            *build_evaluation_assets(evaluations),
        ],
        asset_checks=build_feed_checks(FEEDS),
        sensors=[
            *build_feed_sensors(FEEDS, resources["shares"]),
            # Look-ahead datasets (m-3, m-6 of a changed month) and freshness checks follow
            # by declarative automation.
            _automation_sensor(),
        ],
        resources=resources,
        executor=run_executor(),
    )


defs = build_definitions(trust_home())
