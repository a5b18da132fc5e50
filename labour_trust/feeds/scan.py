"""How the trust's steps read feeds in DuckDB: bounded memory, compact tokens.

- ``bounded_connection``: an in-memory DuckDB that may use at most
  ``LABOUR_TRUST_DUCKDB_MEMORY`` (default 3GB) and spills to a temporary directory beyond
  it, so that a national month fits a run's memory target beside Python and Arrow.
- ``register_feed``: a feed as the view its SQL reads, each 64-hex token read as an integer
  of its first 31 hex digits (124 bits). Joins and distinct counts over tens of millions of
  persons then hash 16 bytes instead of 64-character strings: about half the memory.
  Exact in practice: two HMAC-SHA256 tokens agree on 124 bits by chance with probability
  2^-124 a pair. The contract has checked the format; the integers sort as the tokens do;
  and 124 bits fit Arrow's decimal128(38, 0), so a query that returns one returns it whole
  (DuckDB exports a 128-bit integer as that decimal: 128 bits would wrap).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref

import duckdb
import pyarrow as pa
import pyarrow.dataset as pds

from labour_trust.feeds.departments import FEEDS

MEMORY_ENV = "LABOUR_TRUST_DUCKDB_MEMORY"
DEFAULT_MEMORY = "3GB"
TOKEN_HEX_DIGITS = 31
_TOKENS = {f.table: tuple(c for c in f.token_columns if c.endswith("_token")) for f in FEEDS}


def bounded_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [os.environ.get(MEMORY_ENV, DEFAULT_MEMORY)])
    # A spill folder of its own (two databases in one folder would share file names),
    # removed with the connection.
    spill = tempfile.mkdtemp(prefix="labour-trust-duckdb-")
    weakref.finalize(con, shutil.rmtree, spill, ignore_errors=True)
    con.execute("SET temp_directory = ?", [spill])
    con.execute("SET enable_progress_bar = false")
    return con


def register_feed(con: duckdb.DuckDBPyConnection, view: str, data: pa.Table | pds.Dataset) -> None:
    """``data`` (an Arrow dataset or table of the feed table ``view``) as the view ``view``."""
    tokens = [c for c in _TOKENS.get(view, ()) if c in data.schema.names]
    if not tokens:
        con.register(view, data)
        return
    con.register(f"{view}_files", data)
    compact = ", ".join(f"('0x' || left({c}, {TOKEN_HEX_DIGITS}))::UHUGEINT AS {c}" for c in tokens)
    # Temporary: the connection's own, as its registration is (a cursor of a database
    # shared for stage tables registers its own months under the same name).
    con.execute(f"CREATE TEMP VIEW {view} AS SELECT * REPLACE ({compact}) FROM {view}_files")
