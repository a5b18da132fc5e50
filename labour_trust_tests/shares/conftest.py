"""Fixtures for share tests: one moto_server subprocess per session, a bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from labour_trust.demo.s3 import MotoServer
from labour_trust.shares import s3
from labour_trust.shares.storage import S3Settings
from labour_trust_tests.shares.fault_proxy import FaultProxy


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


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto.endpoint) as p:
        yield p


@pytest.fixture
def proxy_settings(proxy: FaultProxy, s3_settings: S3Settings) -> S3Settings:
    """Settings that reach moto through the fault proxy."""
    return S3Settings(
        endpoint_url=proxy.endpoint,
        region=s3_settings.region,
        access_key_id=s3_settings.access_key_id,
        secret_access_key=s3_settings.secret_access_key,
        allow_http=True,
    )
