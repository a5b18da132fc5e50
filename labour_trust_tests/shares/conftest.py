"""Fixtures for share tests: a fault proxy in front of the session's moto_server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labour_trust.demo.s3 import MotoServer
from labour_trust.shares.storage import S3Settings
from labour_trust_tests.shares.fault_proxy import FaultProxy


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
