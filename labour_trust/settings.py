"""Where the trust keeps its state on this machine, and the few settings a home records.

`settings.yaml` in the store (the home folder by default) holds what must outlive one
command: the first data month (the partitions start there, so a home seeded with the last
twelve months shows twelve full partitions, not years of empty ones). The environment
overrides the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from labour_trust.store import Store

HOME_ENV = "LABOUR_TRUST_HOME"
STORE_ENV = "LABOUR_TRUST_STORE"
FIRST_MONTH_ENV = "LABOUR_TRUST_FIRST_MONTH"
DEFAULT_FIRST_MONTH = "2024-01"


def trust_home() -> Path:
    """Everything of the embedded default lives here (LABOUR_TRUST_HOME, ./.labour_trust)."""
    return Path(os.environ.get(HOME_ENV, ".labour_trust")).resolve()


def store_root(home: Path | None = None) -> str:
    """Where the trust keeps its state (pointers, trust tables, publications, audit log,
    register, exports): LABOUR_TRUST_STORE, a folder or s3://bucket/prefix, else the home
    folder itself (the embedded default)."""
    return os.environ.get(STORE_ENV) or str(home or trust_home())


def is_embedded(home: Path | None = None) -> bool:
    """True for the single-machine default: the store is a folder on this disk."""
    return not store_root(home).startswith("s3://")


SETTINGS_NAME = "settings.yaml"


def read_settings(home: Path) -> dict[str, str]:
    """The settings recorded in the home's store (STORE/settings.yaml)."""
    store = Store(store_root(home))
    text = store.read_text(SETTINGS_NAME)
    loaded = yaml.safe_load(text or "") or {}
    if not isinstance(loaded, dict):
        raise ValueError(
            f"{store.uri(SETTINGS_NAME)}: expected a mapping of settings, "
            f"got {type(loaded).__name__}"
        )
    return {str(k): str(v) for k, v in loaded.items()}


def write_settings(home: Path, **values: str) -> None:
    """Merge ``values`` into the settings (replaced whole: a reader sees old or new)."""
    settings = {**read_settings(home), **values}
    Store(store_root(home)).write_text(SETTINGS_NAME, text=yaml.safe_dump(settings, sort_keys=True))


def first_month(home: Path | None = None) -> str:
    """The first partition: LABOUR_TRUST_FIRST_MONTH, else the home's setting, else 2024-01."""
    return (
        os.environ.get(FIRST_MONTH_ENV)
        or read_settings(home or trust_home()).get("first_month")
        or DEFAULT_FIRST_MONTH
    )
