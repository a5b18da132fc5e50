"""Where shares live: a local folder or an S3 prefix, and the storage options to reach it.

deltalake (object_store) and boto3 both need the same settings; they are read from the
standard AWS environment variables so that no credential is ever written to the repo.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None = None
    region: str = "eu-west-2"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False

    @classmethod
    def from_env(cls) -> S3Settings:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
        return cls(
            endpoint_url=endpoint,
            region=(
                os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-2"
            ),
            access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            allow_http=bool(endpoint and endpoint.startswith("http://")),
        )

    @classmethod
    def from_storage_options(cls, options: Mapping[str, str]) -> S3Settings:
        """The inverse of `delta_storage_options`, so callers can hand either to boto3 helpers."""
        opts = {k.upper(): v for k, v in options.items()}
        endpoint = opts.get("AWS_ENDPOINT_URL") or opts.get("AWS_ENDPOINT") or None
        allow_http = opts.get("AWS_ALLOW_HTTP", "").lower() == "true"
        return cls(
            endpoint_url=endpoint,
            region=opts.get("AWS_REGION") or opts.get("AWS_DEFAULT_REGION") or "eu-west-2",
            access_key_id=opts.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=opts.get("AWS_SECRET_ACCESS_KEY") or None,
            allow_http=allow_http or bool(endpoint and endpoint.startswith("http://")),
        )

    @classmethod
    def coerce(cls, value: S3Settings | Mapping[str, str] | None) -> S3Settings:
        """Settings from settings, from deltalake storage options, or (None) from the env."""
        if value is None:
            return cls.from_env()
        if isinstance(value, S3Settings):
            return value
        return cls.from_storage_options(value)

    def delta_storage_options(self) -> dict[str, str]:
        """Options for deltalake's object_store."""
        opts = {"AWS_REGION": self.region}
        if self.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.access_key_id:
            opts["AWS_ACCESS_KEY_ID"] = self.access_key_id
        if self.secret_access_key:
            opts["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        if self.allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        # Single writer per share (the department), so no DynamoDB lock is needed.
        opts["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
        return opts


def share_uri(root: str, department: str, table: str) -> str:
    """The share of one department table under a root folder or S3 prefix."""
    return f"{root.rstrip('/')}/{department}/{table}"


def storage_options_for(uri: str, settings: S3Settings | None = None) -> dict[str, str] | None:
    if not is_s3(uri):
        return None
    return (settings or S3Settings.from_env()).delta_storage_options()
