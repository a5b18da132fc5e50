"""Short-lived URLs for the data files a Delta Sharing consumer downloads.

- S3 publication store: boto3 pre-signed GET URLs.
- Local publication store: a URL of the sharing server's own `/files/...` endpoint with an
  HMAC-signed query string (store, path, agreement, expiry). Never a file:// path: the
  consumer must not learn, nor be able to reach, anything but the files it was listed.

Both carry an expiry that is also returned to the client (`expirationTimestamp`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from labour_trust.shares.storage import S3Settings

SECRET_ENV = "LABOUR_TRUST_SHARING_SECRET"


def sharing_secret(explicit: bytes | str | None = None) -> bytes:
    """The server's signing secret: explicit, from the environment, or random per process.

    A per-process secret means URLs and page tokens die with the process; set the
    environment variable when several server processes must honour each other's URLs
    (the sharing server refuses to start without it outside the embedded default).
    """
    value = explicit or os.environ.get(SECRET_ENV)
    if not value:  # an empty secret would make every signature forgeable
        return secrets.token_bytes(32)
    return value.encode("utf-8") if isinstance(value, str) else value


def derive_key(secret: bytes, purpose: str) -> bytes:
    """Separate keys per use, so a signature made for one purpose is useless for another."""
    return hmac.new(secret, purpose.encode("utf-8"), hashlib.sha256).digest()


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: float  # unix seconds

    @property
    def expiration_timestamp_ms(self) -> int:
        return int(self.expires_at * 1000)


class LocalUrlSigner:
    """Signs and checks `/files/{store}/{path}` URLs of the sharing server."""

    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, "file-url")

    def url(
        self, base: str, store: str, relpath: str, agreement_id: str, expires_at: float
    ) -> SignedUrl:
        expires = int(expires_at)
        query = urlencode(
            {
                "agreement": agreement_id,
                "expires": expires,
                "signature": self._signature(store, relpath, agreement_id, expires),
            }
        )
        path = quote(f"{store}/{relpath}", safe="/=")
        return SignedUrl(f"{base.rstrip('/')}/{path}?{query}", expires)

    def check(
        self, store: str, relpath: str, params: dict[str, Any], now: float
    ) -> tuple[str | None, str | None]:
        """(agreement id, problem): problem is None when the URL is genuine and unexpired."""
        agreement_id = params.get("agreement") or ""
        signature = params.get("signature") or ""
        try:
            expires = int(params.get("expires") or "")
        except ValueError:
            return None, "the URL has no valid expiry"
        expected = self._signature(store, relpath, agreement_id, expires)
        if not hmac.compare_digest(expected, signature):
            return None, "the URL signature is not valid"
        if now > expires:
            return agreement_id, f"the URL expired at {expires} (unix time); query the table again"
        return agreement_id, None

    def _signature(self, store: str, relpath: str, agreement_id: str, expires: int) -> str:
        message = "\n".join([store, relpath, agreement_id, str(expires)])
        return hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).hexdigest()


class S3Presigner:
    """Pre-signed GET URLs for objects under an s3:// publication store."""

    def __init__(self, settings: S3Settings | None = None) -> None:
        self.settings = settings or S3Settings.from_env()
        self._client: Any = None

    def url(self, uri: str, ttl_seconds: int, now: float) -> SignedUrl:
        bucket, key = split_s3_uri(uri)
        # `now` is taken before signing, so the reported expiry is never later than S3's.
        url = self._s3().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_seconds
        )
        return SignedUrl(url, now + ttl_seconds)

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            s = self.settings
            config = Config(
                signature_version="s3v4",
                # Custom endpoints (MinIO, moto, VPC endpoints) need path-style addresses.
                s3={"addressing_style": "path" if s.endpoint_url else "auto"},
            )
            self._client = boto3.client(
                "s3",
                endpoint_url=s.endpoint_url,
                region_name=s.region,
                **s.boto3_credentials(),  # none: boto3's chain (session token, profile, role)
                config=config,
            )
        return self._client


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// uri: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, unquote(key)
