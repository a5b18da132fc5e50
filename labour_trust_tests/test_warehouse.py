"""The warehouse mirror: a lock for the write only, a snapshot for analysts, bounded retries,
and a rebuild from the store's Delta tables."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from dagster_duckdb import DuckDBResource
from deltalake import write_deltalake

from labour_trust.warehouse import (
    WarehouseLockedError,
    mirror_month,
    rebuild_warehouse,
    snapshot_path,
)


def month_rows(month: str, values: list[int]) -> pa.Table:
    return pa.table({"month": [month] * len(values), "value": values})


@contextmanager
def analyst(path: Path) -> Iterator[subprocess.Popen]:
    """Another process holding `path` open read-only, as `duckdb -readonly` would."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r}, read_only=True)\n"
        "print(con.sql('SELECT count(*) FROM trust.things').fetchall()[0][0], flush=True)\n"
        "sys.stdin.read()\n"  # hold the file until the test closes stdin
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        process.stdout.readline()  # the file is open once the count is printed
        yield process
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def write_month(warehouse: DuckDBResource, *args, **kwargs) -> None:
    mirror_month(warehouse, *args, **kwargs)


def read_month(warehouse: DuckDBResource, schema: str, name: str, month: str) -> pa.Table:
    with duckdb.connect(warehouse.database, read_only=True) as con:
        return con.sql(
            f"SELECT * FROM {schema}.{name} WHERE month = '{month}' ORDER BY ALL"
        ).to_arrow_table()


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBResource:
    resource = DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))
    write_month(resource, "trust", "things", "2024-01", month_rows("2024-01", [1, 2, 3]))
    return resource


def snapshot_count(database: str) -> int:
    with duckdb.connect(str(snapshot_path(database)), read_only=True) as con:
        return con.sql("SELECT count(*) FROM trust.things").fetchall()[0][0]


def test_each_write_replaces_its_month_and_refreshes_the_snapshot(warehouse):
    assert snapshot_path(warehouse.database).name == "warehouse.snapshot.duckdb"
    assert snapshot_count(warehouse.database) == 3
    write_month(warehouse, "trust", "things", "2024-02", month_rows("2024-02", [4]))
    write_month(warehouse, "trust", "things", "2024-01", month_rows("2024-01", [5, 6]))
    assert snapshot_count(warehouse.database) == 3
    assert read_month(warehouse, "trust", "things", "2024-01")["value"].to_pylist() == [5, 6]
    # Only the live file and its snapshot: no temporary copy or WAL left behind.
    names = sorted(p.name for p in Path(warehouse.database).parent.iterdir())
    assert names == ["warehouse.duckdb", "warehouse.duckdb.lock", "warehouse.snapshot.duckdb"]


def test_an_analyst_on_the_snapshot_never_blocks_the_writer(warehouse):
    with analyst(snapshot_path(warehouse.database)):
        write_month(
            warehouse,
            "trust",
            "things",
            "2024-02",
            month_rows("2024-02", [7, 8]),
            max_wait_seconds=0,
        )
        assert snapshot_count(warehouse.database) == 5
        # A new reader sees the new snapshot while the old one is still held open.
        assert snapshot_count(warehouse.database) == 5


def test_an_analyst_on_the_live_file_makes_the_writer_retry_then_fail_clearly(warehouse, caplog):
    caplog.set_level(logging.WARNING, logger="labour_trust.warehouse")
    rows = month_rows("2024-02", [9])
    with (
        analyst(Path(warehouse.database)) as process,
        pytest.raises(WarehouseLockedError) as failure,
    ):
        write_month(warehouse, "trust", "things", "2024-02", rows, max_wait_seconds=1.0)
    message = str(failure.value)
    assert warehouse.database in message
    assert f"PID {process.pid}" in message  # who holds it, as DuckDB reports it
    assert "snapshot" in message
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) >= 2
    # Once the analyst lets go, the same write goes through.
    write_month(warehouse, "trust", "things", "2024-02", rows, max_wait_seconds=1.0)
    assert snapshot_count(warehouse.database) == 4


def test_the_warehouse_is_rebuilt_from_the_store(tmp_path):
    """The store is the truth: a lost or stale warehouse is rebuilt from its Delta tables."""
    tables = tmp_path / "tables"
    write_deltalake(
        tables / "trust" / "things", month_rows("2024-01", [1, 2]), partition_by=["month"]
    )
    write_deltalake(
        tables / "trust" / "things",
        month_rows("2024-02", [3]),
        mode="append",
        partition_by=["month"],
    )
    write_deltalake(
        tables / "published" / "things", month_rows("2024-01", [9]), partition_by=["month"]
    )
    database = tmp_path / "elsewhere" / "warehouse.duckdb"
    stale = DuckDBResource(database=str(database))
    mirror_month(stale, "trust", "things", "2024-01", month_rows("2024-01", [7]))

    rebuilt = rebuild_warehouse(str(tables), database)

    assert rebuilt == {"published.things": 1, "trust.things": 3}
    with duckdb.connect(str(snapshot_path(database)), read_only=True) as con:
        assert sorted(con.sql("SELECT value FROM trust.things").fetchall()) == [(1,), (2,), (3,)]
        assert con.sql("SELECT value FROM published.things").fetchall() == [(9,)]
