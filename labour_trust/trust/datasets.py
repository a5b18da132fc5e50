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
  ``dataset.contributor_sql`` gives contributor-level values for the dominance rules.
- Margins labelled 'Total' (SIC section, subject, level) count distinct persons: a person
  in two sections counts in each and once in Total, so Total ≤ the sum of the sections.
  Areas and claimant groups ('all' = sum of the age bands, of the sexes…) are additive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from labour_trust.feeds.departments import FEEDS
from labour_trust.months import month_params
from labour_trust.trust import claimant_outcomes, local_labour_market, sector_view, skills_outcomes
from labour_trust.trust.spec import Column, TrustDataset

if TYPE_CHECKING:  # the registry alone (dataset names, schemas) needs no DuckDB
    import duckdb

__all__ = [
    "LAD_LOOKUP_VIEW",
    "TRUST_DATASETS",
    "VIEW_NAMES",
    "Column",
    "TrustDataset",
    "compute",
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


def compute(
    con: duckdb.DuckDBPyConnection,
    dataset: TrustDataset | str,
    month: str,
    tables: frozenset[str] = frozenset(),
) -> pa.Table:
    """The dataset's rows for partition month ``month`` ('YYYY-MM'), in its declared schema.
    ``tables``: stages already tables of ``con`` (``stages.materialise_stages``)."""
    ds = _dataset(dataset)
    return _run(con, ds.sql_over(tables), month).cast(ds.schema)
