"""With LABOUR_TRUST_STORE on S3, a run keeps nothing on its local disk: feed pointers, trust
tables, publications, exports and the audit chain all land in object storage (moto)."""

from __future__ import annotations

import shutil

import dagster as dg
import pyarrow.dataset as pds
from deltalake import DeltaTable

from labour_trust.definitions import build_definitions
from labour_trust.governance.audit_log import ObjectAuditLog
from labour_trust.publishing.tables import PUBLISHED
from labour_trust.shares.s3 import client_for
from labour_trust.shares.storage import S3Settings, storage_options_for
from labour_trust.store import Store
from labour_trust.trust.datasets import TRUST_DATASETS
from labour_trust_tests.conftest import TEST_MONTHS

MONTH = TEST_MONTHS[0]


def upload(folder, bucket: str, prefix: str) -> None:
    client = client_for(S3Settings.from_env())
    for path in folder.rglob("*"):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def test_a_month_runs_with_every_piece_of_state_in_object_storage(home, moto, bucket, monkeypatch):
    for name, value in {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": moto.settings.region,
        "LABOUR_TRUST_STORE": f"s3://{bucket}/trust",
        "LABOUR_TRUST_SHARES": f"s3://{bucket}/departments",
    }.items():
        monkeypatch.setenv(name, value)
    upload(home / "shares", bucket, "departments")
    shutil.rmtree(home)
    home.mkdir()  # the pod's working folder: empty, and it must stay so

    defs = build_definitions(home)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        partition_key=MONTH, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )

    assert result.success
    assert list(home.iterdir()) == []  # no pointer, table, lock, log or export on the disk
    store = Store(f"s3://{bucket}/trust")
    assert {"audit", "exports", "pointers", "published", "tables"} <= set(store.folders())
    for name in TRUST_DATASETS:
        uri = store.uri("tables", "trust", name)
        rows = DeltaTable(uri, storage_options=storage_options_for(uri)).to_pyarrow_dataset()
        assert rows.count_rows(filter=pds.field("month") == MONTH) > 0
    for name in PUBLISHED:
        assert store.read_text("exports", name, f"{name}_{MONTH}.csv").startswith('"')
    audit = ObjectAuditLog(store, "audit")
    assert audit.verify().ok
    published = [e["details"]["table"] for e in audit.entries() if e["event"] == "publication"]
    assert sorted(published) == sorted(PUBLISHED)
    assert store.names("locks") == []  # every lease released
