"""TrustDataset: one derived dataset, its SQL, and the metadata the catalog and SDC need.

A dataset's SQL runs on a DuckDB connection holding views named after the feed tables
(``uc_claimants``, ``paye_rti``, ``fe_learners``, ``business_population``) plus
``lad_lookup`` (lad_code, lad_name, itl1_code, itl1_name). Month parameters are named
``$month``, ``$month_minus_1``, ``$month_plus_3``… (see :mod:`labour_trust.months`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from labour_trust.trust.stages import with_clause

ColumnKind = Literal[
    "dimension",  # part of the cell key
    "attribute",  # describes a dimension value (area name, level, parent)
    "count",  # a frequency: SDC threshold rules apply
    "magnitude",  # a pay or employment figure: contributor and dominance rules apply
    "share",  # a ratio of two counts in the same row
    "contributors",  # the number of contributors behind another column
    "flag",
]


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    kind: ColumnKind
    # Feed columns this column derives from: (share name, feed column).
    lineage: tuple[tuple[str, str], ...] = ()
    # For counts and magnitudes: the column holding the number of contributors (persons or
    # enterprises) behind the figure. A count of persons is its own contributor count.
    contributors: str | None = None
    nullable: bool = False


@dataclass(frozen=True)
class TrustDataset:
    name: str
    description: str
    ctes: str  # the dataset's own CTE definitions (comma-separated, no WITH)
    select: str  # the final SELECT over them
    # Feed share name → month offsets the SQL reads, e.g. {"hmrc/paye_rti": (3, 6)}.
    month_offsets: dict[str, tuple[int, ...]]
    column_specs: tuple[Column, ...]
    dimensions: tuple[str, ...]
    # Magnitude column → SELECT (over the same CTEs) returning one row per (cell,
    # contributor): the dimension columns plus ``value``, for the dominance rules. Only
    # magnitudes under those rules (sums, means); a median relies on its contributor count.
    contributor_selects: dict[str, str] = field(default_factory=dict)
    # Dimension → the value that labels its margin ('Total', the UK code…).
    totals: dict[str, str] = field(default_factory=dict)
    # Shared stages (see labour_trust.trust.stages) the CTEs read, in dependency order.
    stages: tuple[str, ...] = ()

    @property
    def sql(self) -> str:
        """The dataset's query, self-contained; month parameters ``$month``… ."""
        return self.sql_over()

    @property
    def contributor_sql(self) -> dict[str, str]:
        """Magnitude column → self-contained query for its contributor rows."""
        return self.contributor_sql_over()

    def sql_over(self, tables: frozenset[str] = frozenset()) -> str:
        """The query on a connection where the stages ``tables`` are already tables."""
        return f"{with_clause(self.stages, self.ctes, tables)}\n{self.select}"

    def contributor_sql_over(self, tables: frozenset[str] = frozenset()) -> dict[str, str]:
        with_ = with_clause(self.stages, self.ctes, tables)
        return {col: f"{with_}\n{select}" for col, select in self.contributor_selects.items()}

    @property
    def columns(self) -> dict[str, str]:
        """Column → description, in output order."""
        return {c.name: c.description for c in self.column_specs}

    @property
    def lineage(self) -> dict[str, list[tuple[str, str]]]:
        """Column → [(feed share name, feed column)], for Dagster column lineage."""
        return {c.name: list(c.lineage) for c in self.column_specs if c.lineage}

    @property
    def schema(self) -> pa.Schema:
        """Output schema. Every field is nullable in Arrow terms, as after a round trip
        through the DuckDB warehouse; ``Column.nullable`` says which may hold nulls."""
        return pa.schema(
            [
                pa.field(c.name, c.type, metadata={"description": c.description})
                for c in self.column_specs
            ]
        )

    @property
    def feeds(self) -> tuple[str, ...]:
        """Share names this dataset reads."""
        return tuple(self.month_offsets)

    @property
    def counts(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.column_specs if c.kind == "count")

    @property
    def magnitudes(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.column_specs if c.kind == "magnitude")

    @property
    def contributor_columns(self) -> dict[str, str]:
        """Count or magnitude column → column with its number of contributors."""
        return {c.name: c.contributors for c in self.column_specs if c.contributors}

    def column(self, name: str) -> Column:
        for c in self.column_specs:
            if c.name == name:
                return c
        raise KeyError(name)
