"""A table description: what the columns of a statistics table mean, as data.

The suppression engine, the independent audit and the published-table checks all read the
same description and nothing else about the table's structure, so it is plain data
(frozen dataclasses), not code.

- ``dimensions``: the key columns. A dimension may carry a hierarchy as a child → parent
  mapping of its values (area: LAD → ITL1 → UK; regime: each category → "Total"). Every
  parent cell then equals the sum of its child cells for every additive measure; that is
  the additivity an attacker uses for differencing. A dimension without a mapping (month)
  only separates independent sub-tables.
- ``column_groups``: the same for breakdowns laid out as columns (wide format): a child
  column → parent column mapping, e.g. each ``claimants_<regime>`` → ``claimants_total``.
- ``counts``: additive count measures (people, claims).
- ``magnitudes``: values built from contributors (pay). ``statistic="sum"`` magnitudes are
  additive and take part in secondary suppression; means and medians are not additive.
- ``derived``: values computed from other measures in the same row (rates); suppressed
  wherever a source is suppressed.
- ``labels``: descriptive columns carried through unchanged (area names, levels).
- ``contributor_counts``: measure column → the column holding the number of distinct
  contributors behind it (persons, enterprises). A count of events (FE starts) is
  suppressed when its *contributors* are below the threshold too; a magnitude without
  contributor-level values is tested on it (frequency rule only). These columns are
  inputs to disclosure control and are never published.

Relations between cells of different columns or tables (``Relation``) are data too:
``equal`` (the same people counted in two places, e.g. a local_labour_market regime count
and claimant_outcomes' 'all' cohort of the same area and month) and ``at_most`` (a subset:
``employed_m6 <= achievers``). The joint engine and the joint audit both read them; an
attacker knows them as well as the additivity.

``attribute=True`` marks a breakdown whose categories are attributes of the people counted
(regime, outcome, sex): a group wholly in one category is then an attribute disclosure,
so its zeros are sensitive. Geography and time are not attributes.

Example (wide format, area hierarchy from the reference geography)::

    TableDescription(
        name="local_labour_market",
        dimensions=(Dimension("month"), Dimension("area_code", parent=uk_area_hierarchy())),
        labels=("area_name",),
        counts=("claimants_searching", "claimants_planning", "claimants_total"),
        column_groups=(
            ColumnGroup.total("regime", "claimants_total",
                              ["claimants_searching", "claimants_planning"], attribute=True),
        ),
        magnitudes=(Magnitude("median_pay", statistic="median", unit="earnings"),),
    )
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

STATISTICS = ("sum", "mean", "median", "quantile", "other")
UNITS = ("earnings", "percentage", "share", "employment", "value")
# Named hierarchies a YAML description can refer to instead of listing 374 codes.


class DescriptionError(ValueError):
    """A table description is inconsistent, or a table does not match its description."""


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Dimension:
    """A key column, optionally with a child → parent hierarchy of its values."""

    column: str
    parent: Mapping[str, str] = field(default_factory=dict)
    attribute: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "parent", _frozen(self.parent))
        _check_tree(f"dimension {self.column!r}", self.parent)

    @classmethod
    def total(
        cls, column: str, categories: Iterable[str], total: str = "Total", *, attribute: bool
    ) -> Dimension:
        """One level: every category adds up to ``total``."""
        return cls(column, {c: total for c in categories}, attribute)

    @property
    def hierarchical(self) -> bool:
        return bool(self.parent)

    def known_values(self) -> frozenset[str]:
        return frozenset(self.parent) | frozenset(self.parent.values())


@dataclass(frozen=True)
class ColumnGroup:
    """Measure columns that add up: child column → parent column (wide-format breakdown)."""

    name: str
    parent: Mapping[str, str]
    attribute: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "parent", _frozen(self.parent))
        if not self.parent:
            raise DescriptionError(f"column group {self.name!r} has no columns")
        _check_tree(f"column group {self.name!r}", self.parent)

    @classmethod
    def total(
        cls, name: str, total: str, members: Iterable[str], *, attribute: bool
    ) -> ColumnGroup:
        return cls(name, {m: total for m in members}, attribute)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(self.parent) | frozenset(self.parent.values())


@dataclass(frozen=True)
class Magnitude:
    """A value built from contributors (e.g. pay per person), checked for dominance.

    ``dominance=False`` exempts a statistic from the p% and (n, k) rules (e.g. a median,
    which does not reveal the largest contributor); the contributor minimum always applies.
    """

    column: str
    statistic: str = "sum"
    unit: str = "earnings"
    dominance: bool = True

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise DescriptionError(
                f"magnitude {self.column!r}: statistic must be one of {STATISTICS}, "
                f"got {self.statistic!r}"
            )
        if self.unit not in UNITS:
            raise DescriptionError(
                f"magnitude {self.column!r}: unit must be one of {UNITS}, got {self.unit!r}"
            )

    @property
    def additive(self) -> bool:
        return self.statistic == "sum"


@dataclass(frozen=True)
class Derived:
    """A value computed from other measures of the same row (a rate, a share). A ``share``
    (a fraction 0–1) names its (numerator, denominator); it is published as the ratio of
    their published values."""

    column: str
    sources: tuple[str, ...]
    unit: str = "percentage"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.sources:
            raise DescriptionError(f"derived column {self.column!r} names no sources")
        if self.unit == "share" and len(self.sources) != 2:
            raise DescriptionError(
                f"derived share {self.column!r} needs (numerator, denominator) as sources"
            )
        if self.unit not in UNITS:
            raise DescriptionError(
                f"derived column {self.column!r}: unit must be one of {UNITS}, got {self.unit!r}"
            )


@dataclass(frozen=True)
class TableDescription:
    """What every column of a statistics table is; see the module docstring."""

    name: str
    dimensions: tuple[Dimension, ...]
    counts: tuple[str, ...] = ()
    magnitudes: tuple[Magnitude, ...] = ()
    column_groups: tuple[ColumnGroup, ...] = ()
    derived: tuple[Derived, ...] = ()
    labels: tuple[str, ...] = ()
    contributor_counts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("dimensions", "counts", "magnitudes", "column_groups", "derived", "labels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "contributor_counts", _frozen(self.contributor_counts))
        self._check()

    # -- derived views -------------------------------------------------------------------

    @property
    def dimension_columns(self) -> tuple[str, ...]:
        return tuple(d.column for d in self.dimensions)

    @property
    def additive_columns(self) -> tuple[str, ...]:
        """Counts and sum-magnitudes: the cells bound by additivity."""
        return self.counts + tuple(m.column for m in self.magnitudes if m.additive)

    @property
    def measure_columns(self) -> tuple[str, ...]:
        return (
            self.counts
            + tuple(m.column for m in self.magnitudes)
            + tuple(d.column for d in self.derived)
        )

    @property
    def hidden_columns(self) -> tuple[str, ...]:
        """Columns used by disclosure control but never published."""
        return tuple(self.contributor_counts.values())

    def magnitude(self, column: str) -> Magnitude | None:
        return next((m for m in self.magnitudes if m.column == column), None)

    def unit_of(self, column: str) -> str | None:
        """Rounding unit of a non-count measure (None for counts)."""
        for item in (*self.magnitudes, *self.derived):
            if item.column == column:
                return item.unit
        return None

    # -- consistency ---------------------------------------------------------------------

    def _check(self) -> None:
        declared = [
            *self.dimension_columns,
            *self.counts,
            *(m.column for m in self.magnitudes),
            *(d.column for d in self.derived),
            *self.labels,
            *self.contributor_counts.values(),
        ]
        duplicates = sorted({c for c in declared if declared.count(c) > 1})
        if duplicates:
            raise DescriptionError(
                f"table {self.name!r}: column(s) declared twice: {', '.join(duplicates)}"
            )
        if not self.dimensions:
            raise DescriptionError(f"table {self.name!r}: no dimension columns")
        counts = set(self.counts)
        sums = {m.column for m in self.magnitudes if m.additive}
        for group in self.column_groups:
            if group.columns <= counts or group.columns <= sums:
                continue
            raise DescriptionError(
                f"table {self.name!r}: column group {group.name!r} must contain only count "
                f"columns or only sum magnitudes; got {sorted(group.columns)}"
            )
        measures = set(self.measure_columns)
        strays = sorted(
            set(self.contributor_counts) - set(self.counts) - {m.column for m in self.magnitudes}
        )
        if strays:
            raise DescriptionError(
                f"table {self.name!r}: contributor counts given for non-measures: {strays}"
            )
        for d in self.derived:
            missing = [s for s in d.sources if s not in measures]
            if missing:
                raise DescriptionError(
                    f"table {self.name!r}: derived column {d.column!r} has sources that are "
                    f"not measures: {missing}"
                )


def uk_area_hierarchy() -> dict[str, str]:
    """LAD → ITL1 → UK, from the reference geography (361 LADs, 12 regions)."""
    from labour_trust.reference.geography import UK_CODE, itl1_of

    mapping = dict(itl1_of())
    mapping.update({itl1: UK_CODE for itl1 in set(mapping.values())})
    return mapping


def _check_tree(what: str, parent: Mapping[str, str]) -> None:
    """Child → parent must be acyclic (it is a mapping, so each child has one parent)."""
    for child in parent:
        seen = {child}
        node = child
        while node in parent:
            node = parent[node]
            if node in seen:
                raise DescriptionError(f"{what}: hierarchy has a cycle through {node!r}")
            seen.add(node)


RELATION_KINDS = ("equal", "at_most")


@dataclass(frozen=True)
class CellRef:
    """The cells of one column of a table, optionally at fixed dimension values
    (``where={"group_value": "all"}``)."""

    table: str
    column: str
    where: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", _frozen(self.where))

    def __hash__(self) -> int:  # a mapping proxy is not hashable; its items are
        return hash((self.table, self.column, tuple(sorted(self.where.items()))))

    def __str__(self) -> str:
        fixed = "".join(f"[{k}={v}]" for k, v in sorted(self.where.items()))
        return f"{self.table}.{self.column}{fixed}"


@dataclass(frozen=True)
class Relation:
    """``left == right`` or ``left <= right`` for every pair of cells that agree on the
    ``on`` dimensions (``None``: every dimension of the left table not fixed by its
    ``where`` — the same row when both sides are in one table). A left cell with no
    matching right cell, or a side that is not available (null), is not linked."""

    kind: str
    left: CellRef
    right: CellRef
    on: tuple[str, ...] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RELATION_KINDS:
            raise DescriptionError(f"relation kind must be one of {RELATION_KINDS}: {self.kind!r}")
        if self.on is not None:
            object.__setattr__(self, "on", tuple(self.on))

    @classmethod
    def equal(
        cls, left: CellRef, right: CellRef, on: Iterable[str] | None = None, note: str = ""
    ) -> Relation:
        return cls("equal", left, right, None if on is None else tuple(on), note)

    @classmethod
    def at_most(
        cls, smaller: CellRef, larger: CellRef, on: Iterable[str] | None = None, note: str = ""
    ) -> Relation:
        return cls("at_most", smaller, larger, None if on is None else tuple(on), note)

    @property
    def tables(self) -> frozenset[str]:
        return frozenset({self.left.table, self.right.table})

    def __str__(self) -> str:
        op = "==" if self.kind == "equal" else "<="
        return f"{self.left} {op} {self.right}"


def within(table: str, smaller: str, larger: str, note: str = "") -> Relation:
    """``smaller <= larger`` in every row of ``table`` (a subset count)."""
    return Relation.at_most(CellRef(table, smaller), CellRef(table, larger), note=note)
