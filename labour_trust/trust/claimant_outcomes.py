"""claimant_outcomes: employment at m+3 and m+6 of UC claimants searching for work in m."""

from __future__ import annotations

import pyarrow as pa

from labour_trust.feeds.vocabulary import AGE_BANDS, SEARCHING_FOR_WORK, SEXES
from labour_trust.reference.geography import UK_CODE
from labour_trust.trust.spec import Column, TrustDataset
from labour_trust.trust.sql_common import (
    AREAS_CTE,
    LADS_CTE,
    PAYE,
    UC,
    area_columns,
    count,
    lad_area,
    lit,
    magnitude,
    nullable_count,
    share,
)
from labour_trust.trust.stages import money_sum

NAME = "claimant_outcomes"
DISABLED, NOT_DISABLED = "disabled", "not disabled"
GROUPS: tuple[tuple[str, str], ...] = (
    ("all", "all"),
    *(("age_band", a) for a in AGE_BANDS),
    *(("sex", s) for s in SEXES),
    ("disability", DISABLED),
    ("disability", NOT_DISABLED),
)
_groups_rows = ", ".join(f"({lit(t)}, {lit(v)}, {i})" for i, (t, v) in enumerate(GROUPS, 1))

CTES = f"""
{LADS_CTE},
{AREAS_CTE},
groups (group_type, group_value, group_order) AS (VALUES {_groups_rows}),
cohort AS (
    SELECT u.person_token, u.lad_code, u.age_band, u.sex, u.disability
    FROM uc_claimants u
    WHERE u.month = $month AND u.conditionality_regime = {lit(SEARCHING_FOR_WORK)}
),
available AS (
    -- A look-ahead month the PAYE share does not hold yet gives null figures, not zeros.
    SELECT EXISTS (SELECT 1 FROM paye_rti WHERE month = $month_plus_3) AS has_m3,
           EXISTS (SELECT 1 FROM paye_rti WHERE month = $month_plus_6) AS has_m6
),
employed_m3 AS (
    -- The semi join keeps only cohort members' jobs before grouping (the cohort is small).
    SELECT DISTINCT p.person_token
    FROM paye_rti p
    SEMI JOIN cohort c ON c.person_token = p.person_token
    WHERE p.month = $month_plus_3
),
pay_m6 AS (
    SELECT p.person_token, CAST({money_sum("p.gross_pay_month")} AS DOUBLE) AS pay
    FROM paye_rti p
    SEMI JOIN cohort c ON c.person_token = p.person_token
    WHERE p.month = $month_plus_6
    GROUP BY p.person_token
),
linked AS (
    SELECT c.*, l.itl1_code,
           e.person_token IS NOT NULL AS employed_m3,
           m6.pay AS pay_m6
    FROM cohort c
    JOIN lads l ON l.lad_code = c.lad_code
    LEFT JOIN employed_m3 e ON e.person_token = c.person_token
    LEFT JOIN pay_m6 m6 ON m6.person_token = c.person_token
),
member_groups AS (
    -- Each cohort member once under every group type (all, age band, sex, disability).
    SELECT lad_code AS lad_code, itl1_code, 'all' AS group_type, 'all' AS group_value,
           employed_m3, pay_m6
    FROM linked
    UNION ALL
    SELECT lad_code, itl1_code, 'age_band', age_band, employed_m3, pay_m6 FROM linked
    UNION ALL
    SELECT lad_code, itl1_code, 'sex', sex, employed_m3, pay_m6 FROM linked
    UNION ALL
    SELECT lad_code, itl1_code, 'disability',
           CASE WHEN disability THEN {lit(DISABLED)} ELSE {lit(NOT_DISABLED)} END,
           employed_m3, pay_m6
    FROM linked
),
agg AS (
    SELECT {lad_area("g")} AS area_code, g.group_type, g.group_value,
        count(*) AS cohort,
        count(*) FILTER (WHERE g.employed_m3) AS employed_m3,
        count(g.pay_m6) AS employed_m6,
        quantile_cont(g.pay_m6, 0.5) AS median_pay_m6
    FROM member_groups g
    GROUP BY GROUPING SETS (
        (g.group_type, g.group_value, g.itl1_code, g.lad_code),
        (g.group_type, g.group_value, g.itl1_code),
        (g.group_type, g.group_value)
    )
)"""

SELECT = """SELECT
    CAST($month AS VARCHAR) AS month,
    a.area_code, a.area_name, a.area_level, a.parent_code,
    gr.group_type, gr.group_value,
    coalesce(x.cohort, 0) AS cohort,
    CASE WHEN v.has_m3 THEN coalesce(x.employed_m3, 0) END AS employed_m3,
    CASE WHEN v.has_m6 THEN coalesce(x.employed_m6, 0) END AS employed_m6,
    CASE WHEN v.has_m3 AND x.cohort > 0 THEN x.employed_m3 / x.cohort END
        AS share_employed_m3,
    CASE WHEN v.has_m6 AND x.cohort > 0 THEN x.employed_m6 / x.cohort END
        AS share_employed_m6,
    CASE WHEN v.has_m6 THEN x.median_pay_m6 END AS median_pay_m6,
    CASE WHEN v.has_m6 THEN coalesce(x.employed_m6, 0) END AS median_pay_m6_contributors,
    NOT (v.has_m3 AND v.has_m6) AS provisional
FROM areas a
CROSS JOIN groups gr
CROSS JOIN available v
LEFT JOIN agg x
    ON x.area_code = a.area_code AND x.group_type = gr.group_type
    AND x.group_value = gr.group_value
ORDER BY a.area_order, a.area_code, gr.group_order
"""

_COHORT = (
    (UC, "person_token"),
    (UC, "lad_code"),
    (UC, "month"),
    (UC, "conditionality_regime"),
)
_M3 = (*_COHORT, (PAYE, "person_token"), (PAYE, "month"))
_PAY = (*_M3, (PAYE, "gross_pay_month"))

COLUMNS = (
    *area_columns(UC),
    Column(
        "group_type",
        pa.string(),
        "Breakdown of the cohort: 'all', 'age_band', 'sex' or 'disability'.",
        "dimension",
        ((UC, "age_band"), (UC, "sex"), (UC, "disability")),
    ),
    Column(
        "group_value",
        pa.string(),
        f"Value within group_type: 'all'; an age band; F/M; '{DISABLED}'/'{NOT_DISABLED}'.",
        "dimension",
        ((UC, "age_band"), (UC, "sex"), (UC, "disability")),
    ),
    count(
        "cohort",
        f"UC claimants in regime '{SEARCHING_FOR_WORK}' in month m (area of the claim).",
        _COHORT,
    ),
    nullable_count(
        "employed_m3",
        "Cohort members with PAYE employment in month m+3 (null while m+3 is not yet available).",
        _M3,
    ),
    nullable_count(
        "employed_m6",
        "Cohort members with PAYE employment in month m+6 (null while m+6 is not yet available).",
        _M3,
    ),
    share("share_employed_m3", "employed_m3 / cohort (a fraction; null if cohort is 0).", _M3),
    share("share_employed_m6", "employed_m6 / cohort (a fraction; null if cohort is 0).", _M3),
    *magnitude(
        "median_pay_m6",
        "Median monthly gross pay in m+6 (summed over the person's jobs) of cohort "
        "members employed at m+6; interpolated median, quantile_cont(pay, 0.5).",
        _PAY,
        look_ahead=True,
    ),
    Column(
        "provisional",
        pa.bool_(),
        "True while month m+3 or m+6 is not yet in the PAYE share: figures for the "
        "missing month are null and will be filled in when it arrives.",
        "flag",
        ((PAYE, "month"),),
    ),
)

DATASET = TrustDataset(
    name=NAME,
    description=(
        f"Claimant outcomes: the cohort of UC claimants '{SEARCHING_FOR_WORK}' in month m, "
        "by LAD, ITL1 region and UK, for all claimants and by age band, sex and disability: "
        "how many were in PAYE employment at m+3 and m+6, the share employed, and median pay "
        "at m+6. Provisional (nulls) until the PAYE share holds m+3 and m+6."
    ),
    ctes=CTES,
    select=SELECT,
    month_offsets={UC: (0,), PAYE: (3, 6)},
    column_specs=COLUMNS,
    dimensions=("month", "area_code", "group_type", "group_value"),
    totals={"area_code": UK_CODE, "group_type": "all"},
)
