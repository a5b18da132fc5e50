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
