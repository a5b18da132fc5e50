"""The trust datasets: registry and the functions that compute them on a DuckDB connection.

The connection must hold views named after the feed tables (``uc_claimants``,
``paye_rti``, ``fe_learners``, ``business_population``: all columns of the share
schemas, at least the months in ``dataset.month_offsets``) and ``lad_lookup``
(lad_code, lad_name, itl1_code, itl1_name). The SQL filters on month itself; months beyond
the data may be absent, and the look-ahead datasets then mark their rows provisional.

Conventions shared by the four datasets (the column descriptions repeat them):

- One row per cell, the full grid: areas (and sections, groups…) without data show zero
  counts and null medians. No token column in any output.
- Areas: every person is placed in one LAD (PAYE: the smallest LAD code should a person's
  job rows disagree; FE achievers likewise), so ITL1 and UK counts are exactly the sums of
  their LADs; medians and means are recomputed over the persons of the larger area.
- Medians are interpolated (``quantile_cont(x, 0.5)``, the mean of the two middle values
  for an even count, as ``numpy.median``). Pay sums are exact in pence (DECIMAL), so a
  re-run gives bit-identical output.
- Person counts are their own contributor counts (each person counted once per cell);
  event counts (FE starts/achievements) and magnitudes carry ``<col>_contributors``;
  ``dataset.contributor_columns`` maps every count and magnitude to its contributors, and
  :func:`contributors` / :func:`contributor_summary` give contributor-level values for the
  dominance rules.
- Margins labelled 'Total' (SIC section, subject, level) count distinct persons: a person
  in two sections counts in each and once in Total, so Total ≤ the sum of the sections.
  Areas and claimant groups ('all' = sum of the age bands, of the sexes…) are additive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

from labour_trust.feeds.departments import FEEDS
from labour_trust.months import month_params
from labour_trust.trust import claimant_outcomes, local_labour_market, sector_view, skills_outcomes
from labour_trust.trust.spec import Column, TrustDataset
from labour_trust.trust.stages import INLINED, STAGES, stage_sql

if TYPE_CHECKING:  # the registry alone (dataset names, schemas) needs no DuckDB
    import duckdb

__all__ = [
    "LAD_LOOKUP_VIEW",
    "TRUST_DATASETS",
    "VIEW_NAMES",
    "Column",
    "TrustDataset",
    "compute",
    "compute_many",
    "contributor_summary",
    "contributors",
]

TRUST_DATASETS: dict[str, TrustDataset] = {
    d.name: d
    for d in (
        local_labour_market.DATASET,
        sector_view.DATASET,
        claimant_outcomes.DATASET,
        skills_outcomes.DATASET,
    )
}

# Share name → the view name the dataset SQL reads it under.
VIEW_NAMES: dict[str, str] = {f.name: f.table for f in FEEDS}
LAD_LOOKUP_VIEW = "lad_lookup"


def _dataset(dataset: TrustDataset | str) -> TrustDataset:
    return TRUST_DATASETS[dataset] if isinstance(dataset, str) else dataset


def _run(con: duckdb.DuckDBPyConnection, sql: str, month: str) -> pa.Table:
    return con.sql(sql, params=month_params(sql, month)).to_arrow_table()


def compute(con: duckdb.DuckDBPyConnection, dataset: TrustDataset | str, month: str) -> pa.Table:
    """The dataset's rows for partition month ``month`` ('YYYY-MM'), in its declared schema."""
    ds = _dataset(dataset)
    return _run(con, ds.sql, month).cast(ds.schema)


def compute_many(
    con: duckdb.DuckDBPyConnection, datasets: Iterable[TrustDataset | str], month: str
) -> dict[str, pa.Table]:
    """Several datasets for one month on one connection. Stages two or more of them share
    (the PAYE month m per-person aggregate, for local_labour_market and sector_view) are
    computed once into temporary tables, saving a scan and the largest aggregation of the
    largest feed; results are identical to :func:`compute`."""
    selected = [_dataset(d) for d in datasets]
    uses = Counter(stage for ds in selected for stage in ds.stages)
    shared = [stage for stage in STAGES if uses[stage] > 1 and stage not in INLINED]
    done: frozenset[str] = frozenset()
    try:
        for stage in shared:
            sql = stage_sql(stage, done)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS {sql}", month_params(sql, month))
            done |= {stage}
        return {ds.name: _run(con, ds.sql_given(done), month).cast(ds.schema) for ds in selected}
    finally:
        for stage in done:
            con.execute(f"DROP TABLE IF EXISTS temp.{stage}")


def contributors(
    con: duckdb.DuckDBPyConnection, dataset: TrustDataset | str, month: str
) -> dict[str, pa.Table]:
    """Magnitude column → one row per (cell, contributor): the dataset's dimension columns
    and ``value`` (the contributor's pay, or an enterprise's employment), for dominance
    rules. A contributor to a LAD cell appears again under its region and the UK.

    At national scale these tables are large (a row per employed person per area level);
    :func:`contributor_summary` aggregates them in DuckDB instead.
    """
    ds = _dataset(dataset)
    return {col: _run(con, sql, month) for col, sql in ds.contributor_sql.items()}


def contributor_summary(
    con: duckdb.DuckDBPyConnection, dataset: TrustDataset | str, month: str, top: int = 2
) -> dict[str, pa.Table]:
    """Magnitude column → one row per non-empty cell: dimension columns, ``contributors``,
    ``total`` (sum of values) and ``top_values`` (the ``top`` largest values, descending):
    all that the p% and (n, k) dominance rules need, without shipping contributor rows.
    """
    ds = _dataset(dataset)
    dims = ", ".join(ds.dimensions)
    out = {}
    for col, sql in ds.contributor_sql.items():
        summary = f"""
            SELECT {dims}, count(*) AS contributors,
                   CAST(sum(CAST(value AS DECIMAL(38, 2))) AS DOUBLE) AS total,
                   max(value, {int(top)}) AS top_values
            FROM ({sql}) AS c
            GROUP BY {dims}
            ORDER BY {dims}
        """
        out[col] = _run(con, summary, month)
    return out
