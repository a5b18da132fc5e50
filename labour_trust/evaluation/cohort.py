"""The analysis sample of one cohort month: DuckDB SQL over Arrow scans of the feeds.

One row per eligible person in month m — treated or in the comparison pool — with their
covariates (from the UC share in m and the look-back window of UC and PAYE) and outcomes at
each horizon. Never pandas here: at national scale the pool is millions of claimants.
The connection must have views `uc_claimants`, `paye_rti`, `fe_learners` (any months; the
SQL filters by month, which DuckDB pushes down to the partition) and `lad_lookup`.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from labour_trust.evaluation.spec import EvaluationSpec
from labour_trust.months import shift_month


@dataclass(frozen=True)
class Sample:
    """The rows (no tokens unless asked) and which horizons have their outcome months."""

    table: pa.Table
    available: dict[int, bool]

    @property
    def treated(self) -> int:
        return int(pa.compute.sum(self.table["treated"]).as_py() or 0)

    @property
    def pool(self) -> int:
        return self.table.num_rows - self.treated


def _list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _treated_sql(spec: EvaluationSpec) -> tuple[str, str]:
    """(CTE `treated` of person tokens, condition excluding a person from the pool)."""
    fe = spec.treated.fe_achievement
    if fe is not None:
        filters = [
            f"{column} IN ({_list(values)})"
            for column, values in (
                ("level", fe.levels),
                ("programme", fe.programmes),
                ("ssa_tier1", fe.ssa_tier1),
            )
            if values
        ]
        where = "".join(f" AND {f}" for f in filters)
        cte = f"""SELECT DISTINCT person_token FROM fe_learners
            WHERE month = $m AND outcome = 'achievement'{where}"""
        return cte, "FALSE"
    start = spec.treated.uc_regime_start
    assert start is not None
    regime = _list([start.regime])
    cte = f"""SELECT u.person_token FROM uc_m u
        ANTI JOIN (SELECT person_token FROM uc_claimants
                   WHERE month = $m_prev AND conditionality_regime = {regime}) p
        USING (person_token)
        WHERE u.conditionality_regime = {regime}"""
    # Continuing in the regime is neither treated in m nor a fair comparison.
    return cte, f"e.conditionality_regime = {regime}"


def sample_sql(spec: EvaluationSpec, *, keep_tokens: bool = False) -> str:
    treated_cte, not_comparison = _treated_sql(spec)
    paye_absent = (
        "AND u.person_token NOT IN (SELECT person_token FROM paye_rti WHERE month = $m)"
        if spec.comparison.paye_absent
        else ""
    )
    prior = spec.comparison.prior_participation_months
    outcome_columns = []
    outcome_joins = []
    for h in spec.horizons:
        outcome_columns += [
            f"p{h}.person_token IS NOT NULL AS employed_h{h}",
            f"coalesce(p{h}.pay, 0.0) AS monthly_pay_h{h}",
            f"c{h}.person_token IS NOT NULL AS on_uc_h{h}",
        ]
        outcome_joins += [
            f"LEFT JOIN paye_out p{h} ON p{h}.person_token = s.person_token "
            f"AND p{h}.month = $m_plus_{h}",
            f"LEFT JOIN uc_out c{h} ON c{h}.person_token = s.person_token "
            f"AND c{h}.month = $m_plus_{h}",
        ]
    horizon_months = ", ".join(f"$m_plus_{h}" for h in spec.horizons)
    token = "s.person_token, " if keep_tokens else ""
    return f"""
WITH
uc_m AS (
    -- One row per claimant (the share's key is the person; min() guards a bad month).
    SELECT person_token, min(lad_code) AS lad_code, min(age_band) AS age_band,
           min(sex) AS sex, bool_or(disability) AS disability,
           min(conditionality_regime) AS conditionality_regime,
           min(duration_band) AS duration_band
    FROM uc_claimants WHERE month = $m GROUP BY person_token
),
treated AS ({treated_cte}),
achieved_m AS (
    SELECT DISTINCT person_token FROM fe_learners WHERE month = $m AND outcome = 'achievement'
),
prior_participants AS (
    SELECT DISTINCT person_token FROM fe_learners
    WHERE {"FALSE" if prior == 0 else "month >= $m_prior AND month < $m"}
      AND outcome = 'achievement'
),
eligible AS (
    SELECT u.* FROM uc_m u
    ANTI JOIN prior_participants pp USING (person_token)
    WHERE u.conditionality_regime IN ({_list(spec.comparison.uc_regimes)}) {paye_absent}
),
sample AS (
    SELECT e.*, t.person_token IS NOT NULL AS treated
    FROM eligible e
    LEFT JOIN treated t USING (person_token)
    LEFT JOIN achieved_m a USING (person_token)
    WHERE t.person_token IS NOT NULL OR (a.person_token IS NULL AND NOT ({not_comparison}))
),
uc_prior AS (
    SELECT person_token, count(DISTINCT month) AS months FROM uc_claimants
    SEMI JOIN sample USING (person_token)
    WHERE month >= $m_back AND month < $m GROUP BY person_token
),
paye_prior AS (
    SELECT person_token, count(DISTINCT month) AS months, sum(gross_pay_month) AS pay
    FROM paye_rti SEMI JOIN sample USING (person_token)
    WHERE month >= $m_back AND month < $m GROUP BY person_token
),
paye_out AS (
    SELECT person_token, month, sum(gross_pay_month) AS pay
    FROM paye_rti SEMI JOIN sample USING (person_token)
    WHERE month IN ({horizon_months}) GROUP BY person_token, month
),
uc_out AS (
    SELECT DISTINCT person_token, month FROM uc_claimants
    SEMI JOIN sample USING (person_token)
    WHERE month IN ({horizon_months})
)
SELECT {token}s.treated,
    s.age_band, s.sex, s.disability, coalesce(l.itl1_code, 'unknown') AS region,
    s.conditionality_regime AS regime, s.duration_band,
    coalesce(up.months, 0)::DOUBLE AS uc_months_prior,
    coalesce(pp.months, 0)::DOUBLE AS employed_months_prior,
    coalesce(pp.pay, 0.0) / {spec.lookback_months} AS pay_prior,
    {", ".join(outcome_columns)}
FROM sample s
LEFT JOIN lad_lookup l ON l.lad_code = s.lad_code
LEFT JOIN uc_prior up ON up.person_token = s.person_token
LEFT JOIN paye_prior pp ON pp.person_token = s.person_token
{" ".join(outcome_joins)}
ORDER BY s.person_token
"""


def month_params(spec: EvaluationSpec, month: str) -> dict[str, str]:
    params = {
        "m": month,
        "m_prev": shift_month(month, -1),
        "m_back": shift_month(month, -spec.lookback_months),
        "m_prior": shift_month(month, -max(spec.comparison.prior_participation_months, 1)),
    }
    params |= {f"m_plus_{h}": shift_month(month, h) for h in spec.horizons}
    return params


def build_sample(
    con: duckdb.DuckDBPyConnection, spec: EvaluationSpec, month: str, *, keep_tokens: bool = False
) -> Sample:
    """The analysis sample of cohort month ``month`` (ordered by token, so deterministic)."""
    params = month_params(spec, month)
    sql = sample_sql(spec, keep_tokens=keep_tokens)
    # DuckDB rejects unused named parameters: pass only those the SQL names.
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    table = con.sql(sql, params=used).to_arrow_table()
    available = {}
    for h in spec.horizons:
        target = shift_month(month, h)
        both = con.execute(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM paye_rti WHERE month = $t LIMIT 1))"
            " * (SELECT count(*) FROM (SELECT 1 FROM uc_claimants WHERE month = $t LIMIT 1))",
            {"t": target},
        ).fetchone()
        available[h] = bool(both and both[0])
    return Sample(table, available)


def connect(feeds: dict[str, object], *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB (bounded, spilling) with ``feeds`` (view name → Arrow dataset or
    table; tokens read as integers, see ``feeds/scan.py``) and the LAD lookup registered, as
    `build_sample` expects."""
    from labour_trust.feeds.scan import bounded_connection, register_feed
    from labour_trust.reference import lad_table

    con = bounded_connection()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    for view, data in feeds.items():
        register_feed(con, view, data)
    con.register("lad_lookup", lad_table())
    return con


def connect_shares(
    root: str, storage_options: dict[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """The latest versions of the UC, PAYE and FE shares under ``root``, read in place
    (the CLI, the bench and tests; the Dagster asset reads pinned versions instead)."""
    from deltalake import DeltaTable

    from labour_trust.feeds.departments import FE_LEARNERS, PAYE_RTI, UC_CLAIMANTS
    from labour_trust.shares.storage import share_uri

    return connect(
        {
            spec.table: DeltaTable(
                share_uri(root, spec.department, spec.table), storage_options=storage_options
            ).to_pyarrow_dataset()
            for spec in (UC_CLAIMANTS, PAYE_RTI, FE_LEARNERS)
        }
    )
