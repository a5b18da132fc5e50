"""The hash-chained audit log: tamper detection and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from labour_trust.governance.audit_log import (
    GENESIS_HASH,
    AuditLog,
    AuditLogError,
    entry_hash,
    verify,
)


def write_entries(path: Path, count: int) -> AuditLog:
    log = AuditLog(path, actor="tester", fsync=False)
    for i in range(count):
        log.append("test.event", index=i, table="sector_view")
    return log


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_entries_are_chained(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = write_entries(path, 3)
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == GENESIS_HASH
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    assert entries[0]["actor"] == "tester" and entries[0]["details"]["index"] == 0
    result = verify(path)
    assert (result.ok, result.entries, result.first_broken_seq) == (True, 3, None)
    assert result.head_hash == entries[-1]["hash"]


def test_missing_log_verifies_as_empty(tmp_path: Path) -> None:
    result = verify(tmp_path / "none.log")
    assert result.ok and result.entries == 0 and result.head_hash == GENESIS_HASH


def test_edited_entry_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_entries(path, 5)
    content = lines(path)
    content[2] = content[2].replace('"table":"sector_view"', '"table":"claimant_outcomes"')
    path.write_text("".join(content))
    result = verify(path)
    assert not result.ok
    assert result.first_broken_seq == 3
    assert result.entries == 2
    assert "edited" in result.reason


def test_edited_and_rehashed_entry_is_caught_at_the_next(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_entries(path, 5)
    content = lines(path)
    entry = json.loads(content[1])
    entry["details"]["index"] = 99
    entry["hash"] = entry_hash(entry)
    content[1] = json.dumps(entry) + "\n"
    path.write_text("".join(content))
    result = verify(path)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "prev_hash" in result.reason


def test_deleted_entry_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_entries(path, 5)
    content = lines(path)
    del content[3]
    path.write_text("".join(content))
    result = verify(path)
    assert (result.ok, result.first_broken_seq, result.entries) == (False, 4, 3)
    assert "expected seq 4, found 5" in result.reason


def test_reordered_entries_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_entries(path, 5)
    content = lines(path)
    content[1], content[2] = content[2], content[1]
    path.write_text("".join(content))
    result = verify(path)
    assert (result.ok, result.first_broken_seq) == (False, 2)
    assert "reordered" in result.reason


def test_inserted_entry_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_entries(path, 3)
    content = lines(path)
    content.insert(1, content[1])
    path.write_text("".join(content))
    assert verify(path).first_broken_seq == 3


def test_torn_last_entry_is_caught_and_blocks_appends(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = write_entries(path, 3)
    path.write_text(path.read_text()[:-20])
    result = verify(path)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    with pytest.raises(AuditLogError, match="incomplete"):
        log.append("more")


@pytest.mark.parametrize(
    "details",
    [
        {"token": "ltds_abc"},
        {"bearer_token": "x"},
        {"client_secret": "x"},
        {"authorization": "x"},
        {"header": "Bearer ltds_abc"},
        {"request": {"password": "x"}},
    ],
)
def test_secrets_are_refused(tmp_path: Path, details: dict) -> None:
    with pytest.raises(ValueError):
        AuditLog(tmp_path / "audit.log").append("share.access", **details)
    assert not (tmp_path / "audit.log").exists()


def test_token_fingerprint_is_allowed(tmp_path: Path) -> None:
    entry = AuditLog(tmp_path / "audit.log").append("x", token_sha256_prefix="0123456789ab")
    assert entry["details"] == {"token_sha256_prefix": "0123456789ab"}


def _append_many(path: str, writer: int, count: int) -> None:
    log = AuditLog(Path(path), actor=f"writer-{writer}")
    for i in range(count):
        log.append("concurrency.test", writer=writer, index=i)


def test_concurrent_processes_leave_a_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    writers, per_writer = 8, 50
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_append_many, args=(str(path), w, per_writer))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert all(p.exitcode == 0 for p in processes)

    result = verify(path)
    assert result.ok, result.reason
    assert result.entries == writers * per_writer
    seen = {(e["details"]["writer"], e["details"]["index"]) for e in AuditLog(path).entries()}
    assert len(seen) == writers * per_writer


def test_concurrent_threads_leave_a_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    threads = [threading.Thread(target=_append_many, args=(str(path), w, 25)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = verify(path)
    assert result.ok and result.entries == 100
