"""Governance CLI commands, run through an argparse parser as the main CLI builds it."""

from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

import pytest

from labour_trust.governance import cli
from labour_trust.governance.audit_log import AuditLog
from labour_trust.governance.tokens import token_fingerprint
from labour_trust.settings import trust_home


def run(home: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="labour-trust")
    cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.home = home
    return args.func(args)


def test_list_creates_the_demo_register_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "agreements", "list", "--json") == 0
    assert (tmp_path / "agreements.yaml").exists()
    listed = {a["id"]: a for a in json.loads(capsys.readouterr().out)}
    assert set(listed) == {
        "dfe-skills-outcomes",
        "dbt-london-sectors",
        "hmrc-claimant-outcomes-2023",
    }
    hmrc = listed["hmrc-claimant-outcomes-2023"]
    assert hmrc["status"] == "expired" and hmrc["expires"] == "2024-03-31"
    assert hmrc["tables"] == ["claimant_outcomes"]
    london = listed["dbt-london-sectors"]
    assert london["tables"] == ["sector_view", "local_labour_market"]
    assert {"name": "sector_view", "regions": ["TLI"]} in london["grants"]
    assert {"id", "consumer", "tables", "expires", "status"} <= set(london)


def test_list_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "agreements", "list") == 0
    out = capsys.readouterr().out
    assert "dbt-london-sectors" in out and "sector_view [regions=TLI]" in out


def test_token_writes_a_private_profile_and_audits_without_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile_path = tmp_path / "out" / "dfe.share"
    code = run(
        tmp_path,
        "agreements",
        "token",
        "dfe-skills-outcomes",
        "--profile-out",
        str(profile_path),
        "--endpoint",
        "https://trust.example/delta-sharing/",
    )
    assert code == 0
    profile = json.loads(profile_path.read_text())
    assert profile["shareCredentialsVersion"] == 1
    assert profile["endpoint"] == "https://trust.example/delta-sharing"
    assert profile["expirationTime"] == "2028-03-31T23:59:59Z"
    token = profile["bearerToken"]
    assert stat.S_IMODE(os.stat(profile_path).st_mode) == 0o600
    assert token not in capsys.readouterr().out
    (entry,) = AuditLog(tmp_path / "audit.log").entries()
    assert entry["event"] == "agreement.token_issued"
    assert entry["details"]["token_sha256_prefix"] == token_fingerprint(token)
    assert token not in (tmp_path / "audit.log").read_text()
    assert token not in (tmp_path / "sharing_tokens.json").read_text()


def test_no_token_for_an_expired_agreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hmrc.share"
    code = run(
        tmp_path, "agreements", "token", "hmrc-claimant-outcomes-2023", "--profile-out", str(out)
    )
    assert code == 1
    assert "is expired" in capsys.readouterr().err
    assert not out.exists()


def test_revoke_and_audit_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "agreements", "revoke", "dbt-london-sectors") == 0
    assert "status: revoked" in (tmp_path / "agreements.yaml").read_text()
    assert run(tmp_path, "agreements", "revoke", "no-such-agreement") == 1
    capsys.readouterr()

    assert run(tmp_path, "audit", "verify", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["entries"] == 1

    log = tmp_path / "audit.log"
    log.write_text(log.read_text().replace("dbt-london-sectors", "dfe-skills-outcomes"))
    assert run(tmp_path, "audit", "verify") == 1
    assert "BROKEN at entry 1" in capsys.readouterr().out


def test_serve_shares_passes_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.delenv("LABOUR_TRUST_PUBLISHED", raising=False)
    monkeypatch.setattr(
        "labour_trust.governance.sharing_server.serve", lambda *a, **k: calls.append((a, k))
    )
    assert run(tmp_path, "serve-shares", "--port", "9090") == 0
    ((host, port, home, register), options) = calls[0]
    assert (host, port, home) == ("127.0.0.1", 9090, tmp_path)
    assert register == tmp_path / "agreements.yaml" and register.exists()
    assert options["published_root"] == str(tmp_path / "published")  # the trust's store


def test_home_defaults_to_the_trust_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABOUR_TRUST_HOME", str(tmp_path))
    assert cli.home_of(argparse.Namespace()) == trust_home() == tmp_path.resolve()
    assert cli.home_of(argparse.Namespace(home=tmp_path / "other")) == tmp_path / "other"
