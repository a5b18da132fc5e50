"""The Dagster instance of the embedded default: DAGSTER_HOME inside LABOUR_TRUST_HOME."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import dagster as dg


def dagster_home(home: Path) -> Path:
    """DAGSTER_HOME if set, else HOME/dagster with the embedded profile (the package's
    dagster.yaml, so an installed wheel has it too; the project root links to it)."""
    path = Path(os.environ.get("DAGSTER_HOME") or home / "dagster")
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text((resources.files("labour_trust") / "dagster.yaml").read_text())
    return path


def embedded_instance(home: Path) -> dg.DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(dagster_home(home))
    return dg.DagsterInstance.get()
