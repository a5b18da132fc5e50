"""A publication and its audit record exist together or not at all; consumers see only
released versions. Real Dagster runs, real Delta tables, a real sharing service."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient

from labour_trust.definitions import build_definitions
from labour_trust.defs.resources import AuditTrail, PublicationStore
from labour_trust.disclosure import DisclosurePolicy
from labour_trust.disclosure.engine import apply_policy
from labour_trust.governance.agreements import AgreementRegister, utc_today
from labour_trust.governance.audit_log import AuditLog, verify
from labour_trust.governance.restricted import (
    SOURCE_VERSION_KEY,
    is_released,
    open_released,
    read_release,
)
from labour_trust.governance.sharing_server import create_app
from labour_trust.governance.sharing_service import VERSION_HEADER
from labour_trust.publishing.tables import PUBLISHED
from labour_trust_tests.conftest import TEST_MONTHS
from labour_trust_tests.disclosure.test_engine import _mixed

MONTH = TEST_MONTHS[0]
# The step publishing the month also writes what consumers receive (one non-subsettable step).
CONSUMED = ("published", "exports", "restricted")
NAME = "local_labour_market"
# The month's published tables are one step; NAME is the first it publishes.
KEYS = [dg.AssetKey([layer, name]) for layer in CONSUMED for name in PUBLISHED]
TABLE_PATH = f"/delta-sharing/shares/labour_trust/schemas/published/tables/{NAME}"


def write_register(home: Path) -> None:
    """Two live agreements on the table: one full, one limited to London (a restricted copy)."""
    start, expires = utc_today() - timedelta(days=30), utc_today() + timedelta(days=365)
    entries = []
    for agreement_id, grant in (("full", NAME), ("london", f"{{name: {NAME}, regions: [TLI]}}")):
        entries.append(
            f"  - id: {agreement_id}\n"
            f"    consumer: Consumer {agreement_id}\n"
            "    purpose: Testing publication as a transaction.\n"
            "    legal_gateway: Digital Economy Act 2017, Part 5\n"
            f"    tables: [{grant}]\n"
            f"    start: {start.isoformat()}\n"
            f"    expires: {expires.isoformat()}\n"
            "    status: active\n"
        )
    home.mkdir(parents=True, exist_ok=True)
    (home / "agreements.yaml").write_text("agreements:\n" + "".join(entries), encoding="utf-8")


def publish(defs: dg.Definitions, instance: dg.DagsterInstance, selection=None):
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        partition_key=MONTH, instance=instance, asset_selection=selection, raise_on_error=False
    )


def uri(home: Path) -> str:
    return str(home / "published" / NAME)


def publication_versions(home: Path) -> list[int]:
    return [
        e["details"]["delta_version"]
        for e in AuditLog(home / "audit.log").entries()
        if e["event"] == "publication" and e["details"]["table"] == NAME
    ]


def served_version(client: TestClient, token: str) -> int:
    response = client.get(TABLE_PATH + "/version", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return int(response.headers[VERSION_HEADER])


def restricted_source_version(home: Path) -> int:
    copy = DeltaTable(str(home / "restricted" / "london" / NAME))
    return int(copy.history(1)[0][SOURCE_VERSION_KEY])


@pytest.fixture
def published_home(home: Path) -> tuple[Path, dg.Definitions, dg.DagsterInstance]:
    """A home whose first month has been published once, successfully."""
    write_register(home)
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    result = publish(defs, instance)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return home, defs, instance


def test_a_failed_audit_append_is_never_released_and_the_next_run_republishes(published_home):
    home, defs, instance = published_home
    released = read_release(uri(home)).version
    assert released == DeltaTable(uri(home)).version()
    assert publication_versions(home) == [released]
    entry = next(
        e
        for e in AuditLog(home / "audit.log").entries()
        if e["event"] == "publication" and e["details"]["table"] == NAME
    )
    assert len(entry["details"]["content_sha256"]) == 64
    assert entry["details"]["delta_uri"] == uri(home)
    assert restricted_source_version(home) == released

    # The audit log cannot be appended to at the moment of publication.
    log = home / "audit.log"
    intact = log.read_bytes()
    log.unlink()
    log.mkdir()
    failed = publish(defs, instance, KEYS)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert "could not be appended" in failure.message or "not released" in str(
        failure.event_specific_data.error
    )
    # The Delta version was written, but it is not released.
    unreleased = DeltaTable(uri(home)).version()
    assert unreleased == released + 1
    assert read_release(uri(home)).version == released

    # Repaired: consumers (plain and restricted) still see the previous release.
    log.rmdir()
    log.write_bytes(intact)
    register = AgreementRegister.load(home / "agreements.yaml")
    tokens = {a: register.issue_token(a) for a in ("full", "london")}
    client = TestClient(create_app(home))
    assert served_version(client, tokens["full"]) == released
    served_version(client, tokens["london"])
    assert restricted_source_version(home) == released
    tables = client.get(
        "/delta-sharing/shares/labour_trust/schemas/published/tables",
        headers={"Authorization": f"Bearer {tokens['full']}"},
    )
    assert [t["name"] for t in tables.json()["items"]] == [NAME]

    # The next run rolls the unreleased version back and publishes (and releases) anew.
    again = publish(defs, instance, KEYS)
    assert again.success
    head = DeltaTable(uri(home))
    assert "RESTORE" in [h["operation"] for h in head.history(3)]
    assert read_release(uri(home)).version == head.version() > unreleased
    versions = publication_versions(home)
    assert versions == [released, head.version()]  # one entry per released version
    assert unreleased not in versions
    assert max(Counter(versions).values()) == 1
    assert served_version(client, tokens["full"]) == head.version()
    served_version(client, tokens["london"])
    assert restricted_source_version(home) == head.version()
    assert verify(log).ok


def test_a_broken_register_fails_the_publication_before_anything_is_written(published_home):
    home, defs, instance = published_home
    version = DeltaTable(uri(home)).version()
    csv_path = home / "exports" / NAME / f"{NAME}_{MONTH}.csv"
    before = csv_path.read_bytes()
    entries = len(list(AuditLog(home / "audit.log").entries()))

    (home / "agreements.yaml").write_text("agreements: [ {id: broken\n", encoding="utf-8")
    failed = publish(defs, instance, KEYS)

    assert not failed.success
    assert DeltaTable(uri(home)).version() == version
    assert read_release(uri(home)).version == version
    assert csv_path.read_bytes() == before
    assert len(list(AuditLog(home / "audit.log").entries())) == entries


def test_the_csv_is_replaced_atomically(tmp_path):
    table, description, contributors = _mixed()
    result = apply_policy(table, description, DisclosurePolicy(), contributors=contributors)
    store = PublicationStore(store=str(tmp_path), root=str(tmp_path / "published"))
    path = Path(store.write_export("mixed", MONTH, result))
    good = path.read_bytes()

    # A table the CSV writer cannot render fails mid-export: the old file stays whole.
    bad = result.table.append_column("oops", pa.array([[1]] * result.table.num_rows))
    with pytest.raises(pa.ArrowException):
        store.write_export("mixed", MONTH, dataclasses.replace(result, table=bad))
    assert path.read_bytes() == good
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert next(iter(csv.DictReader(path.open())))["area"] == "A"


def test_recovery_rolls_an_audited_version_forward_and_an_unaudited_one_back(tmp_path):
    store = PublicationStore(store=str(tmp_path), root=str(tmp_path / "published"))
    audit = AuditTrail(path=str(tmp_path / "audit.log"))
    table_uri = store.uri("t")

    def rows(month: str) -> pa.Table:
        return pa.table({"month": [month], "n": [10]})

    # Before the first write the table is managed: nothing is served until released.
    assert store.recover("t", audit.published_versions) == "new"
    first = store.write("t", "2024-01", rows("2024-01"))
    assert not is_released(table_uri)
    # The run stopped after its audit entry, before the release: the audit log decides.
    table_id = store.table_id("t")
    audit.append(
        "publication", table="t", delta_version=first, delta_uri=table_uri, delta_table_id=table_id
    )
    assert store.recover("t", audit.published_versions) == "rolled forward"
    assert open_released(table_uri).version() == first

    # A version without an audit entry is never served, and is undone before the next write.
    store.write("t", "2024-02", rows("2024-02"))
    assert open_released(table_uri).version() == first
    assert store.recover("t", audit.published_versions) == "rolled back"
    assert DeltaTable(table_uri).to_pyarrow_table()["month"].to_pylist() == ["2024-01"]
    assert read_release(table_uri).version == first

    # Nothing ever released: an unaudited first version is emptied.
    assert store.recover("u", audit.published_versions) == "new"
    store.write("u", "2024-01", rows("2024-01"))
    assert store.recover("u", audit.published_versions) == "rolled back"
    assert DeltaTable(store.uri("u")).to_pyarrow_table().num_rows == 0
    assert not is_released(store.uri("u"))
