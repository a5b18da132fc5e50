"""The agreement register and its tokens in an S3 store (LABOUR_TRUST_STORE=s3://...): the
CLI on one machine and every sharing-server replica share them, with no shared volume.

S3 is the session's moto_server subprocess (`moto` and `bucket` in the top conftest).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from labour_trust.demo.s3 import MotoServer
from labour_trust.governance import cli
from labour_trust.governance.agreements import AgreementRegister, RegisterError
from labour_trust.governance.sharing_server import create_app
from labour_trust.governance.tokens import TokenStore, token_hash
from labour_trust.settings import STORE_ENV
from labour_trust.store import Store
from labour_trust_tests.governance.conftest import STANDARD_AGREEMENTS, agreement_entry
from labour_trust_tests.governance.test_cli import run

DEMO_AGREEMENT = "dfe-skills-outcomes"  # live in the shipped demo register


@pytest.fixture
def store(moto: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The trust's store on S3, as a cluster sets it (the environment, not arguments)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", moto.settings.region)
    root = f"s3://{bucket}/trust"
    monkeypatch.setenv(STORE_ENV, root)
    return Store(root)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The CLI's home folder on this machine: nothing of the register may land in it."""
    return tmp_path / "home"


def put_register(store: Store, entries: list[dict]) -> None:
    """A steward's edit of the register object (as `write_register` does for a file)."""
    text = yaml.safe_dump({"agreements": entries}, sort_keys=False).replace("'", "")
    store.write_text("agreements.yaml", text=text)


def files_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


# ----------------------------------------------------------------------------------- CLI


def test_cli_token_and_revoke_write_the_register_and_tokens_to_s3_only(
    store: Store, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "out" / "dfe.share"
    assert run(home, "agreements", "token", DEMO_AGREEMENT, "--profile-out", str(profile)) == 0
    token = json.loads(profile.read_text())["bearerToken"]

    register_text = store.read_text("agreements.yaml")
    assert register_text is not None and DEMO_AGREEMENT in register_text  # the demo, copied
    tokens = json.loads(store.read_text("sharing_tokens.json") or "{}")["tokens"]
    assert [(t["agreement_id"], t["sha256"]) for t in tokens] == [
        (DEMO_AGREEMENT, token_hash(token))
    ]
    assert token not in (store.read_text("sharing_tokens.json") or "")

    assert run(home, "agreements", "revoke", DEMO_AGREEMENT) == 0
    revoked = store.read_text("agreements.yaml") or ""
    assert revoked.count("status: revoked") == register_text.count("status: revoked") + 1
    assert "# " in revoked  # a status change keeps the steward's comments

    capsys.readouterr()
    assert run(home, "agreements", "list", "--json") == 0
    listed = {a["id"]: a for a in json.loads(capsys.readouterr().out)}
    assert listed[DEMO_AGREEMENT]["status"] == "revoked"

    assert files_under(home) == []  # no register, tokens, lock or audit log at home
    assert store.names("locks") == []  # the writers' leases were released
    assert store.names("audit")  # the commands were audited in the store too


def test_cli_never_overwrites_a_register_already_in_the_store(
    store: Store, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_register(store, [agreement_entry("only-one", ["sector_view"])])
    assert run(home, "agreements", "list", "--json") == 0
    assert [a["id"] for a in json.loads(capsys.readouterr().out)] == ["only-one"]
    assert "only-one" in (store.read_text("agreements.yaml") or "")


# ------------------------------------------------------------------------------ replicas


def test_replicas_share_tokens_and_revocations_through_the_store(store: Store) -> None:
    put_register(store, STANDARD_AGREEMENTS)
    one, other = AgreementRegister.in_store(store), AgreementRegister.in_store(store)
    assert one.uri == other.uri == store.uri("agreements.yaml")
    assert other.agreement_for_token("ltds_unknown") is None

    token = one.issue_token("full-access")
    assert other.agreement_for_token(token).id == "full-access"  # issued on another machine
    rotated = one.issue_token("full-access")
    assert other.agreement_for_token(token) is None  # the old token is void everywhere
    assert other.agreement_for_token(rotated).is_live()

    one.revoke("full-access")
    agreement = other.agreement_for_token(rotated)  # the other replica's next request
    assert agreement.status == "revoked" and not agreement.is_live()
    assert store.names("locks") == []


def test_a_token_store_path_may_be_an_s3_uri(store: Store) -> None:
    tokens = TokenStore(store.uri("sharing_tokens.json"))
    token = tokens.issue("a")
    assert TokenStore(store=store).agreement_for(token) == "a"
    assert tokens.path == store.uri("sharing_tokens.json")
    assert tokens.remove("a") and TokenStore(store=store).agreement_for(token) is None


def test_a_broken_edit_in_s3_fails_closed_naming_the_object(store: Store) -> None:
    put_register(store, STANDARD_AGREEMENTS)
    register = AgreementRegister.in_store(store)
    token = register.issue_token("full-access")
    uri = store.uri("agreements.yaml")

    store.write_text("agreements.yaml", text="agreements: [unclosed\n")
    with pytest.raises(RegisterError, match="not valid YAML") as caught:
        register.agreement_for_token(token)
    assert caught.value.source == uri and uri in str(caught.value)

    put_register(store, [{**STANDARD_AGREEMENTS[0], "tables": ["secret_table"]}])
    with pytest.raises(RegisterError, match="unknown table 'secret_table'") as caught:
        register.get("full-access")
    assert uri in str(caught.value)
    with pytest.raises(RegisterError):  # a new replica refuses to start on it
        AgreementRegister.in_store(store)

    put_register(store, STANDARD_AGREEMENTS)  # fixed: access resumes without a restart
    assert register.agreement_for_token(token).id == "full-access"

    store.delete("agreements.yaml")
    with pytest.raises(FileNotFoundError, match=uri):
        register.agreements()


# -------------------------------------------------------------------------------- server


def test_the_sharing_server_reads_the_stores_register(store: Store, home: Path) -> None:
    put_register(store, STANDARD_AGREEMENTS)
    apps = [create_app(home, signing_secret=b"shared") for _ in range(2)]
    registers = [app.state.sharing.register for app in apps]
    assert [r.uri for r in registers] == [store.uri("agreements.yaml")] * 2
    assert {app.state.sharing.config.register_path for app in apps} == {registers[0].uri}

    token = cli.AgreementRegister.load(cli.ensure_register(home)).issue_token("full-access")
    assert all(r.agreement_for_token(token).id == "full-access" for r in registers)
    assert not (home / "agreements.yaml").exists()
