"""skills_outcomes: employment at m+6 of FE achievers in month m."""

from __future__ import annotations

import pyarrow as pa

from labour_trust.feeds.vocabulary import FE_LEVELS, SSA_TIER1
from labour_trust.reference.geography import UK_CODE
from labour_trust.trust.spec import Column, TrustDataset
from labour_trust.trust.sql_common import (
    AREAS_CTE,
    FE,
    LADS_CTE,
    PAYE,
    TOTAL,
    area_columns,
    count,
    lit,
    magnitude,
    nullable_count,
    region_area,
    share,
    values_rows,
)
from labour_trust.trust.stages import money_sum

NAME = "skills_outcomes"

CTES = f"""
{LADS_CTE},
{AREAS_CTE},
ssas (ssa_tier1, ssa_order) AS ({values_rows(SSA_TIER1, total=True)}),
levels (level, level_order) AS ({values_rows(FE_LEVELS, total=True)}),
achievements AS (
    SELECT person_token, lad_code, ssa_tier1, level
    FROM fe_learners
    WHERE month = $month AND outcome = 'achievement'
),
achiever AS (
    -- One area per achiever (smallest LAD code should their rows disagree), so regions
    -- add up to the UK.
    SELECT person_token, min(lad_code) AS lad_code FROM achievements GROUP BY person_token
),
available AS (
    SELECT EXISTS (SELECT 1 FROM paye_rti WHERE month = $month_plus_6) AS has_m6
),
pay_m6 AS (
    SELECT p.person_token, CAST({money_sum("p.gross_pay_month")} AS DOUBLE) AS pay
    FROM paye_rti p
    SEMI JOIN achiever a ON a.person_token = p.person_token
    WHERE p.month = $month_plus_6
    GROUP BY p.person_token
),
person_cells AS (
    -- One row per achiever per subject × level cell, including the Total margins (null
    -- here): a person achieving in two subjects counts in each, and once in Total.
    SELECT person_token, ssa_tier1, level
    FROM achievements
    GROUP BY GROUPING SETS ((person_token, ssa_tier1, level), (person_token, ssa_tier1),
                            (person_token, level), (person_token))
),
linked AS (
    SELECT c.ssa_tier1, c.level, l.itl1_code, m6.pay AS pay_m6
    FROM person_cells c
    JOIN achiever r ON r.person_token = c.person_token
    JOIN lads l ON l.lad_code = r.lad_code
    LEFT JOIN pay_m6 m6 ON m6.person_token = c.person_token
),
agg AS (
    SELECT {region_area()} AS area_code,
        coalesce(l.ssa_tier1, {lit(TOTAL)}) AS ssa_tier1,
        coalesce(l.level, {lit(TOTAL)}) AS level,
        count(*) AS achievers,
        count(l.pay_m6) AS employed_m6,
        quantile_cont(l.pay_m6, 0.5) AS median_pay_m6
    FROM linked l
    GROUP BY GROUPING SETS ((l.itl1_code, l.ssa_tier1, l.level), (l.ssa_tier1, l.level))
)"""

SELECT = """SELECT
    CAST($month AS VARCHAR) AS month,
    a.area_code, a.area_name, a.area_level, a.parent_code,
    s.ssa_tier1, lv.level,
    coalesce(x.achievers, 0) AS achievers,
    CASE WHEN v.has_m6 THEN coalesce(x.employed_m6, 0) END AS employed_m6,
    CASE WHEN v.has_m6 AND x.achievers > 0 THEN x.employed_m6 / x.achievers END
        AS share_employed_m6,
    CASE WHEN v.has_m6 THEN x.median_pay_m6 END AS median_pay_m6,
    CASE WHEN v.has_m6 THEN coalesce(x.employed_m6, 0) END AS median_pay_m6_contributors,
    NOT v.has_m6 AS provisional
FROM areas a
CROSS JOIN ssas s
CROSS JOIN levels lv
CROSS JOIN available v
LEFT JOIN agg x
    ON x.area_code = a.area_code AND x.ssa_tier1 = s.ssa_tier1 AND x.level = lv.level
WHERE a.area_level <> 'lad'
ORDER BY a.area_order, a.area_code, s.ssa_order, lv.level_order
"""

_ACH = ((FE, "person_token"), (FE, "lad_code"), (FE, "outcome"), (FE, "ssa_tier1"), (FE, "level"))
_M6 = (*_ACH, (PAYE, "person_token"), (PAYE, "month"))

COLUMNS = (
    *area_columns(FE),
    Column(
        "ssa_tier1",
        pa.string(),
        "Sector subject area (tier 1) of the achievement, or 'Total'.",
        "dimension",
        ((FE, "ssa_tier1"),),
    ),
    Column(
        "level", pa.string(), "Level of the achievement, or 'Total'.", "dimension", ((FE, "level"),)
    ),
    count(
        "achievers",
        "Distinct persons with an FE achievement in the cell in month m. A person achieving "
        "in two subjects or levels counts in each, and once in Total.",
        _ACH,
    ),
    nullable_count(
        "employed_m6",
        "Achievers with PAYE employment in month m+6 (null while m+6 is not yet available).",
        _M6,
    ),
    share("share_employed_m6", "employed_m6 / achievers (a fraction; null if no achievers).", _M6),
    *magnitude(
        "median_pay_m6",
        "Median monthly gross pay in m+6 (summed over the person's jobs) of achievers "
        "employed at m+6; interpolated median, quantile_cont(pay, 0.5).",
        (*_M6, (PAYE, "gross_pay_month")),
        look_ahead=True,
    ),
    Column(
        "provisional",
        pa.bool_(),
        "True while month m+6 is not yet in the PAYE share (m+6 figures null).",
        "flag",
        ((PAYE, "month"),),
    ),
)

DATASET = TrustDataset(
    name=NAME,
    description=(
        "Skills outcomes: persons achieving an FE aim in month m, by sector subject area "
        "(tier 1) and level (each with a Total), for each ITL1 region and the UK: how many "
        "were in PAYE employment six months later, the share employed and their median "
        "monthly pay. Provisional (nulls) until the PAYE share holds m+6."
    ),
    ctes=CTES,
    select=SELECT,
    month_offsets={FE: (0,), PAYE: (6,)},
    column_specs=COLUMNS,
    dimensions=("month", "area_code", "ssa_tier1", "level"),
    totals={"area_code": UK_CODE, "ssa_tier1": TOTAL, "level": TOTAL},
)
