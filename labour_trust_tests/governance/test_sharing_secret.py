"""The signing secret of file URLs and page tokens: required outside the embedded default,
where replicas must honour each other's URLs; random per process (with a warning) in it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from labour_trust.governance.file_urls import SECRET_ENV
from labour_trust.governance.sharing_server import SharingSecretMissing, create_app
from labour_trust.settings import STORE_ENV
from labour_trust_tests.governance.conftest import STANDARD_AGREEMENTS, write_register


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


@pytest.fixture
def server_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    write_register(home / "agreements.yaml", STANDARD_AGREEMENTS)
    return home


def test_a_shared_store_without_a_secret_refuses_to_start(
    no_secret: None, server_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_ENV, "s3://trust-store/prod")
    with pytest.raises(SharingSecretMissing, match=SECRET_ENV):
        create_app(server_home)
    assert not (server_home / "audit.log").exists()  # refused before touching anything


@pytest.mark.parametrize("source", ["env", "explicit"])
def test_a_shared_store_starts_with_a_configured_secret(
    no_secret: None, server_home: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.setenv(STORE_ENV, "s3://trust-store/prod")
    register = server_home / "agreements.yaml"  # not the (unreachable) store's register
    if source == "env":
        monkeypatch.setenv(SECRET_ENV, "shared-by-all-replicas")
        apps = [create_app(server_home, register), create_app(server_home, register)]
    else:
        apps = [create_app(server_home, register, signing_secret=b"shared") for _ in range(2)]
    # Two replicas: a page token made by one is honoured by the other.
    token = apps[0].state.sharing.page_tokens.encode({"k": "shares", "o": 1})
    assert apps[1].state.sharing.page_tokens.decode(token) == {"k": "shares", "o": 1}


def test_the_embedded_default_uses_a_per_process_secret_and_says_so(
    no_secret: None,
    server_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="labour_trust.governance.sharing_server"):
        app = create_app(server_home)
    assert app.state.sharing is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert SECRET_ENV in warnings[0] and "per-process" in warnings[0]


def test_serve_shares_says_what_is_missing_without_a_traceback(
    no_secret: None, server_home: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from labour_trust.cli import main

    monkeypatch.setenv(STORE_ENV, "s3://trust-store/prod")
    register = str(server_home / "agreements.yaml")
    assert main(["--home", str(server_home), "serve-shares", "--register", register]) == 2
    assert SECRET_ENV in capsys.readouterr().err
