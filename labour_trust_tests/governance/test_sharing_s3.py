"""Sharing from an S3 publication store: pre-signed URLs, checked with the official client.

S3 is moto's standalone server run as a subprocess (deltalake deadlocks with in-process moto).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import boto3
import delta_sharing
import httpx
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from labour_trust.shares.storage import S3Settings
from labour_trust_tests.governance.conftest import (
    LONDON,
    STANDARD_AGREEMENTS,
    RunningServer,
    free_port,
    in_region,
    list_files,
    published_table,
    write_published,
    write_register,
)

BUCKET = "trust-published"

pytestmark = pytest.mark.skipif(shutil.which("moto_server") is None, reason="needs moto_server")


@pytest.fixture(scope="module")
def s3_settings() -> Iterator[S3Settings]:
    port = free_port()
    process = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, process)
        yield S3Settings(
            endpoint_url=endpoint,
            region="eu-west-2",
            access_key_id="testing",
            secret_access_key="testing",
            allow_http=True,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(endpoint: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("moto_server exited")
        try:
            httpx.get(endpoint, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


@pytest.fixture
def s3_server(
    s3_settings: S3Settings, tmp_path: Path, start_server, monkeypatch: pytest.MonkeyPatch
) -> RunningServer:
    # Anything resolving settings from the environment must reach moto, never real AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_settings.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", s3_settings.region)
    prefix = f"s3://{BUCKET}/{tmp_path.name}"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_settings.endpoint_url,
        region_name=s3_settings.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": s3_settings.region}
        )
    options = s3_settings.delta_storage_options()
    for name in ("local_labour_market", "sector_view"):
        write_published(f"{prefix}/published", name, published_table(), storage_options=options)
    home = tmp_path / "s3home"  # tmp_path/home is the local store of `sharing_home`
    home.mkdir()
    write_register(home / "agreements.yaml", STANDARD_AGREEMENTS)
    return start_server(home=home, published_root=f"{prefix}/published", settings=s3_settings)


def test_consumer_reads_through_presigned_urls(s3_server: RunningServer) -> None:
    profile = s3_server.profile("full-access")
    frame = delta_sharing.load_as_pandas(s3_server.table_url(profile, "local_labour_market"))
    assert len(frame) == len(published_table())

    (first, *_) = files = list_files(profile, "local_labour_market").add_files
    assert len(files) == 3
    parsed = urllib.parse.urlparse(first.url)
    query = urllib.parse.parse_qs(parsed.query)
    endpoint = urllib.parse.urlparse(s3_server.url)
    assert parsed.netloc != endpoint.netloc  # straight to S3, not through the server
    assert parsed.path.startswith(f"/{BUCKET}/")
    assert query["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in query
    assert httpx.get(first.url).status_code == 200


def test_region_limited_grant_is_served_from_a_restricted_copy_in_s3(
    s3_server: RunningServer, s3_settings: S3Settings
) -> None:
    profile = s3_server.profile("london-only")
    frame = delta_sharing.load_as_pandas(s3_server.table_url(profile, "local_labour_market"))
    assert set(frame["area_code"]) == LONDON
    for add_file in list_files(profile, "local_labour_market").add_files:
        assert "/restricted/london-only/local_labour_market/" in add_file.url
        data = pq.read_table(io.BytesIO(httpx.get(add_file.url).raise_for_status().content))
        assert data.num_rows > 0 and in_region(data, "TLI")
    # The copy sits beside the published prefix: <prefix>/restricted/<agreement>/<table>.
    copy = DeltaTable(
        f"s3://{BUCKET}/{s3_server.home.parent.name}/restricted/london-only/local_labour_market",
        storage_options=s3_settings.delta_storage_options(),
    )
    assert copy.to_pyarrow_table().num_rows == 9
