"""The state store on a disk and on S3 (moto): whole-object writes, create-if-absent, locks
that hold across processes and machines, and the audit chain appended from many writers."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from labour_trust.governance.audit_log import ObjectAuditLog, audit_location, open_audit_log
from labour_trust.store import Store, StoreLockTimeout


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path, monkeypatch) -> Store:
    if request.param == "folder":
        return Store(str(tmp_path / "store"))
    moto = request.getfixturevalue("moto")
    bucket = request.getfixturevalue("bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", moto.settings.region)
    return Store(f"s3://{bucket}/trust")


def test_objects_are_written_whole_and_created_once(store):
    assert store.read_text("a", "b.json") is None
    store.write_text("a", "b.json", text="one")
    store.write_text("a", "b.json", text="two")
    assert store.read_text("a", "b.json") == "two"
    assert store.create_text("a", "c.json", text="first")
    assert not store.create_text("a", "c.json", text="second")  # never overwritten
    assert store.read_text("a", "c.json") == "first"
    store.write_text("a", "d", "e.json", text="{}")
    assert store.names("a") == ["b.json", "c.json"]
    assert store.folders() == ["a"] and store.folders("a") == ["d"]
    store.delete("a", "b.json")
    assert store.names("a") == ["c.json"]


def test_a_lock_admits_one_holder_at_a_time(store):
    """Read-modify-write of a counter under the lock from several threads loses nothing."""
    store.write_text("counter", text="0")

    def bump(_: int) -> None:
        with store.lock("counter", wait_seconds=60):
            value = int(store.read_text("counter"))
            time.sleep(0.01)  # widen the window a lost update would need
            store.write_text("counter", text=str(value + 1))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(bump, range(12)))
    assert store.read_text("counter") == "12"


def test_an_expired_lease_is_taken_over_and_a_live_one_waited_for(tmp_path, monkeypatch, request):
    moto, bucket = request.getfixturevalue("moto"), request.getfixturevalue("bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = Store(f"s3://{bucket}/trust")
    # A holder that died an hour ago: its lease has expired, so it is taken over.
    dead = {"holder": "pod-that-died:1", "expires": time.time() - 3600}
    store.write_text("locks", "publish", text=json.dumps(dead))
    with store.lock("publish", wait_seconds=5):
        held = json.loads(store.read_text("locks", "publish"))
        assert held["holder"] != dead["holder"] and held["expires"] > time.time()
        # While it is held and live, another writer waits, then gives up naming the holder.
        with (
            pytest.raises(StoreLockTimeout, match="held by"),
            store.lock("publish", wait_seconds=0.5),
        ):
            pass
    assert store.read_text("locks", "publish") is None  # released


def test_concurrent_appends_keep_one_unbroken_chain(store):
    log = open_audit_log(audit_location(store.root), actor="test")
    assert isinstance(log, ObjectAuditLog) == store.on_s3
    barrier = threading.Barrier(4)

    def writer(n: int) -> None:
        barrier.wait()  # all four race for the same head
        for i in range(5):
            open_audit_log(audit_location(store.root)).append("publication", writer=n, i=i)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    result = log.verify()
    assert result.ok, result.reason
    assert result.entries == 20
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == list(range(1, 21))
    assert {(e["details"]["writer"], e["details"]["i"]) for e in entries} == {
        (n, i) for n in range(4) for i in range(5)
    }


def test_an_edited_entry_on_s3_breaks_the_chain(request, monkeypatch):
    moto, bucket = request.getfixturevalue("moto"), request.getfixturevalue("bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = Store(f"s3://{bucket}/trust")
    log = open_audit_log(audit_location(store.root))
    for i in range(3):
        log.append("publication", i=i)
    entry = json.loads(store.read_text("audit", "000000000002.json"))
    entry["details"]["i"] = 99
    store.write_text("audit", "000000000002.json", text=json.dumps(entry) + "\n")
    result = log.verify()
    assert not result.ok and result.first_broken_seq == 2
    assert "edited" in result.reason
