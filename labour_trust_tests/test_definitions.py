"""The catalog: every asset a data steward can find carries what they need to trust it."""

from __future__ import annotations

import dagster as dg
import pytest

from labour_trust.definitions import build_definitions

CLASSIFICATIONS = {"OFFICIAL", "OFFICIAL-SENSITIVE"}


def test_every_asset_is_catalogued(home):
    defs = build_definitions(home)
    missing = []
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        derived = spec.key.path[0] in ("trust", "published")
        needs = {
            "description": bool(spec.description),
            "owners": bool(spec.owners),
            "group": spec.group_name not in (None, "default"),
            "kinds": bool(spec.kinds),
            "classification": spec.tags.get("classification") in CLASSIFICATIONS,
            "column schema": bool(spec.metadata.get("dagster/column_schema")),
            "partitions": spec.partitions_def is not None,
        }
        if derived:
            lineage = spec.metadata.get("dagster/column_lineage")
            needs["column lineage"] = bool(lineage and lineage.deps_by_column)
        if spec.key.path[0] == "published":
            needs["agreements"] = bool(spec.metadata.get("agreements"))
            needs["OFFICIAL"] = spec.tags.get("classification") == "OFFICIAL"
        missing += [f"{name}: {what}" for what, ok in needs.items() if not ok]
    assert missing == []


def test_a_published_figure_traces_back_to_feed_columns(home):
    """published column → trust column → feed columns, from lineage metadata alone."""
    specs = {s.key: s for s in build_definitions(home).resolve_all_asset_specs()}
    published = specs[dg.AssetKey(["published", "local_labour_market"])]
    step = published.metadata["dagster/column_lineage"].deps_by_column["uc_claimants_in_paye"]
    assert [(d.asset_key.to_user_string(), d.column_name) for d in step] == [
        ("trust/local_labour_market", "uc_claimants_in_paye")
    ]
    trust = specs[step[0].asset_key].metadata["dagster/column_lineage"]
    sources = {
        (d.asset_key.to_user_string(), d.column_name)
        for d in trust.deps_by_column["uc_claimants_in_paye"]
    }
    assert ("dwp/uc_claimants", "person_token") in sources
    assert ("hmrc/paye_rti", "person_token") in sources


def test_loading_the_definitions_writes_nothing(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("LABOUR_TRUST_HOME", "DAGSTER_HOME")}
    subprocess.run(
        [sys.executable, "-c", "import labour_trust.definitions"], cwd=tmp_path, env=env, check=True
    )
    assert list(tmp_path.iterdir()) == []


def test_the_executor_is_chosen_by_the_deployment(home, monkeypatch):
    """A pod per run by default (in-process steps); a step executor where a cluster wants one."""
    job = build_definitions(home).resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "in_process"
    monkeypatch.setenv("LABOUR_TRUST_EXECUTOR", "k8s_job")
    job = build_definitions(home).resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "k8s"
    monkeypatch.setenv("LABOUR_TRUST_EXECUTOR", "celery")
    with pytest.raises(ValueError, match="LABOUR_TRUST_EXECUTOR='celery'"):
        build_definitions(home)


@pytest.mark.parametrize("months", [["2024-01"], ["2024-01", "2024-02"], ["2024-02", "2024-03"]])
def test_a_backfill_of_every_asset_can_be_planned_for_any_range(home, months):
    """What the UI's and GraphQL's backfill of all assets plans (Dagster's own planner):
    every key of the one publication step gets the same months — a step that cannot be
    split — and each month asked for is in the plan."""
    import datetime as dt
    import time

    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.execution.asset_backfill import AssetBackfillData

    graph = build_definitions(home).resolve_asset_graph()
    instance = dg.DagsterInstance.ephemeral()
    with partition_loading_context(
        effective_dt=dt.datetime.now(dt.UTC), dynamic_partitions_store=instance
    ):
        plan = AssetBackfillData.from_asset_partitions(
            asset_graph=graph,
            partition_names=months,
            asset_selection=list(graph.materializable_asset_keys),
            dynamic_partitions_store=instance,
            backfill_start_timestamp=time.time(),
            all_partitions=False,
        )
        targets = {
            key: set(plan.target_subset.get_partitions_subset(key).get_partition_keys())
            for key in plan.target_subset.asset_keys
        }
    step = [k for k in targets if k.path[0] in ("published", "exports", "restricted")]
    step = [k for k in step if k.path[-1] != "insight_report"]
    assert len({frozenset(targets[k]) for k in step}) == 1, {k: targets[k] for k in step}
    assert all(set(months) <= t for t in targets.values())
