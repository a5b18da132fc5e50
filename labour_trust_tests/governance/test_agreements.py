"""The agreement register: validation, reload on change, revocation, tokens."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import pytest
import yaml

from labour_trust.governance.agreements import (
    AgreementRegister,
    RegisterError,
    parse_register,
    published_tables,
    utc_today,
)
from labour_trust.governance.tokens import TOKEN_PREFIX, token_hash
from labour_trust_tests.governance.conftest import agreement_entry, write_register


def errors_for(entries: list[dict]) -> list[str]:
    with pytest.raises(RegisterError) as caught:
        parse_register({"agreements": entries})
    return caught.value.errors


def test_valid_entry_parses_to_agreement() -> None:
    entry = agreement_entry(
        "dfe-1",
        ["skills_outcomes", {"name": "local_labour_market", "regions": ["TLI"]}],
        start=date(2025, 1, 1),
        expires=date(2026, 1, 1),
    )
    (agreement,) = parse_register({"agreements": [entry]})
    assert agreement.id == "dfe-1"
    assert agreement.start == date(2025, 1, 1)
    assert agreement.grant("skills_outcomes").restricted is False
    assert agreement.grant("local_labour_market").regions == ("TLI",)
    assert agreement.grant("local_labour_market").restricted is True
    assert agreement.grant("sector_view") is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"tables": ["payroll_microdata"]}, "agreement 'a1' field 'tables': unknown table"),
        ({"start": "2025-13-01"}, "agreement 'a1' field 'start': '2025-13-01' is not a valid"),
        ({"expires": "soon"}, "agreement 'a1' field 'expires': 'soon' is not a valid date"),
        (
            {"start": "2025-06-01", "expires": "2025-01-01"},
            "agreement 'a1' field 'expires': 2025-01-01 is before start 2025-06-01",
        ),
        ({"status": "paused"}, "agreement 'a1' field 'status': 'paused' is not one of"),
        ({"purpose": ""}, "agreement 'a1' field 'purpose': required"),
        ({"expiry": "2025-01-01"}, "agreement 'a1' field 'expiry': unknown field"),
        ({"tables": []}, "agreement 'a1' field 'tables': required non-empty list"),
        (
            {"tables": [{"name": "sector_view", "regions": ["XX1"]}]},
            "agreement 'a1' field 'tables.sector_view.regions': unknown ITL1 codes ['XX1']",
        ),
        (
            {"tables": [{"name": "sector_view", "columns": ["pay; drop"]}]},
            "agreement 'a1' field 'tables.sector_view.columns': invalid names",
        ),
        (
            {"tables": ["sector_view", "sector_view"]},
            "agreement 'a1' field 'tables': table 'sector_view' is listed twice",
        ),
        ({"id": "Bad Id!"}, "agreement 'Bad Id!' field 'id': required; lower-case"),
    ],
)
def test_validation_errors_name_entry_and_field(change: dict, expected: str) -> None:
    entry = {**agreement_entry("a1", ["sector_view"]), **change}
    errors = errors_for([entry])
    assert any(e.startswith(expected) for e in errors), errors


def test_duplicate_id_is_an_error() -> None:
    entries = [agreement_entry("same", ["sector_view"]), agreement_entry("same", ["sector_view"])]
    assert errors_for(entries) == ["agreement 'same' field 'id': duplicate id (ids must be unique)"]


def test_entry_without_id_is_labelled_by_position() -> None:
    entry = agreement_entry("x", ["sector_view"])
    del entry["id"]
    errors = errors_for([agreement_entry("ok", ["sector_view"]), entry])
    assert errors[0].startswith("agreement #2 (no id) field 'id': required")


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    bad = {**agreement_entry("a1", ["nope"]), "status": "maybe", "start": "never"}
    path = write_register(tmp_path / "agreements.yaml", [bad])
    with pytest.raises(RegisterError) as caught:
        AgreementRegister.load(path)
    fields = {e.split("field ")[1].split(":")[0] for e in caught.value.errors}
    assert fields == {"'tables'", "'status'", "'start'"}
    assert str(path) in str(caught.value)


def test_top_level_shape_is_checked() -> None:
    with pytest.raises(RegisterError, match="'agreements' list"):
        parse_register(["not", "a", "mapping"])


def test_demo_register_is_valid_and_covers_the_demo_cases() -> None:
    demo = resources.files("labour_trust.governance").joinpath("demo_agreements.yaml")
    agreements = parse_register(yaml.safe_load(demo.read_text()))
    consumers = " ".join(a.consumer for a in agreements)
    for department in ("Education", "Business and Trade", "HM Revenue"):
        assert department in consumers
    today = utc_today()
    assert [a.id for a in agreements if a.state_on(today) == "expired"] == [
        "hmrc-claimant-outcomes-2023"
    ]
    grants = [g for a in agreements for g in a.tables]
    assert any(g.regions == ("TLI",) for g in grants)  # London only
    assert any(g.columns is not None for g in grants)


def test_demo_column_limits_name_columns_of_the_trust_datasets() -> None:
    # The restricted copy fails loudly on an unknown column; catch a drift here first.
    datasets = pytest.importorskip("labour_trust.trust.datasets").TRUST_DATASETS
    demo = resources.files("labour_trust.governance").joinpath("demo_agreements.yaml")
    for agreement in parse_register(yaml.safe_load(demo.read_text())):
        for grant in agreement.tables:
            names = datasets[grant.name].schema.names
            assert "parent_code" in names and "area_code" in names  # the region filter's
            assert set(grant.columns or ()) <= set(names), (agreement.id, grant.name)


def test_the_register_grants_exactly_the_published_tables(tmp_path: Path) -> None:
    from labour_trust.publishing.tables import PUBLISHED

    path = write_register(tmp_path / "agreements.yaml", [agreement_entry("a", ["sector_view"])])
    assert AgreementRegister.load(path).known_tables == published_tables() == tuple(PUBLISHED)


def test_the_register_needs_neither_dagster_nor_the_publishing_package() -> None:
    code = textwrap.dedent(
        """
        import sys
        from labour_trust.governance.agreements import itl1_codes, published_tables
        published_tables(), itl1_codes()
        heavy = ("dagster", "labour_trust.publishing")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_effective_state() -> None:
    (agreement,) = parse_register(
        {
            "agreements": [
                agreement_entry(
                    "a", ["sector_view"], start=date(2025, 1, 1), expires=date(2025, 12, 31)
                )
            ]
        }
    )
    assert agreement.state_on(date(2024, 12, 31)) == "not_started"
    assert agreement.state_on(date(2025, 12, 31)) == "active"  # expiry day is inclusive
    assert agreement.state_on(date(2026, 1, 1)) == "expired"


# ------------------------------------------------------------------------------- reload


def test_register_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = write_register(tmp_path / "agreements.yaml", [agreement_entry("a", ["sector_view"])])
    register = AgreementRegister.load(path)
    assert register.get("a").table_names == ("sector_view",)
    write_register(path, [agreement_entry("a", ["sector_view", "skills_outcomes"])])
    assert register.get("a").table_names == ("sector_view", "skills_outcomes")


def test_an_invalid_edit_fails_closed_until_fixed(tmp_path: Path) -> None:
    path = write_register(tmp_path / "agreements.yaml", [agreement_entry("a", ["sector_view"])])
    register = AgreementRegister.load(path)
    path.write_text(path.read_text().replace("sector_view", "secret_table"))
    with pytest.raises(RegisterError, match="unknown table 'secret_table'"):
        register.agreements()
    write_register(path, [agreement_entry("a", ["sector_view"])])
    assert register.get("a").status == "active"


def test_revoke_rewrites_only_the_status_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "agreements.yaml"
    demo = resources.files("labour_trust.governance").joinpath("demo_agreements.yaml")
    original = demo.read_text()
    path.write_text(original)
    register = AgreementRegister.load(path)
    other = AgreementRegister.load(path)  # e.g. the running server's copy

    revoked = register.revoke("dbt-london-sectors")

    assert revoked.status == "revoked"
    assert other.get("dbt-london-sectors").status == "revoked"  # seen without a restart
    changed = [
        (a, b)
        for a, b in zip(original.splitlines(), path.read_text().splitlines(), strict=True)
        if a != b
    ]
    assert changed == [("    status: active", "    status: revoked")]
    assert "# London only" in path.read_text()


def test_revoke_unknown_agreement(tmp_path: Path) -> None:
    path = write_register(tmp_path / "agreements.yaml", [agreement_entry("a", ["sector_view"])])
    with pytest.raises(KeyError):
        AgreementRegister.load(path).revoke("nope")


# ------------------------------------------------------------------------------- tokens


def test_token_is_stored_only_as_a_hash_in_a_private_file(tmp_path: Path) -> None:
    path = write_register(tmp_path / "agreements.yaml", [agreement_entry("a", ["sector_view"])])
    register = AgreementRegister.load(path)
    token = register.issue_token("a")

    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    tokens_file = tmp_path / "sharing_tokens.json"
    assert register.tokens_path == tokens_file
    text = tokens_file.read_text()
    assert token not in text
    assert json.loads(text)["tokens"][0]["sha256"] == token_hash(token)
    assert stat.S_IMODE(os.stat(tokens_file).st_mode) == 0o600
    assert register.agreement_for_token(token).id == "a"
    assert register.agreement_for_token(token + "x") is None
    assert register.agreement_for_token("") is None


def test_issuing_again_replaces_the_token(tmp_path: Path) -> None:
    path = write_register(
        tmp_path / "agreements.yaml",
        [agreement_entry("a", ["sector_view"]), agreement_entry("b", ["sector_view"])],
    )
    register = AgreementRegister.load(path)
    first, other = register.issue_token("a"), register.issue_token("b")
    second = register.issue_token("a")
    assert register.agreement_for_token(first) is None
    assert register.agreement_for_token(second).id == "a"
    assert register.agreement_for_token(other).id == "b"


def test_tokens_issued_elsewhere_are_seen_without_restart(tmp_path: Path) -> None:
    path = write_register(tmp_path / "agreements.yaml", [agreement_entry("a", ["sector_view"])])
    server_side = AgreementRegister.load(path)
    assert server_side.agreement_for_token("ltds_unknown") is None
    token = AgreementRegister.load(path).issue_token("a")  # e.g. the CLI
    assert server_side.agreement_for_token(token).id == "a"


def test_no_token_for_an_agreement_that_is_not_live(tmp_path: Path) -> None:
    today = utc_today()
    path = write_register(
        tmp_path / "agreements.yaml",
        [
            agreement_entry(
                "old",
                ["sector_view"],
                start=today - timedelta(days=400),
                expires=today - timedelta(days=1),
            ),
            agreement_entry("halted", ["sector_view"], status="suspended"),
        ],
    )
    register = AgreementRegister.load(path)
    with pytest.raises(ValueError, match="'old' is expired"):
        register.issue_token("old")
    with pytest.raises(ValueError, match="'halted' is suspended"):
        register.issue_token("halted")
    with pytest.raises(KeyError):
        register.issue_token("missing")
