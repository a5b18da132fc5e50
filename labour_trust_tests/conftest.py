"""Shared fixtures: small synthetic shares seeded once per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labour_trust.feeds.linkage import LinkageKey

TEST_MONTHS = ["2024-01", "2024-02"]
TEST_SCALE = 0.002
TEST_SEED = 7


@pytest.fixture(scope="session")
def linkage_key() -> LinkageKey:
    return LinkageKey(b"test-linkage-key-not-a-secret")


@pytest.fixture(scope="session")
def seeded_shares(tmp_path_factory, linkage_key) -> Path:
    """Four department shares, two months, small scale: seeded once, never modified."""
    from labour_trust.synthetic import seed_shares

    root = tmp_path_factory.mktemp("seeded") / "shares"
    seed_shares(str(root), TEST_MONTHS, scale=TEST_SCALE, seed=TEST_SEED, key=linkage_key)
    return root


@pytest.fixture
def home(tmp_path, monkeypatch, seeded_shares, linkage_key) -> Path:
    """A LABOUR_TRUST_HOME of its own, with a private copy of the seeded shares."""
    home = tmp_path / "home"
    shutil.copytree(seeded_shares, home / "shares")
    monkeypatch.setenv("LABOUR_TRUST_HOME", str(home))
    monkeypatch.delenv("LABOUR_TRUST_SHARES", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("LABOUR_TRUST_LINKAGE_KEY", linkage_key.secret.decode())
    return home
