"""The trust warehouse (`warehouse.duckdb`): an analysts' mirror of the trust's tables.

The tables themselves are Delta tables in the store (`defs/resources.TrustTables`); on a
machine that keeps a warehouse, each write is mirrored here, and `labour-trust warehouse`
rebuilds it from the store. One writer at a time, readers never in the way.

DuckDB lets one process open a database file for writing, and not while any other process
has it open, even read-only. So:

- Writers take a cross-process lock (`fcntl.flock` on `<warehouse>.lock`) for the write
  only — not for the compute before it — which serialises trust and published steps
  without a Dagster pool.
- Analysts never open the live file: after every write the writer refreshes a read-only
  snapshot, `warehouse.snapshot.duckdb` beside it, built in a temporary file and renamed
  into place. A reader holding the old snapshot keeps its (unlinked) file and blocks
  nothing; the next reader opens the new one.
- If the live file is held anyway (an analyst ignored the guide), the writer retries with
  backoff, logging who holds it, and fails after a bounded wait naming the file and the
  process DuckDB reports.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from labour_trust.files import exclusive_lock

log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX = ".snapshot.duckdb"
DEFAULT_MAX_WAIT_SECONDS = 120.0
_FIRST_DELAY, _MAX_DELAY = 0.1, 5.0
_SNAPSHOT_ALIAS = "labour_trust_snapshot"

T = TypeVar("T")


# Tables of the store never mirrored: contributor summaries hold individual values (the
# largest pay of a cell), inputs to disclosure control only (trust/contributors.py).
UNMIRRORED_SCHEMAS = frozenset({"contributors"})


class WarehouseLockedError(RuntimeError):
    """Another process kept the live warehouse file open for longer than the bounded wait."""


def snapshot_path(database: str | Path) -> Path:
    """`warehouse.duckdb` → `warehouse.snapshot.duckdb`: the file analysts open."""
    path = Path(database)
    return path.with_name(path.name.removesuffix(".duckdb") + SNAPSHOT_SUFFIX)


def lock_path(database: str | Path) -> Path:
    path = Path(database)
    return path.with_name(path.name + ".lock")


@contextmanager
def writer_lock(database: str | Path) -> Iterator[None]:
    """Exclusive, cross-process: the trust's own writers and readers of the live file queue
    here, so DuckDB's file lock is only ever contended by outsiders."""
    with exclusive_lock(lock_path(database)):
        yield


def mirror_month(
    warehouse: DuckDBResource,
    schema: str,
    name: str,
    month: str,
    table: pa.Table,
    *,
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
) -> None:
    """Replace one month of `schema.name` in the warehouse atomically, then refresh the
    analysts' snapshot. Holds the writer lock for exactly that."""
    database = Path(warehouse.database)

    def write() -> None:
        with duckdb.connect(str(database), config=warehouse.connection_config) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.register("month_rows", table)
            con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{name} AS FROM month_rows LIMIT 0")
            con.execute("BEGIN TRANSACTION")
            con.execute(f"DELETE FROM {schema}.{name} WHERE month = ?", [month])
            con.execute(f"INSERT INTO {schema}.{name} BY NAME FROM month_rows")
            con.execute("COMMIT")
            con.unregister("month_rows")
            _refresh_snapshot(con, database)

    with writer_lock(database):
        _retry_locked(write, database, max_wait_seconds)


def rebuild_warehouse(tables_root: str, database: str | Path) -> dict[str, int]:
    """Rebuild the warehouse from the store's Delta tables (`<schema>/<name>` under
    `tables_root`, each at its newest version), then its snapshot; rows per table."""
    from deltalake import DeltaTable

    from labour_trust.shares.storage import storage_options_for
    from labour_trust.store import Store

    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    store, counts = Store(tables_root), {}
    with writer_lock(database), duckdb.connect(str(database)) as con:
        for schema in sorted(set(store.folders()) - UNMIRRORED_SCHEMAS):
            for name in store.folders(schema):
                uri = store.uri(schema, name)
                options = storage_options_for(uri)
                if not DeltaTable.is_deltatable(uri, storage_options=options):
                    continue
                con.register(
                    "source", DeltaTable(uri, storage_options=options).to_pyarrow_dataset()
                )
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                con.execute(f"CREATE OR REPLACE TABLE {schema}.{name} AS FROM source")
                con.unregister("source")
                counts[f"{schema}.{name}"] = con.sql(
                    f"SELECT count(*) FROM {schema}.{name}"
                ).fetchall()[0][0]
        _refresh_snapshot(con, database)
    return counts


def _refresh_snapshot(con: duckdb.DuckDBPyConnection, database: Path) -> None:
    """Copy the committed database into a temporary file beside it, then rename it over the
    snapshot: readers see the old snapshot or the new one, never a half-written file."""
    target = snapshot_path(database)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove(tmp)
    catalog = con.sql("SELECT current_database()").fetchall()[0][0]
    try:
        con.execute(f"ATTACH '{tmp}' AS {_SNAPSHOT_ALIAS}")
        try:
            con.execute(f'COPY FROM DATABASE "{catalog}" TO {_SNAPSHOT_ALIAS}')
        finally:
            con.execute(f"DETACH {_SNAPSHOT_ALIAS}")  # checkpoints: no WAL is left behind
        os.replace(tmp, target)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def _retry_locked(fn: Callable[[], T], database: Path, max_wait_seconds: float) -> T:
    """Run `fn`, retrying with exponential backoff while DuckDB reports that another process
    holds the file; give up after `max_wait_seconds` with an error naming file and holder."""
    started = time.monotonic()
    delay = _FIRST_DELAY
    while True:
        try:
            return fn()
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc):
                raise
            waited = time.monotonic() - started
            if waited + delay > max_wait_seconds:
                raise WarehouseLockedError(
                    f"the warehouse {database} is held open by another process; gave up "
                    f"after {waited:.1f}s. DuckDB says: {exc}. Analysts must open the "
                    f"snapshot ({snapshot_path(database)}), never the live file."
                ) from exc
            log.warning(
                "warehouse %s is held open by another process (an analyst on the live "
                "file?); retrying in %.1fs. DuckDB says: %s",
                database,
                delay,
                exc,
            )
            time.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
