"""local_labour_market: one row per area (LAD, ITL1, UK) for month m."""

from __future__ import annotations

from labour_trust.feeds.vocabulary import CONDITIONALITY_REGIMES, SIZE_BANDS
from labour_trust.reference.geography import UK_CODE
from labour_trust.trust.spec import TrustDataset
from labour_trust.trust.sql_common import (
    AREAS_CTE,
    BP,
    FE,
    LAD_LEVEL_AREA,
    LAD_LEVELS_JOIN,
    LADS_CTE,
    PAYE,
    UC,
    area_columns,
    contributors_of,
    count,
    lad_area,
    lit,
    magnitude,
    snake,
)

NAME = "local_labour_market"
LAD_SETS = "GROUPING SETS ((l.itl1_code, l.lad_code), (l.itl1_code), ())"
REGIME_COLUMNS = {regime: f"uc_{snake(regime)}" for regime in CONDITIONALITY_REGIMES}
# 'micro (0-9)' → enterprises_micro
SIZE_COLUMNS = {band: f"enterprises_{snake(band.split()[0])}" for band in SIZE_BANDS}
# Count columns of each aggregate CTE, in output order: zero where an area has no rows.
_ZERO_FILLED = {
    "uc": ("uc_claimants", *REGIME_COLUMNS.values(), "uc_claimants_in_paye"),
    "pp": ("paye_employees",),
    "fe": (
        "fe_starts",
        "fe_starts_contributors",
        "fe_achievements",
        "fe_achievements_contributors",
    ),
    "bp": ("enterprises", *SIZE_COLUMNS.values()),
}

_regime_counts = ",\n".join(
    f"        count(*) FILTER (WHERE u.conditionality_regime = {lit(r)}) AS {c}"
    for r, c in REGIME_COLUMNS.items()
)
_size_counts = ",\n".join(
    f"        count(*) FILTER (WHERE b.size_band = {lit(s)}) AS {c}"
    for s, c in SIZE_COLUMNS.items()
)

CTES = f"""
{LADS_CTE},
{AREAS_CTE},
uc_agg AS (
    SELECT {lad_area()} AS area_code,
        count(*) AS uc_claimants,
{_regime_counts},
        count(e.person_token) AS uc_claimants_in_paye
    FROM uc_claimants u
    JOIN lads l ON l.lad_code = u.lad_code
    -- paye_person has one row per person, so the join cannot duplicate a claimant.
    LEFT JOIN paye_person e ON e.person_token = u.person_token
    WHERE u.month = $month
    GROUP BY {LAD_SETS}
),
paye_agg AS (
    SELECT {lad_area()} AS area_code,
        count(*) AS paye_employees,
        quantile_cont(CAST(p.pay AS DOUBLE), 0.5) AS median_pay,
        -- The exact pence sum, then one division: the same double however DuckDB plans it.
        CAST(sum(p.pay) AS DOUBLE) / count(*) AS mean_pay
    FROM paye_person p
    JOIN lads l ON l.lad_code = p.lad_code
    GROUP BY {LAD_SETS}
),
fe_agg AS (
    -- FE starts and achievements are events (a learner may start two aims); their
    -- contributors are the distinct learners.
    SELECT {lad_area()} AS area_code,
        count(*) FILTER (WHERE f.outcome = 'start') AS fe_starts,
        count(DISTINCT f.person_token) FILTER (WHERE f.outcome = 'start')
            AS fe_starts_contributors,
        count(*) FILTER (WHERE f.outcome = 'achievement') AS fe_achievements,
        count(DISTINCT f.person_token) FILTER (WHERE f.outcome = 'achievement')
            AS fe_achievements_contributors
    FROM fe_learners f
    JOIN lads l ON l.lad_code = f.lad_code
    WHERE f.month = $month AND f.outcome IN ('start', 'achievement')
    GROUP BY {LAD_SETS}
),
bp_agg AS (
    SELECT {lad_area()} AS area_code,
        count(*) AS enterprises,
{_size_counts}
    FROM business_population b
    JOIN lads l ON l.lad_code = b.lad_code
    WHERE b.month = $month
    GROUP BY {LAD_SETS}
)"""


def _zero_filled(*aliases: str) -> str:
    return ",\n".join(
        f"    coalesce({alias}.{c}, 0) AS {c}" for alias in aliases for c in _ZERO_FILLED[alias]
    )


SELECT = f"""SELECT
    CAST($month AS VARCHAR) AS month,
    a.area_code, a.area_name, a.area_level, a.parent_code,
{_zero_filled("uc", "pp")},
    pp.median_pay,
    coalesce(pp.paye_employees, 0) AS median_pay_contributors,
    pp.mean_pay,
    coalesce(pp.paye_employees, 0) AS mean_pay_contributors,
{_zero_filled("fe", "bp")}
FROM areas a
LEFT JOIN uc_agg uc USING (area_code)
LEFT JOIN paye_agg pp USING (area_code)
LEFT JOIN fe_agg fe USING (area_code)
LEFT JOIN bp_agg bp USING (area_code)
ORDER BY a.area_order, a.area_code
"""

# Contributors to mean pay (dominance rules): each employed person's monthly pay, in their
# LAD, its region and the UK. The median relies on its contributor count.
_PAY_CONTRIBUTORS = f"""
SELECT CAST($month AS VARCHAR) AS month, {LAD_LEVEL_AREA} AS area_code,
       CAST(p.pay AS DOUBLE) AS value
FROM paye_person p
JOIN lads l ON l.lad_code = p.lad_code
{LAD_LEVELS_JOIN}
"""

_UC = ((UC, "person_token"), (UC, "lad_code"))
_PAYE_PERSON = ((PAYE, "person_token"), (PAYE, "lad_code"))
_PAY = (*_PAYE_PERSON, (PAYE, "gross_pay_month"))
_FE = ((FE, "person_token"), (FE, "lad_code"), (FE, "outcome"))
_BP = ((BP, "enterprise_token"), (BP, "lad_code"))

COLUMNS = (
    *area_columns(UC, PAYE, FE, BP),
    count("uc_claimants", "Universal Credit claimants resident in the area.", _UC),
    *(
        count(
            c,
            f"UC claimants in conditionality regime '{r}'.",
            (*_UC, (UC, "conditionality_regime")),
        )
        for r, c in REGIME_COLUMNS.items()
    ),
    count(
        "uc_claimants_in_paye",
        "UC claimants (area of the UC claim) who also had PAYE employment in month m, "
        "linked by person token; a claimant with several jobs counts once.",
        (*_UC, (PAYE, "person_token")),
    ),
    count(
        "paye_employees",
        "Distinct persons resident in the area with PAYE employment in month m.",
        _PAYE_PERSON,
    ),
    *magnitude(
        "median_pay",
        "Median monthly gross pay per employed person (pay summed over the person's "
        "jobs in month m); interpolated median, DuckDB quantile_cont(pay, 0.5).",
        _PAY,
    ),
    *magnitude(
        "mean_pay",
        "Mean monthly gross pay per employed person (pay summed over the person's jobs).",
        _PAY,
    ),
    count(
        "fe_starts",
        "FE learning starts (events with outcome 'start') in month m.",
        _FE,
        contributors="fe_starts_contributors",
    ),
    contributors_of("fe_starts_contributors", "Distinct learners behind fe_starts.", _FE),
    count(
        "fe_achievements",
        "FE achievements (events with outcome 'achievement') in month m.",
        _FE,
        contributors="fe_achievements_contributors",
    ),
    contributors_of(
        "fe_achievements_contributors", "Distinct learners behind fe_achievements.", _FE
    ),
    count("enterprises", "Active enterprises located in the area.", _BP),
    *(
        count(c, f"Active enterprises in size band '{s}'.", (*_BP, (BP, "size_band")))
        for s, c in SIZE_COLUMNS.items()
    ),
)

DATASET = TrustDataset(
    name=NAME,
    description=(
        "Local labour market, month m, for each of the 361 LADs, each ITL1 region and the UK: "
        "Universal Credit claimants (total and by conditionality regime) and how many of them "
        "were in PAYE employment, PAYE employees resident, median and mean monthly pay per "
        "person, FE starts and achievements, and enterprises by size band. Areas with no rows "
        "show zeros (null median/mean). ITL1 and UK counts equal the sum of their LADs; "
        "medians and means are recomputed over the persons of the area."
    ),
    ctes=CTES,
    select=SELECT,
    stages=("paye_jobs", "paye_person"),
    month_offsets={UC: (0,), PAYE: (0,), FE: (0,), BP: (0,)},
    column_specs=COLUMNS,
    dimensions=("month", "area_code"),
    contributor_selects={"mean_pay": _PAY_CONTRIBUTORS},
    totals={"area_code": UK_CODE},
)
