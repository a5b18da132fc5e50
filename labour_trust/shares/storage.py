"""Where shares live: a local folder or an S3 prefix, and the storage options to reach it.

deltalake (object_store) and boto3 both need the same settings; they are read from the
standard AWS environment variables so that no credential is ever written to the repo.
Credentials are not copied from the environment: boto3's own chain resolves them (keys
with a session token, profile, web identity, container or instance metadata), and so does
object_store, except for profiles, which `delta_storage_options` resolves through boto3.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None = None
    region: str = "eu-west-2"
    # Explicit credentials only (e.g. a caller's deltalake options); unset, the standard
    # AWS chain resolves them. Frozen, so hashable (an lru_cache key); secrets stay out of repr.
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    allow_http: bool = False
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> S3Settings:
        """Endpoint and region from the environment; credentials are left to the AWS chain."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
        return cls(
            endpoint_url=endpoint,
            region=(
                os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-2"
            ),
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
            session_token=opts.get("AWS_SESSION_TOKEN") or None,
        )

    @classmethod
    def coerce(cls, value: S3Settings | Mapping[str, str] | None) -> S3Settings:
        """Settings from settings, from deltalake storage options, or (None) from the env."""
        if value is None:
            return cls.from_env()
        if isinstance(value, S3Settings):
            return value
        return cls.from_storage_options(value)

    @property
    def explicit_credentials(self) -> bool:
        return bool(self.access_key_id and self.secret_access_key)

    def boto3_credentials(self) -> dict[str, Any]:
        """Keyword arguments for a boto3 client: none unless the credentials are explicit,
        so that boto3's chain resolves (and refreshes) them."""
        if not self.explicit_credentials:
            return {}
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }

    def delta_storage_options(self) -> dict[str, str]:
        """Options for deltalake's object_store (they carry secrets: never log them)."""
        opts = {"AWS_REGION": self.region}
        if self.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.explicit_credentials:
            opts["AWS_ACCESS_KEY_ID"] = str(self.access_key_id)
            opts["AWS_SECRET_ACCESS_KEY"] = str(self.secret_access_key)
            if self.session_token:
                opts["AWS_SESSION_TOKEN"] = self.session_token
        else:
            # object_store reads AWS_* env vars itself (keys and session token, web
            # identity, container credentials) but not profiles.
            opts.update(_profile_credentials())
        if self.allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        # Single writer per share (the department), so no DynamoDB lock is needed.
        opts["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
        return opts


def _profile_credentials() -> dict[str, str]:
    """The credentials of AWS_PROFILE, resolved by boto3, when the env has no keys."""
    profile = os.environ.get("AWS_PROFILE")
    if not profile or os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    credentials = _profile_session(profile).get_credentials()
    if credentials is None:
        return {}  # object_store then tries its own chain and reports what is missing
    # Frozen per call: the cached session refreshes temporary (e.g. assumed-role) ones.
    frozen = credentials.get_frozen_credentials()
    opts = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        opts["AWS_SESSION_TOKEN"] = frozen.token
    return opts


@functools.lru_cache(maxsize=4)
def _profile_session(profile: str) -> Any:
    import boto3  # only needed for profiles; deltalake-only callers need not pay for it

    return boto3.Session(profile_name=profile)


def share_uri(root: str, department: str, table: str) -> str:
    """The share of one department table under a root folder or S3 prefix."""
    return f"{root.rstrip('/')}/{department}/{table}"


def storage_options_for(uri: str, settings: S3Settings | None = None) -> dict[str, str] | None:
    if not is_s3(uri):
        return None
    return (settings or S3Settings.from_env()).delta_storage_options()
