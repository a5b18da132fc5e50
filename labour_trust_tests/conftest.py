"""Shared fixtures: small synthetic shares seeded once per session, copied per test; a local
S3 (moto_server) for the tests that ask for one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labour_trust.demo.s3 import MotoServer
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.shares import s3
from labour_trust.shares.storage import S3Settings

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
    for name in ("LABOUR_TRUST_SHARES", "LABOUR_TRUST_STORE", "LABOUR_TRUST_PUBLISHED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("LABOUR_TRUST_LINKAGE_KEY", linkage_key.secret.decode())
    return home


# S3: one moto_server subprocess per session (started only if a test asks), a bucket per test.
@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3_settings(moto: MotoServer) -> S3Settings:
    return moto.settings


@pytest.fixture
def bucket(s3_settings: S3Settings) -> str:
    name = f"share-{uuid.uuid4().hex[:12]}"
    s3.ensure_bucket(s3.client_for(s3_settings), name, s3_settings.region)
    return name


@pytest.fixture
def s3_uri(bucket: str) -> str:
    return f"s3://{bucket}/dwp/uc_claimants"
