"""S3 credentials come from the standard AWS chain: keys with a session token in the env, a
profile in a config file; explicit keys only when a caller passes them. Against moto, which
accepts any credentials, so what reaches the requests is checked on boto3's signed requests
and on the options handed to deltalake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from labour_trust.demo.s3 import MotoServer
from labour_trust.shares import s3, storage
from labour_trust.shares.storage import S3Settings, storage_options_for

# Anything that could hand the chain other credentials than the test's.
_AWS_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture
def aws_env(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An environment pointing at moto with no credentials at all (tests add theirs)."""
    for name in _AWS_CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    # No stray ~/.aws files, and no slow instance-metadata probe when nothing is found.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_REGION", moto.settings.region)
    # Cached clients and profile sessions hold the credentials resolved when created.
    s3.client_for.cache_clear()
    storage._profile_session.cache_clear()
    yield
    s3.client_for.cache_clear()
    storage._profile_session.cache_clear()


def signed_headers(client: Any) -> list[dict[str, str]]:
    """The headers of every request `client` sends from now on, as signed."""
    sent: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.s3.*", lambda request, **_: sent.append(dict(request.headers))
    )
    return sent


def header(headers: dict[str, str], name: str) -> str:
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), "")
    return value.decode() if isinstance(value, bytes) else str(value)


def round_trip(settings: S3Settings, bucket: str) -> list[s3.ObjectInfo]:
    """A deltalake write and read, then a boto3 listing, all through the project's helpers."""
    uri = f"s3://{bucket}/dwp/uc_claimants"
    options = storage_options_for(uri, settings)
    write_deltalake(
        uri, pa.table({"month": ["2024-01"], "claimants": [7]}), storage_options=options
    )
    assert DeltaTable(uri, storage_options=options).to_pyarrow_table().num_rows == 1
    return list(s3.list_objects(s3.client_for(settings), bucket, "dwp/uc_claimants/_delta_log"))


def test_env_keys_with_a_session_token(
    aws_env: None, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-session-token")

    settings = S3Settings.from_env()
    # Nothing copied: boto3 and object_store read the env themselves, token included.
    assert (settings.access_key_id, settings.secret_access_key, settings.session_token) == (
        None,
        None,
        None,
    )
    assert settings.boto3_credentials() == {}
    assert "AWS_ACCESS_KEY_ID" not in settings.delta_storage_options()

    sent = signed_headers(s3.client_for(settings))

    assert round_trip(settings, bucket)
    assert sent
    assert all(header(h, "X-Amz-Security-Token") == "env-session-token" for h in sent)
    assert all("Credential=ASIAENVKEY/" in header(h, "Authorization") for h in sent)


def test_explicit_keys_carry_their_session_token(aws_env: None, bucket: str) -> None:
    settings = S3Settings.from_storage_options(
        {
            "AWS_ENDPOINT_URL": S3Settings.from_env().endpoint_url or "",
            "AWS_REGION": "eu-west-2",
            "AWS_ACCESS_KEY_ID": "ASIAEXPLICIT",
            "AWS_SECRET_ACCESS_KEY": "explicit-secret",
            "AWS_SESSION_TOKEN": "explicit-token",
        }
    )
    options = settings.delta_storage_options()
    assert options["AWS_ACCESS_KEY_ID"] == "ASIAEXPLICIT"
    assert options["AWS_SESSION_TOKEN"] == "explicit-token"
    assert settings.boto3_credentials()["aws_session_token"] == "explicit-token"
    assert S3Settings.from_storage_options(options) == settings  # a round trip loses nothing

    sent = signed_headers(s3.client_for(settings))
    assert round_trip(settings, bucket)
    assert sent
    assert all(header(h, "X-Amz-Security-Token") == "explicit-token" for h in sent)


def test_profile_from_a_config_file(
    aws_env: None, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").write_text("[profile trust-test]\nregion = eu-west-2\n")
    (tmp_path / "credentials").write_text(
        "[trust-test]\n"
        "aws_access_key_id = ASIAPROFILE\n"
        "aws_secret_access_key = profile-secret\n"
        "aws_session_token = profile-token\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "trust-test")

    settings = S3Settings.from_env()
    assert settings.boto3_credentials() == {}
    # object_store (deltalake 1.6) ignores profiles: boto3 resolves them for it.
    options = settings.delta_storage_options()
    assert options["AWS_ACCESS_KEY_ID"] == "ASIAPROFILE"
    assert options["AWS_SESSION_TOKEN"] == "profile-token"

    sent = signed_headers(s3.client_for(settings))
    assert round_trip(settings, bucket)
    assert sent
    assert all(header(h, "X-Amz-Security-Token") == "profile-token" for h in sent)
    assert all("Credential=ASIAPROFILE/" in header(h, "Authorization") for h in sent)


def test_env_keys_win_over_a_profile(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "not-configured")  # boto3 would fail to find it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert "AWS_ACCESS_KEY_ID" not in S3Settings.from_env().delta_storage_options()


def test_repr_never_shows_a_secret() -> None:
    settings = S3Settings(
        endpoint_url="http://127.0.0.1:9000",
        access_key_id="ASIAVISIBLE",
        secret_access_key="very-secret-value",
        session_token="very-secret-token",
    )
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings)
    assert hash(settings) == hash(S3Settings(**vars(settings)))  # still an lru_cache key
