"""Where the trust keeps its state on this machine, and the few settings a home records.

`settings.yaml` in the home holds what must outlive one command: the first data month (the
partitions start there, so a home seeded with the last twelve months shows twelve full
partitions, not years of empty ones). The environment overrides the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from labour_trust.files import atomic_write

HOME_ENV = "LABOUR_TRUST_HOME"
FIRST_MONTH_ENV = "LABOUR_TRUST_FIRST_MONTH"
DEFAULT_FIRST_MONTH = "2024-01"


def trust_home() -> Path:
    """Everything of the embedded default lives here (LABOUR_TRUST_HOME, ./.labour_trust)."""
    return Path(os.environ.get(HOME_ENV, ".labour_trust")).resolve()


def settings_path(home: Path) -> Path:
    return home / "settings.yaml"


def read_settings(home: Path) -> dict[str, str]:
    path = settings_path(home)
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
    return {str(k): str(v) for k, v in loaded.items()}


def write_settings(home: Path, **values: str) -> None:
    """Merge ``values`` into the home's settings (atomically: a reader sees old or new)."""
    settings = {**read_settings(home), **values}
    path = settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, yaml.safe_dump(settings, sort_keys=True))


def first_month(home: Path | None = None) -> str:
    """The first partition: LABOUR_TRUST_FIRST_MONTH, else the home's setting, else 2024-01."""
    return (
        os.environ.get(FIRST_MONTH_ENV)
        or read_settings(home or trust_home()).get("first_month")
        or DEFAULT_FIRST_MONTH
    )
