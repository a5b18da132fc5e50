"""Stages: intermediate relations that more than one dataset computes from the same feed month.

A dataset's SQL includes the stages it uses as CTEs, so it runs on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labour_trust.months import month_params

if TYPE_CHECKING:
    import duckdb


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
}

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
    """Each stage not inlined as a temporary table of ``con``, for several queries of one
    month to read (a dataset and its contributor summary): computed once, not per query."""
    done: set[str] = set()
    for i, name in enumerate(stages):
        if name in INLINED:
            continue
        earlier = [_cte(s) for s in stages[:i] if s not in done]
        sql = ("WITH " + ",\n".join(earlier) + "\n" if earlier else "") + STAGES[name]
        con.execute(f"CREATE TEMP TABLE {name} AS {sql}", month_params(sql, month))
        done.add(name)
    return frozenset(done)
