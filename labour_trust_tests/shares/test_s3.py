"""boto3 helpers against a moto_server subprocess."""

from __future__ import annotations

import urllib.request

import pytest
from botocore.exceptions import ClientError

from labour_trust.shares import s3
from labour_trust.shares.faults import ShareForbidden, ShareNotFound, ShareThrottled
from labour_trust.shares.storage import S3Settings


def test_bucket_list_head_get_presign(s3_settings: S3Settings, bucket: str) -> None:
    client = s3.client_for(s3_settings)
    assert s3.client_for(s3_settings) is client  # cached: creating one costs a tick's budget
    assert s3.ensure_bucket(client, bucket, s3_settings.region) is False  # already there
    for name in ("a", "b", "c", "d"):
        client.put_object(Bucket=bucket, Key=f"p/{name}", Body=name.encode() * 3)
    client.put_object(Bucket=bucket, Key="q/other", Body=b"x")

    keys = [o.key for o in s3.list_objects(client, bucket, "p/", start_after="p/b")]
    assert keys == ["p/c", "p/d"]
    paged = [o.key for o in s3.list_objects(client, bucket, "p/", page_size=1)]
    assert paged == ["p/a", "p/b", "p/c", "p/d"]

    info = s3.head_object(client, bucket, "p/a")
    assert info is not None and info.size == 3 and info.etag
    assert s3.head_object(client, bucket, "p/none") is None
    assert s3.get_small_object(client, bucket, "p/b") == b"bbb"
    assert s3.get_small_object(client, bucket, "p/none") is None
    with pytest.raises(ValueError, match="larger"):
        s3.get_small_object(client, bucket, "p/c", max_bytes=2)

    url = s3.presigned_url(client, bucket, "p/d", expires_in=60)
    assert "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.read() == b"ddd"


def test_ensure_bucket_creates(s3_settings: S3Settings) -> None:
    client = s3.client_for(s3_settings)
    assert s3.ensure_bucket(client, "fresh-bucket-for-test", s3_settings.region) is True
    assert s3.ensure_bucket(client, "fresh-bucket-for-test", s3_settings.region) is False


def test_split_uri() -> None:
    assert s3.split_s3_uri("s3://b/x/y/") == ("b", "x/y")
    assert s3.split_s3_uri("s3://b") == ("b", "")
    with pytest.raises(ValueError):
        s3.split_s3_uri("/tmp/x")


@pytest.mark.parametrize(
    ("status", "code", "fault"),
    [
        (403, "AccessDenied", ShareForbidden),
        (503, "SlowDown", ShareThrottled),
        (404, "NoSuchBucket", ShareNotFound),
    ],
)
def test_fault_mapping(status: int, code: str, fault: type) -> None:
    error = ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "ListObjectsV2"
    )
    mapped = s3.fault_from(error, "list s3://b/p")
    assert type(mapped) is fault and "list s3://b/p" in mapped.reason


def test_settings_round_trip_through_storage_options(s3_settings: S3Settings) -> None:
    opts = s3_settings.delta_storage_options()
    assert opts["AWS_ALLOW_HTTP"] == "true" and opts["AWS_S3_ALLOW_UNSAFE_RENAME"] == "true"
    assert S3Settings.from_storage_options(opts) == s3_settings
    assert S3Settings.coerce(s3_settings) is s3_settings
