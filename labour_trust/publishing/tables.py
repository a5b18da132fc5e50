"""What each published table is, for disclosure control: one TableDescription per view.

A published table is its trust dataset less what cannot be protected by additivity:

- `sector_view` and `skills_outcomes` drop their 'Total' rows along sector / subject / level:
  a person with jobs (or achievements) in two sections counts in both but once in the total,
  so those totals are not sums, and published beside their parts they would let anyone
  difference a suppressed cell. Area totals (ITL1, UK) stay: residence is one per person.
- `claimant_outcomes` has three breakdowns (age band, sex, disability) that each add up to
  the 'all' row: it is protected as three views that share the 'all' rows, and a cell is
  suppressed in the published table if any view suppresses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.disclosure import (
    ColumnGroup,
    Derived,
    Dimension,
    Magnitude,
    TableDescription,
    uk_area_hierarchy,
)
from labour_trust.feeds.vocabulary import AGE_BANDS, SEXES
from labour_trust.reference import UK_CODE, itl1_of
from labour_trust.trust.datasets import TRUST_DATASETS
from labour_trust.trust.local_labour_market import REGIME_COLUMNS, SIZE_COLUMNS

AREA_LABELS = ("area_name", "area_level", "parent_code")
MONTH = Dimension("month")


def region_hierarchy() -> dict[str, str]:
    """ITL1 → UK, for tables published at region level."""
    return {code: UK_CODE for code in set(itl1_of().values())}


def _contributors_of(name: str, columns: tuple[str, ...]) -> dict[str, str]:
    dataset = TRUST_DATASETS[name]
    return {
        c: dataset.contributor_columns[c] for c in columns if dataset.contributor_columns[c] != c
    }


@dataclass(frozen=True)
class PublishedView:
    """A subset of a published table's rows, protected on its own."""

    description: TableDescription
    rows: Callable[[pa.Table], pa.Array] | None = None  # row filter; None = every row


@dataclass(frozen=True)
class PublishedTable:
    name: str
    views: tuple[PublishedView, ...]
    drop_rows: Callable[[pa.Table], pa.Array] | None = None  # rows never published
    region_column: str = "parent_code"
    notes: tuple[str, ...] = field(default_factory=tuple)


def _local_labour_market() -> PublishedTable:
    name = "local_labour_market"
    counts = (
        "uc_claimants",
        *REGIME_COLUMNS.values(),
        "uc_claimants_in_paye",
        "paye_employees",
        "fe_starts",
        "fe_achievements",
        "enterprises",
        *SIZE_COLUMNS.values(),
    )
    description = TableDescription(
        name=name,
        dimensions=(MONTH, Dimension("area_code", parent=uk_area_hierarchy())),
        labels=AREA_LABELS,
        counts=counts,
        column_groups=(
            ColumnGroup.total("regime", "uc_claimants", REGIME_COLUMNS.values(), attribute=True),
            ColumnGroup.total("size", "enterprises", SIZE_COLUMNS.values(), attribute=False),
        ),
        magnitudes=(
            Magnitude("median_pay", statistic="median", dominance=False),
            Magnitude("mean_pay", statistic="mean"),
        ),
        contributor_counts=_contributors_of(
            name, ("median_pay", "mean_pay", "fe_starts", "fe_achievements")
        ),
    )
    return PublishedTable(name, (PublishedView(description),))


def _sector_view() -> PublishedTable:
    name = "sector_view"
    description = TableDescription(
        name=name,
        dimensions=(
            MONTH,
            Dimension("area_code", parent=region_hierarchy()),
            Dimension("sic_section"),
        ),
        labels=AREA_LABELS,
        counts=("employees", "new_hires", "hires_from_uc", "enterprises"),
        magnitudes=(
            Magnitude("median_pay", statistic="median", dominance=False),
            Magnitude("enterprise_employment", statistic="sum", unit="value"),
        ),
        contributor_counts=_contributors_of(name, ("median_pay", "enterprise_employment")),
    )
    return PublishedTable(
        name,
        (PublishedView(description),),
        drop_rows=lambda t: pc.equal(t["sic_section"], "Total"),
    )


def _claimant_outcomes() -> PublishedTable:
    name = "claimant_outcomes"

    def view(group: str) -> PublishedView:
        description = TableDescription(
            name=f"{name} by {group}",
            dimensions=(
                MONTH,
                Dimension("area_code", parent=uk_area_hierarchy()),
                # group_type is a label here: within a view the values are unique, and
                # the 'all' row must be the parent of the breakdown's rows.
                Dimension("group_value", parent=_group_parents(group)),
            ),
            labels=(*AREA_LABELS, "group_type", "provisional"),
            counts=("cohort", "employed_m3", "employed_m6"),
            derived=(
                Derived("share_employed_m3", ("employed_m3", "cohort")),
                Derived("share_employed_m6", ("employed_m6", "cohort")),
            ),
            magnitudes=(Magnitude("median_pay_m6", statistic="median", dominance=False),),
            contributor_counts=_contributors_of(name, ("median_pay_m6",)),
        )
        return PublishedView(
            description, rows=lambda t: pc.is_in(t["group_type"], pa.array([group, "all"]))
        )

    return PublishedTable(name, tuple(view(g) for g in ("age_band", "sex", "disability")))


def _group_parents(group: str) -> dict[str, str]:
    values = {
        "age_band": AGE_BANDS,
        "sex": SEXES,
        "disability": ("disabled", "not disabled"),
    }[group]
    return {value: "all" for value in values}


def _skills_outcomes() -> PublishedTable:
    name = "skills_outcomes"
    description = TableDescription(
        name=name,
        dimensions=(
            MONTH,
            Dimension("area_code", parent=region_hierarchy()),
            Dimension("ssa_tier1"),
            Dimension("level"),
        ),
        labels=(*AREA_LABELS, "provisional"),
        counts=("achievers", "employed_m6"),
        derived=(Derived("share_employed_m6", ("employed_m6", "achievers")),),
        magnitudes=(Magnitude("median_pay_m6", statistic="median", dominance=False),),
        contributor_counts=_contributors_of(name, ("median_pay_m6",)),
    )
    return PublishedTable(
        name,
        (PublishedView(description),),
        drop_rows=lambda t: pc.or_(
            pc.equal(t["ssa_tier1"], "Total"), pc.equal(t["level"], "Total")
        ),
    )


PUBLISHED: dict[str, PublishedTable] = {
    t.name: t
    for t in (_local_labour_market(), _sector_view(), _claimant_outcomes(), _skills_outcomes())
}
