"""SQL fragments and column helpers shared by the trust datasets.

Geography: every person (or enterprise, or FE event) is placed in exactly one LAD, and
ITL1 and UK figures are computed by GROUPING SETS over the same rows, so area counts add
up exactly (LAD → ITL1 → UK) while medians and means are recomputed over the persons of
the larger area, never averaged. Feed rows whose LAD is not in ``lad_lookup`` are dropped
(the blocking contract check already rejects them).
"""

from __future__ import annotations

import re

import pyarrow as pa

from labour_trust.feeds.departments import BUSINESS_POPULATION, FE_LEARNERS, PAYE_RTI, UC_CLAIMANTS
from labour_trust.reference.geography import UK_CODE, UK_NAME
from labour_trust.trust.spec import Column

UC = UC_CLAIMANTS.name
PAYE = PAYE_RTI.name
FE = FE_LEARNERS.name
BP = BUSINESS_POPULATION.name
TOTAL = "Total"


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def snake(label: str) -> str:
    """'Working - with requirements' → 'working_with_requirements'."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def values_rows(values: tuple[str, ...], *, total: bool = False) -> str:
    """VALUES rows (value, position) of a dimension's categories, optionally followed by
    the 'Total' margin label: the full grid of cells, whether or not the data has rows."""
    labels = (*values, *((TOTAL,) if total else ()))
    return "VALUES " + ", ".join(f"({lit(v)}, {i})" for i, v in enumerate(labels, 1))


LADS_CTE = "lads AS (SELECT lad_code, lad_name, itl1_code, itl1_name FROM lad_lookup)"

# LADs, ITL1 regions and the UK, with their place in the hierarchy. area_order sorts the
# output UK first, then regions, then LADs.
AREAS_CTE = f"""areas AS (
    SELECT 1 AS area_order, {lit(UK_CODE)} AS area_code, {lit(UK_NAME)} AS area_name,
           'uk' AS area_level, CAST(NULL AS VARCHAR) AS parent_code
    UNION ALL
    SELECT DISTINCT 2, itl1_code, itl1_name, 'itl1', {lit(UK_CODE)} FROM lads
    UNION ALL
    SELECT 3, lad_code, lad_name, 'lad', itl1_code FROM lads
)"""


def lad_area(alias: str = "l") -> str:
    """The area a grouping-set row belongs to: the LAD, else (LAD grouped out) the ITL1
    region, else the UK. Codes never collide across levels, so one key column is enough."""
    return f"coalesce({alias}.lad_code, {alias}.itl1_code, {lit(UK_CODE)})"


def region_area(alias: str = "l") -> str:
    return f"coalesce({alias}.itl1_code, {lit(UK_CODE)})"


# Area-level expansion for contributor rows: a person behind a LAD figure is also behind
# its region's and the UK's.
LAD_LEVELS_JOIN = "CROSS JOIN (VALUES (1), (2), (3)) AS lvl(n)"
LAD_LEVEL_AREA = (
    f"CASE lvl.n WHEN 1 THEN l.lad_code WHEN 2 THEN l.itl1_code ELSE {lit(UK_CODE)} END"
)
REGION_LEVELS_JOIN = "CROSS JOIN (VALUES (2), (3)) AS lvl(n)"
REGION_LEVEL_AREA = f"CASE lvl.n WHEN 2 THEN l.itl1_code ELSE {lit(UK_CODE)} END"


# ---------------------------------------------------------------------------- columns


def area_columns(*shares: str) -> tuple[Column, ...]:
    lad = tuple((s, "lad_code") for s in shares)
    return (
        Column(
            "month",
            pa.string(),
            "Partition month m (YYYY-MM).",
            "dimension",
            tuple((s, "month") for s in shares),
        ),
        Column(
            "area_code",
            pa.string(),
            f"GSS code of the LAD, ITL1 code of the region, or {UK_CODE} for the UK.",
            "dimension",
            lad,
        ),
        Column("area_name", pa.string(), "Name of the area.", "attribute", lad),
        Column(
            "area_level", pa.string(), "Geographic level: 'lad', 'itl1' or 'uk'.", "attribute", lad
        ),
        Column(
            "parent_code",
            pa.string(),
            "Code of the enclosing area (LAD → ITL1 → UK); null for the UK.",
            "attribute",
            lad,
            nullable=True,
        ),
    )


def count(
    name: str,
    description: str,
    lineage: tuple[tuple[str, str], ...],
    contributors: str | None = None,
) -> Column:
    """A count of persons (its own contributor count) or of events (``contributors`` set)."""
    return Column(name, pa.int64(), description, "count", lineage, contributors or name)


def contributors_of(name: str, description: str, lineage: tuple[tuple[str, str], ...]) -> Column:
    """Number of distinct contributors behind an event count: not itself for publication."""
    return Column(name, pa.int64(), description, "contributors", lineage)


def nullable_count(name: str, description: str, lineage: tuple[tuple[str, str], ...]) -> Column:
    return Column(name, pa.int64(), description, "count", lineage, name, nullable=True)


def magnitude(
    name: str,
    description: str,
    lineage: tuple[tuple[str, str], ...],
    who: str = "persons",
    *,
    look_ahead: bool = False,
    type: pa.DataType | None = None,
) -> tuple[Column, Column]:
    """A magnitude and its ``<name>_contributors`` column (null too when ``look_ahead``
    figures are not yet available)."""
    return (
        Column(
            name,
            type or pa.float64(),
            description,
            "magnitude",
            lineage,
            f"{name}_contributors",
            nullable=True,
        ),
        Column(
            f"{name}_contributors",
            pa.int64(),
            f"Number of {who} behind {name}.",
            "contributors",
            lineage,
            nullable=look_ahead,
        ),
    )


def share(name: str, description: str, lineage: tuple[tuple[str, str], ...]) -> Column:
    return Column(name, pa.float64(), description, "share", lineage, nullable=True)
