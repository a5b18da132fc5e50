"""The Dagster instance of the embedded default: DAGSTER_HOME inside LABOUR_TRUST_HOME."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def dagster_home(home: Path) -> Path:
    """DAGSTER_HOME if set, else HOME/dagster with the embedded dagster.yaml."""
    path = Path(os.environ.get("DAGSTER_HOME") or home / "dagster")
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", config)
    return path


def embedded_instance(home: Path) -> dg.DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(dagster_home(home))
    return dg.DagsterInstance.get()
