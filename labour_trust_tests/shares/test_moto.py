"""The moto_server subprocess helper: starts on a free port, answers, is gone afterwards."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from labour_trust.demo.s3 import MotoServer
from labour_trust.shares import s3
from labour_trust_tests.s3_server import s3_endpoint, settings_for


def test_server_lifecycle() -> None:
    with s3_endpoint() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        client = s3.client_for(settings_for(endpoint))
        s3.ensure_bucket(client, "lifecycle", "eu-west-2")
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["lifecycle"]
    with pytest.raises(urllib.error.URLError) as gone:  # refused: nobody listens any more
        urllib.request.urlopen(endpoint, timeout=1)
    assert not isinstance(gone.value, urllib.error.HTTPError)


def test_reset_and_explicit_stop() -> None:
    server = MotoServer().start()
    try:
        client = s3.client_for(server.settings)
        s3.ensure_bucket(client, "to-forget", "eu-west-2")
        server.reset()
        assert client.list_buckets()["Buckets"] == []
        process = server.process
    finally:
        server.stop()
    assert process is not None and process.poll() is not None
    server.stop()  # idempotent
