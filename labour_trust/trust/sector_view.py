"""sector_view: ITL1 region (and UK) × SIC section (and 'Total') for month m."""

from __future__ import annotations

import pyarrow as pa

from labour_trust.feeds.vocabulary import SIC_SECTIONS
from labour_trust.reference.geography import UK_CODE
from labour_trust.trust.spec import Column, TrustDataset
from labour_trust.trust.sql_common import (
    AREAS_CTE,
    BP,
    LADS_CTE,
    PAYE,
    REGION_LEVEL_AREA,
    REGION_LEVELS_JOIN,
    TOTAL,
    UC,
    area_columns,
    count,
    lit,
    magnitude,
    region_area,
    values_rows,
)

NAME = "sector_view"
PAY_BAND = 10  # £: the pay bands of the exact median (see MEDIAN_PAY_CTES)
SECTION = f"coalesce(sic_section, {lit(TOTAL)})"

# Bit i of the stage's section bit sets is the i-th section: letters from A, in order.
assert tuple(chr(ord("A") + i) for i in range(len(SIC_SECTIONS))) == SIC_SECTIONS
_SECTION_BITS = "VALUES " + ", ".join(f"({lit(s)}, {i})" for i, s in enumerate(SIC_SECTIONS))


# The exact median pay of every cell (quantile_cont's value) without holding every pay of
# every cell at once, as quantile_cont over 30 M national jobs in four grouping sets does
# (more than 6 GB): count the jobs of each finest cell by £10 band, find from the counts
# the band holding each cell's two middle ranks, then sort only the pays of those bands.
# Region × section cells and their margins (region × Total, UK × section, UK × Total), by band.
_BAND_SETS = (
    "GROUPING SETS ((itl1_code, sic_section, band), (itl1_code, band), (sic_section, band), (band))"
)
MEDIAN_PAY_CTES = f"""pay_bands AS (
    SELECT itl1_code, sic_section, band, count(*) AS jobs FROM job_cells GROUP BY ALL
),
band_cells AS (
    SELECT {region_area("b")} AS area_code, {SECTION} AS sic_section, band, sum(jobs) AS jobs
    FROM pay_bands b GROUP BY {_BAND_SETS}
),
band_ranks AS (
    SELECT *, sum(jobs) OVER (PARTITION BY area_code, sic_section ORDER BY band) AS upto,
           sum(jobs) OVER (PARTITION BY area_code, sic_section) AS total
    FROM band_cells
),
middle_ranks AS (
    -- The 0-based ranks of the two middle pays (the same one when the count is odd).
    SELECT DISTINCT area_code, sic_section, unnest([
        (total - 1) // 2, total // 2]) AS k
    FROM band_ranks
),
middle AS (
    SELECT b.area_code, b.sic_section, b.band, r.k, (r.k - (b.upto - b.jobs))::BIGINT AS k_in_band
    FROM band_ranks b JOIN middle_ranks r USING (area_code, sic_section)
    WHERE r.k >= b.upto - b.jobs AND r.k < b.upto
),
needed_bands AS (
    -- Finest cell and band whose pays some cell's middle needs (its own, its region's
    -- Total, the UK's section and the UK's Total).
    SELECT DISTINCT p.itl1_code, p.sic_section, p.band
    FROM pay_bands p JOIN middle m ON m.band = p.band
        AND m.area_code IN (p.itl1_code, {lit(UK_CODE)})
        AND m.sic_section IN (p.sic_section, {lit(TOTAL)})
),
band_pays AS (
    SELECT {region_area("j")} AS area_code, {SECTION} AS sic_section, band,
           list_sort(list(j.pay)) AS pays
    FROM job_cells j SEMI JOIN needed_bands USING (itl1_code, sic_section, band)
    GROUP BY {_BAND_SETS}
),
pay_agg AS (
    SELECT m.area_code, m.sic_section,
        (min(v.pays[m.k_in_band + 1]) + max(v.pays[m.k_in_band + 1])) / 2 AS median_pay
    FROM middle m JOIN band_pays v USING (area_code, sic_section, band)
    GROUP BY ALL
)"""

CTES = f"""
{LADS_CTE},
{AREAS_CTE},
uc_hires AS (
    -- New hires who were on Universal Credit in m-1: few rows, as the new hires are
    -- filtered before the semi join with last month's claimants.
    SELECT p.person_token
    FROM paye_person p
    SEMI JOIN uc_claimants u ON u.person_token = p.person_token AND u.month = $month_minus_1
    WHERE p.hired_into <> 0
),
person_masks AS (
    -- Persons counted by (region, section set, hired-into set, from UC): a few thousand
    -- rows, which are then spread over the sections their bit sets name.
    SELECT l.itl1_code, p.sections, p.hired_into,
           h.person_token IS NOT NULL AS from_uc, count(*) AS persons
    FROM paye_person p
    JOIN lads l ON l.lad_code = p.lad_code
    LEFT JOIN uc_hires h ON h.person_token = p.person_token
    GROUP BY ALL
),
section_bits (sic_section, bit) AS ({_SECTION_BITS}),
person_cells AS (
    SELECT {region_area("m")} AS area_code, s.sic_section,
        CAST(sum(m.persons) FILTER (WHERE (m.sections >> s.bit) & 1 = 1) AS BIGINT)
            AS employees,
        CAST(sum(m.persons) FILTER (WHERE (m.hired_into >> s.bit) & 1 = 1) AS BIGINT)
            AS new_hires,
        CAST(sum(m.persons) FILTER (WHERE (m.hired_into >> s.bit) & 1 = 1 AND m.from_uc)
            AS BIGINT) AS hires_from_uc
    FROM person_masks m
    CROSS JOIN section_bits s
    GROUP BY GROUPING SETS ((m.itl1_code, s.sic_section), (s.sic_section))
    UNION ALL
    SELECT {region_area("m")}, {lit(TOTAL)},
        CAST(sum(m.persons) AS BIGINT),
        CAST(sum(m.persons) FILTER (WHERE m.hired_into <> 0) AS BIGINT),
        CAST(sum(m.persons) FILTER (WHERE m.hired_into <> 0 AND m.from_uc) AS BIGINT)
    FROM person_masks m
    GROUP BY GROUPING SETS ((m.itl1_code), ())
),
job_cells AS (
    SELECT l.itl1_code, j.sic_section, j.pay, floor(j.pay / {PAY_BAND}) AS band
    FROM paye_jobs j
    LEFT JOIN paye_moved m ON m.person_token = j.person_token
    JOIN lads l ON l.lad_code = coalesce(m.lad_code, j.lad_code)
),
{MEDIAN_PAY_CTES},
bp_agg AS (
    SELECT {region_area()} AS area_code, {SECTION} AS sic_section,
        count(*) AS enterprises,
        CAST(sum(b.employment) AS BIGINT) AS enterprise_employment
    FROM business_population b
    JOIN lads l ON l.lad_code = b.lad_code
    WHERE b.month = $month
    GROUP BY GROUPING SETS ((l.itl1_code, b.sic_section), (l.itl1_code), (b.sic_section), ())
),
sections (sic_section, section_order) AS ({values_rows(SIC_SECTIONS, total=True)})"""

SELECT = """SELECT
    CAST($month AS VARCHAR) AS month,
    a.area_code, a.area_name, a.area_level, a.parent_code,
    s.sic_section,
    coalesce(p.employees, 0) AS employees,
    y.median_pay,
    coalesce(p.employees, 0) AS median_pay_contributors,
    coalesce(p.new_hires, 0) AS new_hires,
    coalesce(p.hires_from_uc, 0) AS hires_from_uc,
    coalesce(b.enterprises, 0) AS enterprises,
    coalesce(b.enterprise_employment, 0) AS enterprise_employment,
    coalesce(b.enterprises, 0) AS enterprise_employment_contributors
FROM areas a
CROSS JOIN sections s
LEFT JOIN person_cells p USING (area_code, sic_section)
LEFT JOIN pay_agg y USING (area_code, sic_section)
LEFT JOIN bp_agg b USING (area_code, sic_section)
WHERE a.area_level <> 'lad'
ORDER BY a.area_order, a.area_code, s.section_order
"""

_EMPLOYMENT_CONTRIBUTORS = f"""
SELECT CAST($month AS VARCHAR) AS month, {REGION_LEVEL_AREA} AS area_code,
       sec.sic_section, CAST(b.employment AS DOUBLE) AS value
FROM business_population b
JOIN lads l ON l.lad_code = b.lad_code
{REGION_LEVELS_JOIN}
CROSS JOIN (VALUES (b.sic_section), ({lit(TOTAL)})) AS sec(sic_section)
WHERE b.month = $month
"""

_JOB = ((PAYE, "person_token"), (PAYE, "lad_code"), (PAYE, "sic_section"))
_HIRE = (*_JOB, (PAYE, "start_date"))
_BP = ((BP, "enterprise_token"), (BP, "lad_code"), (BP, "sic_section"))

COLUMNS = (
    *area_columns(PAYE, BP),
    Column(
        "sic_section",
        pa.string(),
        "SIC 2007 section (A–U) of the employer or enterprise, or 'Total'.",
        "dimension",
        ((PAYE, "sic_section"), (BP, "sic_section")),
    ),
    count(
        "employees",
        "Distinct persons resident in the area with a PAYE job in the section in month m. "
        "A person with jobs in two sections counts in each, and once in Total, so Total "
        "can be less than the sum of the sections.",
        _JOB,
    ),
    *magnitude(
        "median_pay",
        "Median monthly gross pay per job (not per person) in the cell; interpolated "
        "median, DuckDB quantile_cont(pay, 0.5).",
        (*_JOB, (PAYE, "gross_pay_month")),
    ),
    count(
        "new_hires",
        "Distinct persons with a job in the section whose start_date falls in month m.",
        _HIRE,
    ),
    count(
        "hires_from_uc",
        "New hires (as new_hires) who were Universal Credit claimants in month m-1.",
        (*_HIRE, (UC, "person_token"), (UC, "month")),
    ),
    count("enterprises", "Active enterprises in the area and section.", _BP),
    *magnitude(
        "enterprise_employment",
        "Employment (headcount) summed over the active enterprises of the cell.",
        (*_BP, (BP, "employment")),
        who="enterprises",
        type=pa.int64(),
    ),
)

DATASET = TrustDataset(
    name=NAME,
    description=(
        "Sector view, month m: each ITL1 region and the UK, by SIC section and Total. "
        "Employees (distinct persons by residence), median job pay, new hires (start date in "
        "m), hires from Universal Credit (on UC in m-1, job starting in m), enterprises and "
        "their employment (by enterprise location). Region counts add up to the UK; "
        "section counts of persons need not add up to Total (multiple jobs)."
    ),
    ctes=CTES,
    select=SELECT,
    stages=("paye_jobs", "paye_person", "paye_moved"),
    month_offsets={PAYE: (0,), UC: (-1,), BP: (0,)},
    column_specs=COLUMNS,
    dimensions=("month", "area_code", "sic_section"),
    contributor_selects={"enterprise_employment": _EMPLOYMENT_CONTRIBUTORS},
    totals={"area_code": UK_CODE, "sic_section": TOTAL},
)
