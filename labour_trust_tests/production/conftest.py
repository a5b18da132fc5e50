"""A real PostgreSQL server per module (from the installed binaries) for the production
profile, and a DAGSTER_HOME holding that profile verbatim."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from labour_trust.demo.postgres import PostgresServer, PostgresUnavailable

PROFILE = Path(__file__).resolve().parents[2] / "dagster.production.yaml"
DB_NAME = "labour_trust_dagster"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except PostgresUnavailable as missing:
        pytest.skip(str(missing))
    with server:
        server.create_database(DB_NAME)
        yield server


@pytest.fixture
def dagster_home(postgres: PostgresServer, tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME whose dagster.yaml is the production profile, verbatim."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROFILE, home / "dagster.yaml")
    for name, value in postgres.env(DB_NAME).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
