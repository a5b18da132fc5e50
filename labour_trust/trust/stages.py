"""Stages: intermediate relations that more than one dataset computes from the same feed month.

A dataset's SQL includes the stages it uses as CTEs, so it runs on its own.
"""

from __future__ import annotations

import hashlib

import duckdb

from labour_trust.feeds.scan import bounded_connection
from labour_trust.months import month_params


def money_sum(expr: str) -> str:
    """Sum of pay, exact in pence (DECIMAL): a floating-point sum depends on the order
    rows arrive in, so parallel runs would differ in the last digits."""
    return f"CAST(sum(CAST({expr} AS DECIMAL(18, 2))) AS DECIMAL(18, 2))"


# Bit i of a bit set = the i-th SIC section (A = 0): per-person section membership without
# a second large aggregation keyed by (person, section).
SECTION_BIT = "(1::UINTEGER << (ascii(sic_section) - ascii('A')))"

_NEW_HIRE = (
    "start_date >= CAST($month || '-01' AS DATE) "
    "AND start_date < CAST($month || '-01' AS DATE) + INTERVAL 1 MONTH"
)

# Name → SELECT, in dependency order.
STAGES: dict[str, str] = {
    # PAYE jobs in month m; new_hire: the job's start date falls in m.
    "paye_jobs": f"""
    SELECT person_token, lad_code, sic_section, gross_pay_month AS pay,
           ({_NEW_HIRE}) AS new_hire
    FROM paye_rti
    WHERE month = $month""",
    # One row per person employed in month m: pay summed over their jobs (DECIMAL pence);
    # residence resolved once — the smallest LAD code should their job rows disagree
    # (max_lad_code tells) — so that every person counts in exactly one LAD and areas add
    # up; the sections they work in, and were hired into this month, as bit sets.
    "paye_person": f"""
    SELECT person_token, min(lad_code) AS lad_code, max(lad_code) AS max_lad_code,
           {money_sum("pay")} AS pay,
           bit_or({SECTION_BIT}) AS sections,
           bit_or(CASE WHEN new_hire THEN {SECTION_BIT} ELSE 0::UINTEGER END) AS hired_into
    FROM paye_jobs
    GROUP BY person_token""",
    # The rare persons whose job rows disagree on residence, and the LAD they count in:
    # their jobs move there (a tiny table, so a job-level join with it is cheap).
    "paye_moved": """
    SELECT person_token, lad_code FROM paye_person WHERE lad_code <> max_lad_code""",
}

# The feed views the stages read, all at month m: a stage table is valid for as long as
# their pinned versions are.
STAGE_FEEDS = ("paye_rti",)

# Stages DuckDB should inline rather than materialise when several CTEs read them: copying
# tens of millions of job rows (64-character tokens) costs more than scanning them again.
INLINED: frozenset[str] = frozenset({"paye_jobs"})


def _cte(name: str) -> str:
    hint = "NOT MATERIALIZED " if name in INLINED else ""
    return f"{name} AS {hint}({STAGES[name]}\n)"


def with_clause(stages: tuple[str, ...], ctes: str, tables: frozenset[str] = frozenset()) -> str:
    """``WITH`` the stages (less those already ``tables`` of the connection), then the
    dataset's own CTEs."""
    parts = [_cte(name) for name in stages if name not in tables]
    return "WITH " + ",\n".join([*parts, ctes.strip()])


def materialise_stages(
    con: duckdb.DuckDBPyConnection, stages: tuple[str, ...], month: str
) -> frozenset[str]:
    """Each stage not inlined as a table of ``con``'s database, for several queries of one
    month to read (a dataset and its contributor summary, and the other datasets of the run
    through ``SharedStages``): computed once, not per query. A stage already there is
    kept: a shared database holds the stages of one month's inputs only."""
    there = {row[0] for row in con.execute(_TABLES).fetchall()}
    done: set[str] = set()
    for i, name in enumerate(stages):
        if name in INLINED:
            continue
        if name not in there:
            earlier = [_cte(s) for s in stages[:i] if s not in done]
            sql = ("WITH " + ",\n".join(earlier) + "\n" if earlier else "") + STAGES[name]
            con.execute(f"CREATE TABLE {name} AS {sql}", month_params(sql, month))
        done.add(name)
    return frozenset(done)


_TABLES = "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"


class SharedStages:
    """The stage tables of one run, shared by the datasets that read them.

    In one process (the in-process executor runs a month's steps one after another),
    ``local_labour_market`` and ``sector_view`` would each group 30 M national PAYE jobs by
    person; here the first computes ``paye_person`` and the other reads it. Datasets get
    cursors of one bounded database (their feed views stay their own), opened under a key
    naming what the stages are computed from (the month and the pinned feed versions):
    another key drops the database first, so one month's stages are held at most, and it
    is dropped as soon as no dataset still to run in the run reads it."""

    def __init__(self) -> None:
        self._database: duckdb.DuckDBPyConnection | None = None
        self._key: str | None = None
        self._readers: set[str] = set()

    def database(self, key: str, readers: set[str]) -> duckdb.DuckDBPyConnection:
        """The stages' database for ``key`` (a cursor of it is a dataset's connection);
        ``readers``: the datasets of the run that read it, as the first to open it says."""
        database = self._database
        if database is None or key != self._key:
            self.close()
            database = self._database = bounded_connection()
            self._key, self._readers = key, set(readers)
        return database

    def done(self, reader: str) -> None:
        self._readers.discard(reader)
        if not self._readers:
            self.close()

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
        self._database, self._key, self._readers = None, None, set()


def stage_key(month: str, versions: dict[str, object]) -> str:
    """What a month's stage tables are computed from: the stage SQL, the month and the
    pinned versions of the feeds they read (``STAGE_FEEDS``)."""
    text = "\n".join([month, *STAGES.values(), *(f"{k}={versions[k]}" for k in sorted(versions))])
    return hashlib.sha256(text.encode()).hexdigest()
