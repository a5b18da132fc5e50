"""What each published table is, for disclosure control: one TableDescription per view.

A published table is its trust dataset less what cannot be protected by additivity:

- `sector_view` and `skills_outcomes` drop their 'Total' rows along sector / subject / level:
  a person with jobs (or achievements) in two sections counts in both but once in the total,
  so those totals are not sums, and published beside their parts they would let anyone
  difference a suppressed cell. Area totals (ITL1, UK) stay: residence is one per person.
- `claimant_outcomes` has three breakdowns (age band, sex, disability) that each add up to
  the 'all' row: three views whose 'all' rows are the same cells. `protect_month`
  (publishing/joint.py) protects them as one problem, so the shared cells have one status;
  the per-table `protect` merges separately protected views (a cell is suppressed if any
  view suppresses it).

Relations an attacker knows between cells are declared next to each table (`relations`):
equalities across tables (the same people counted twice) and subset inequalities. Every
published count column must be in a column group, a relation, or `unrelated` with the
reason it relates to nothing else (`undeclared_counts`; a test enforces it), so a new
column cannot be published without saying how it relates to the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.disclosure import (
    ColumnGroup,
    Derived,
    Dimension,
    DisclosurePolicy,
    Magnitude,
    TableDescription,
    uk_area_hierarchy,
)
from labour_trust.disclosure.description import CellRef, Relation, within
from labour_trust.feeds.vocabulary import AGE_BANDS, SEARCHING_FOR_WORK, SEXES
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
    # What an attacker knows beyond each view's additivity (see the module docstring).
    relations: tuple[Relation, ...] = ()
    unrelated: Mapping[str, str] = field(default_factory=dict)  # count column → why

    def publication_rule(self, column: str, policy: DisclosurePolicy) -> str | None:
        """How a published column is disclosure-controlled, in words (None: a label)."""
        description = self.views[0].description
        if column in self.counts:
            return (
                f"Rounded to the nearest {policy.count_rounding_base}; c where fewer than "
                f"{policy.threshold} or suppressed to protect another cell."
            )
        unit = description.unit_of(column)
        if unit is None:
            return None
        step = policy.rounding_step(unit)
        precision = f"rounded to the nearest {step:g}" if step else "not rounded"
        if unit == "share":
            return (
                f"A fraction (0–1) of the published counts, {precision} (0.1 percentage "
                "points by default); c when either count is."
            )
        magnitude = next((m for m in description.magnitudes if m.column == column), None)
        dominance = (
            ", when dominated by its largest contributors"
            if magnitude and magnitude.dominance
            else ""
        )
        return (
            f"{unit.capitalize()}, {precision}; c with fewer than {policy.threshold} "
            f"contributors{dominance}, or to protect another cell."
        )

    @property
    def counts(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for view in self.views:
            seen.update(dict.fromkeys(view.description.counts))
        return tuple(seen)


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
    relations = (
        # The claimant_outcomes cohort is this month's 'Searching for work' claimants.
        Relation.equal(
            CellRef(name, REGIME_COLUMNS[SEARCHING_FOR_WORK]),
            CellRef("claimant_outcomes", "cohort", {"group_value": "all"}),
            on=("month", "area_code"),
            note="the cohort is the month's searching-for-work claimants",
        ),
        within(name, "uc_claimants_in_paye", "uc_claimants", "claimants with a PAYE job"),
        *(within(name, c, "uc_claimants", "one regime") for c in REGIME_COLUMNS.values()),
        *(within(name, c, "enterprises", "one size band") for c in SIZE_COLUMNS.values()),
    )
    unrelated = {
        "paye_employees": "PAYE residence, not UC residence: no subset of another column",
        "fe_starts": "learners starting this month: no other column counts them",
        "fe_achievements": "achievements this month, mostly by earlier starters",
    }
    return PublishedTable(
        name, (PublishedView(description),), relations=relations, unrelated=unrelated
    )


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
            Magnitude("enterprise_employment", statistic="sum", unit="employment"),
        ),
        contributor_counts=_contributors_of(name, ("median_pay", "enterprise_employment")),
    )
    return PublishedTable(
        name,
        (PublishedView(description),),
        drop_rows=lambda t: pc.equal(t["sic_section"], "Total"),
        relations=(
            # hired_into ⊆ sections: a hire into a section is a job in it.
            within(name, "hires_from_uc", "new_hires", "hires who claimed UC last month"),
            within(name, "new_hires", "employees", "a hire is a job in the section"),
        ),
        unrelated={
            "enterprises": "enterprises by section and region; no equality with "
            "local_labour_market's (LAD-level, all sections) is established",
        },
    )


def _claimant_outcomes() -> PublishedTable:
    """Every area for the whole cohort; the breakdowns (age band, sex, disability) by region
    and UK only: a LAD split six ways is mostly cells under the threshold, and protecting
    them costs more than they tell."""
    name = "claimant_outcomes"

    def description(label: str, area: Dimension, group: Dimension) -> TableDescription:
        return TableDescription(
            name=f"{name} {label}",
            dimensions=(MONTH, area, group),
            labels=(*AREA_LABELS, "group_type", "provisional"),
            counts=("cohort", "employed_m3", "employed_m6"),
            derived=(
                Derived("share_employed_m3", ("employed_m3", "cohort"), unit="share"),
                Derived("share_employed_m6", ("employed_m6", "cohort"), unit="share"),
            ),
            magnitudes=(Magnitude("median_pay_m6", statistic="median", dominance=False),),
            contributor_counts=_contributors_of(name, ("median_pay_m6",)),
        )

    def breakdown(group: str) -> PublishedView:
        # group_type is a label here: within a view the values are unique, and the 'all'
        # row must be the parent of the breakdown's rows.
        # The whole LAD → ITL1 → UK hierarchy (not only ITL1 → UK), so contributors, held
        # per LAD, roll up into their regions; the view has no LAD rows.
        area = Dimension("area_code", parent=uk_area_hierarchy())
        return PublishedView(
            description(
                f"by {group}", area, Dimension("group_value", parent=_group_parents(group))
            ),
            rows=lambda t: pc.and_(
                pc.is_in(t["group_type"], pa.array([group, "all"])),
                pc.not_equal(t["area_level"], "lad"),
            ),
        )

    whole = PublishedView(
        description(
            "for all claimants",
            Dimension("area_code", parent=uk_area_hierarchy()),
            Dimension("group_value"),
        ),
        rows=lambda t: pc.equal(t["group_type"], "all"),
    )
    # The views' shared rows (the 'all' rows of regions and the UK) are the same cells
    # (same key): no relation needed.
    return PublishedTable(
        name,
        (whole, *(breakdown(g) for g in ("age_band", "sex", "disability"))),
        drop_rows=lambda t: pc.and_(
            pc.not_equal(t["group_type"], "all"), pc.equal(t["area_level"], "lad")
        ),
        relations=(
            within(name, "employed_m3", "cohort", "cohort members in work at m+3"),
            within(name, "employed_m6", "cohort", "cohort members paid at m+6"),
        ),
    )


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
        derived=(Derived("share_employed_m6", ("employed_m6", "achievers"), unit="share"),),
        magnitudes=(Magnitude("median_pay_m6", statistic="median", dominance=False),),
        contributor_counts=_contributors_of(name, ("median_pay_m6",)),
    )
    return PublishedTable(
        name,
        (PublishedView(description),),
        relations=(within(name, "employed_m6", "achievers", "achievers paid at m+6"),),
        drop_rows=lambda t: pc.or_(
            pc.equal(t["ssa_tier1"], "Total"), pc.equal(t["level"], "Total")
        ),
    )


PUBLISHED: dict[str, PublishedTable] = {
    t.name: t
    for t in (_local_labour_market(), _sector_view(), _claimant_outcomes(), _skills_outcomes())
}


def relations_among(names: set[str] | frozenset[str]) -> tuple[Relation, ...]:
    """Every declared relation whose two tables are both in ``names``."""
    return tuple(r for t in PUBLISHED.values() for r in t.relations if r.tables <= frozenset(names))


def undeclared_counts(tables: Mapping[str, PublishedTable] | None = None) -> list[str]:
    """Published count columns that are in no column group, no relation and not declared
    ``unrelated``: how they relate to the other figures has not been stated."""
    tables = PUBLISHED if tables is None else tables
    stated: set[tuple[str, str]] = set()
    for t in tables.values():
        for r in t.relations:
            stated |= {(r.left.table, r.left.column), (r.right.table, r.right.column)}
        stated |= {(t.name, c) for c in t.unrelated}
        for view in t.views:
            for group in view.description.column_groups:
                stated |= {(t.name, c) for c in group.columns}
    return sorted(
        f"{t.name}.{c}" for t in tables.values() for c in t.counts if (t.name, c) not in stated
    )
