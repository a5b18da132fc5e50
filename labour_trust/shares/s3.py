"""boto3 helpers for shares on S3: client, bucket set-up, listing, HEAD, GET, pre-signed URLs.

deltalake does the table I/O; these helpers do the small, cheap requests around it (a
sensor tick must cost a handful of requests, not a table load). Every botocore error that
means "cannot read the share now" is turned into a typed `ShareUnavailable` by
`fault_from`, so callers never have to know botocore's exception zoo.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from labour_trust.shares.faults import (
    ShareForbidden,
    ShareNotFound,
    ShareThrottled,
    ShareUnavailable,
    ShareUnreachable,
)
from labour_trust.shares.storage import S3Settings

# Bounded: a sensor tick must fail fast and retry on the next tick, not hang for minutes.
MAX_ATTEMPTS = 3  # in total, first try included
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 10.0
MAX_SMALL_OBJECT = 64 * 1024 * 1024  # commit files and checkpoints, never data files

_FORBIDDEN = {
    "AccessDenied",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}
_THROTTLED = {
    "SlowDown",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "503 Service Unavailable",
}
_NOT_FOUND = {"NoSuchBucket"}


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b/` → ("bucket", "a/b"): the key prefix without slashes at either end."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// uri: {uri}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


def client_config(
    max_attempts: int = MAX_ATTEMPTS,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
    path_style: bool = False,
) -> Config:
    return Config(
        # total_max_attempts counts the first try (botocore's max_attempts counts retries).
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # Path style for custom endpoints (moto, MinIO): bucket names need no DNS there.
        s3={"addressing_style": "path"} if path_style else None,
    )


@functools.lru_cache(maxsize=32)
def client_for(settings: S3Settings, max_attempts: int = MAX_ATTEMPTS) -> Any:
    """A cached S3 client for these settings (creating one costs ~50 ms, a tick's budget)."""
    session = boto3.session.Session()  # not the default session: thread-safe creation
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        **settings.boto3_credentials(),  # none: boto3's chain (session token, profile, role)
        config=client_config(max_attempts, path_style=settings.endpoint_url is not None),
    )


def fault_from(error: Exception, what: str) -> ShareUnavailable:
    """The typed fault for a botocore error met while doing `what` (e.g. 'list s3://b/p')."""
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)):
        return ShareUnreachable(f"cannot reach the storage endpoint to {what}: {error}")
    if isinstance(error, ReadTimeoutError):
        return ShareUnreachable(f"the storage endpoint timed out to {what}: {error}")
    if isinstance(error, NoCredentialsError):
        return ShareForbidden(f"no credentials to {what}")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _FORBIDDEN or status == 403:
            return ShareForbidden(f"access denied (HTTP 403 {code}) to {what}")
        if code in _THROTTLED or status in (429, 503):
            return ShareThrottled(
                f"storage is throttling (HTTP {status} {code}) after {MAX_ATTEMPTS} attempts "
                f"to {what}; will retry next tick"
            )
        if code in _NOT_FOUND:
            return ShareNotFound(f"bucket does not exist ({code}) to {what}")
        return ShareUnavailable(f"storage error (HTTP {status} {code}) to {what}")
    if isinstance(error, BotoCoreError):
        return ShareUnavailable(f"storage client error to {what}: {error}")
    raise error


def _is_not_found(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("404", "NoSuchKey", "NotFound") or status == 404


def ensure_bucket(client: Any, bucket: str, region: str) -> bool:
    """Create the bucket if missing; True if it was created."""
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as e:
        if not _is_not_found(e):
            raise
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",):
            raise
        return False
    return True


def list_objects(
    client: Any,
    bucket: str,
    prefix: str,
    start_after: str | None = None,
    page_size: int = 1000,
) -> Iterator[ObjectInfo]:
    """Objects under `prefix` with keys after `start_after`, in key order, page by page.

    A generator: the caller stops iterating when it has enough, so only the pages it needs
    are requested (StartAfter is what makes a sensor tick O(new commits) on S3).
    """
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    if start_after:
        kwargs["StartAfter"] = start_after
    while True:
        page = client.list_objects_v2(**kwargs)
        for item in page.get("Contents", []):
            yield ObjectInfo(
                key=item["Key"],
                size=int(item.get("Size", 0)),
                etag=str(item.get("ETag", "")).strip('"'),
                last_modified=item.get("LastModified"),
            )
        if not page.get("IsTruncated"):
            return
        kwargs.pop("StartAfter", None)
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def head_object(client: Any, bucket: str, key: str) -> ObjectInfo | None:
    """HEAD one object; None if it does not exist (other errors propagate)."""
    try:
        r = client.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if _is_not_found(e):
            return None
        raise
    return ObjectInfo(
        key=key,
        size=int(r.get("ContentLength", 0)),
        etag=str(r.get("ETag", "")).strip('"'),
        last_modified=r.get("LastModified"),
    )


def get_small_object(
    client: Any, bucket: str, key: str, max_bytes: int = MAX_SMALL_OBJECT
) -> bytes | None:
    """GET a small object (a commit file, a checkpoint); None if it does not exist."""
    try:
        r = client.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if _is_not_found(e):
            return None
        raise
    if int(r.get("ContentLength", 0)) > max_bytes:
        r["Body"].close()
        raise ValueError(f"s3://{bucket}/{key} is larger than {max_bytes} bytes")
    with r["Body"] as body:
        return body.read()


def presigned_url(client: Any, bucket: str, key: str, expires_in: int = 900) -> str:
    """A time-limited GET URL for one object (the expiry is visible in the URL's query)."""
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(expires_in)
    )
