"""Benchmark baseline: the four trust datasets as one hand-written DuckDB script.

The ratio target compares the dataset pipeline (Dagster assets, pinned Delta versions,
Arrow scans, warehouse writes) with what an analyst would write by hand on the same
files: :data:`BASELINE_SCRIPT` reads each feed month once into temporary tables, shares
them between the four outputs, and leaves ``out_<dataset>`` tables with the same rows and
columns as :func:`labour_trust.trust.datasets.compute` (the tests check this).

Use::

    con = duckdb.connect()
    register_parquet_views(con, {"hmrc/paye_rti": {"2024-02": [...files...]}, ...})
    con.register("lad_lookup", lad_table())
    result = bench(con, "2024-02")        # times compute() for each dataset, then the script
    print(format_bench(result))

``register_parquet_views`` reads the data files with DuckDB's own Parquet reader (Delta
data files do not hold the partition column, so the month is added per file list); the
same views can serve the pipeline SQL, so the two can also be compared on equal scans.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from labour_trust.months import check_month, month_params
from labour_trust.trust.datasets import TRUST_DATASETS, VIEW_NAMES, compute

# One statement per entry, run in order. Month parameters as in the dataset SQL.
BASELINE_SCRIPT: tuple[str, ...] = (
    # ---- each feed month read once ---------------------------------------------------
    """
    CREATE OR REPLACE TEMP TABLE b_jobs AS
    SELECT person_token, lad_code, sic_section, gross_pay_month AS pay,
           start_date >= CAST($month || '-01' AS DATE)
           AND start_date < CAST($month || '-01' AS DATE) + INTERVAL 1 MONTH AS new_hire
    FROM paye_rti WHERE month = $month
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_person AS
    SELECT person_token, min(lad_code) AS lad_code, max(lad_code) AS max_lad_code,
           CAST(sum(pay::DECIMAL(18, 2)) AS DECIMAL(18, 2)) AS pay,
           bit_or(1::UINTEGER << (ascii(sic_section) - 65)) AS sections,
           bit_or(CASE WHEN new_hire THEN 1::UINTEGER << (ascii(sic_section) - 65)
                  ELSE 0::UINTEGER END) AS hired_into
    FROM b_jobs GROUP BY person_token
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_uc AS
    SELECT person_token, lad_code, age_band, sex, disability, conditionality_regime
    FROM uc_claimants WHERE month = $month
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_fe AS
    SELECT person_token, lad_code, ssa_tier1, level, outcome
    FROM fe_learners WHERE month = $month AND outcome IN ('start', 'achievement')
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_bp AS
    SELECT lad_code, sic_section, size_band, employment
    FROM business_population WHERE month = $month
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_cohort AS
    SELECT * FROM b_uc WHERE conditionality_regime = 'Searching for work'
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_achiever AS
    SELECT person_token, min(lad_code) AS lad_code
    FROM b_fe WHERE outcome = 'achievement' GROUP BY person_token
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_m3 AS
    SELECT DISTINCT person_token FROM paye_rti
    WHERE month = $month_plus_3 AND person_token IN (SELECT person_token FROM b_cohort)
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_m6 AS
    SELECT person_token, sum(gross_pay_month::DECIMAL(18, 2))::DOUBLE AS pay FROM paye_rti
    WHERE month = $month_plus_6 AND person_token IN (
        SELECT person_token FROM b_cohort UNION ALL SELECT person_token FROM b_achiever)
    GROUP BY person_token
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_avail AS
    SELECT EXISTS (SELECT 1 FROM paye_rti WHERE month = $month_plus_3) AS has_m3,
           EXISTS (SELECT 1 FROM paye_rti WHERE month = $month_plus_6) AS has_m6
    """,
    """
    CREATE OR REPLACE TEMP TABLE b_areas AS
    SELECT 1 AS o, 'K02000001' AS area_code, 'United Kingdom' AS area_name, 'uk' AS area_level,
           NULL::VARCHAR AS parent_code
    UNION ALL SELECT DISTINCT 2, itl1_code, itl1_name, 'itl1', 'K02000001' FROM lad_lookup
    UNION ALL SELECT 3, lad_code, lad_name, 'lad', itl1_code FROM lad_lookup
    """,
    # Each LAD under itself, its region and the UK: aggregates by area_code add up.
    """
    CREATE OR REPLACE TEMP TABLE b_lad_area AS
    SELECT lad_code, lad_code AS area_code, 'lad' AS level FROM lad_lookup
    UNION ALL SELECT lad_code, itl1_code, 'itl1' FROM lad_lookup
    UNION ALL SELECT lad_code, 'K02000001', 'uk' FROM lad_lookup
    """,
    # ---- local_labour_market -------------------------------------------------------
    """
    CREATE OR REPLACE TEMP TABLE out_local_labour_market AS
    WITH uc AS (
        SELECT a.area_code, count(*) AS n,
            count(*) FILTER (WHERE conditionality_regime = 'Searching for work') AS sfw,
            count(*) FILTER (WHERE conditionality_regime = 'Working - with requirements') AS wwr,
            count(*) FILTER (WHERE conditionality_regime = 'No work requirements') AS nwr,
            count(*) FILTER (WHERE conditionality_regime = 'Planning for work') AS pfw,
            count(*) FILTER (WHERE conditionality_regime = 'Preparing for work') AS prw,
            count(*) FILTER (WHERE conditionality_regime = 'Working - no requirements') AS wnr,
            count(p.person_token) AS in_paye
        FROM b_uc u LEFT JOIN b_person p USING (person_token)
        JOIN b_lad_area a ON a.lad_code = u.lad_code
        GROUP BY a.area_code
    ), pay AS (
        SELECT a.area_code, count(*) AS n, median(p.pay::DOUBLE) AS median_pay,
               avg(p.pay)::DOUBLE AS mean_pay
        FROM b_person p JOIN b_lad_area a ON a.lad_code = p.lad_code
        GROUP BY a.area_code
    ), fe AS (
        SELECT a.area_code,
            count(*) FILTER (WHERE outcome = 'start') AS starts,
            count(DISTINCT person_token) FILTER (WHERE outcome = 'start') AS start_people,
            count(*) FILTER (WHERE outcome = 'achievement') AS ach,
            count(DISTINCT person_token) FILTER (WHERE outcome = 'achievement') AS ach_people
        FROM b_fe f JOIN b_lad_area a ON a.lad_code = f.lad_code
        GROUP BY a.area_code
    ), bp AS (
        SELECT a.area_code, count(*) AS n,
            count(*) FILTER (WHERE size_band = 'micro (0-9)') AS micro,
            count(*) FILTER (WHERE size_band = 'small (10-49)') AS small,
            count(*) FILTER (WHERE size_band = 'medium (50-249)') AS medium,
            count(*) FILTER (WHERE size_band = 'large (250+)') AS large
        FROM b_bp b JOIN b_lad_area a ON a.lad_code = b.lad_code
        GROUP BY a.area_code
    )
    SELECT $month AS month, r.area_code, r.area_name, r.area_level, r.parent_code,
        coalesce(uc.n, 0) AS uc_claimants,
        coalesce(uc.sfw, 0) AS uc_searching_for_work,
        coalesce(uc.wwr, 0) AS uc_working_with_requirements,
        coalesce(uc.nwr, 0) AS uc_no_work_requirements,
        coalesce(uc.pfw, 0) AS uc_planning_for_work,
        coalesce(uc.prw, 0) AS uc_preparing_for_work,
        coalesce(uc.wnr, 0) AS uc_working_no_requirements,
        coalesce(uc.in_paye, 0) AS uc_claimants_in_paye,
        coalesce(pay.n, 0) AS paye_employees,
        pay.median_pay, coalesce(pay.n, 0) AS median_pay_contributors,
        pay.mean_pay, coalesce(pay.n, 0) AS mean_pay_contributors,
        coalesce(fe.starts, 0) AS fe_starts,
        coalesce(fe.start_people, 0) AS fe_starts_contributors,
        coalesce(fe.ach, 0) AS fe_achievements,
        coalesce(fe.ach_people, 0) AS fe_achievements_contributors,
        coalesce(bp.n, 0) AS enterprises,
        coalesce(bp.micro, 0) AS enterprises_micro,
        coalesce(bp.small, 0) AS enterprises_small,
        coalesce(bp.medium, 0) AS enterprises_medium,
        coalesce(bp.large, 0) AS enterprises_large
    FROM b_areas r
    LEFT JOIN uc USING (area_code) LEFT JOIN pay USING (area_code)
    LEFT JOIN fe USING (area_code) LEFT JOIN bp USING (area_code)
    ORDER BY r.o, r.area_code
    """,
    # ---- sector_view ---------------------------------------------------------------
    """
    CREATE OR REPLACE TEMP TABLE out_sector_view AS
    WITH sections AS (
        SELECT chr(65 + i::INTEGER) AS sic_section, i AS bit FROM range(21) t(i)
    ), uc_hires AS (
        SELECT person_token FROM b_person
        WHERE hired_into <> 0 AND person_token IN (
            SELECT person_token FROM uc_claimants WHERE month = $month_minus_1)
    ), masks AS (
        SELECT a.area_code, p.sections, p.hired_into,
               h.person_token IS NOT NULL AS from_uc, count(*) AS n
        FROM b_person p LEFT JOIN uc_hires h USING (person_token)
        JOIN b_lad_area a ON a.lad_code = p.lad_code
        WHERE a.level <> 'lad'
        GROUP BY ALL
    ), people AS (
        SELECT m.area_code, s.sic_section,
            sum(n) FILTER (WHERE (sections >> bit) & 1 = 1) AS employees,
            sum(n) FILTER (WHERE (hired_into >> bit) & 1 = 1) AS new_hires,
            sum(n) FILTER (WHERE (hired_into >> bit) & 1 = 1 AND from_uc) AS uc_hires
        FROM masks m, sections s GROUP BY ALL
        UNION ALL
        SELECT area_code, 'Total', sum(n), sum(n) FILTER (WHERE hired_into <> 0),
               sum(n) FILTER (WHERE hired_into <> 0 AND from_uc)
        FROM masks GROUP BY ALL
    ), job_region AS (
        SELECT l.itl1_code, j.sic_section, j.pay
        FROM b_jobs j
        LEFT JOIN (SELECT person_token, lad_code FROM b_person WHERE lad_code <> max_lad_code) m
            USING (person_token)
        JOIN lad_lookup l ON l.lad_code = coalesce(m.lad_code, j.lad_code)
    ), pay AS (
        SELECT coalesce(itl1_code, 'K02000001') AS area_code,
               coalesce(sic_section, 'Total') AS sic_section, median(pay) AS median_pay
        FROM job_region
        GROUP BY GROUPING SETS ((itl1_code, sic_section), (itl1_code), (sic_section), ())
    ), firms AS (
        SELECT coalesce(l.itl1_code, 'K02000001') AS area_code,
               coalesce(b.sic_section, 'Total') AS sic_section,
               count(*) AS n, sum(employment) AS employment
        FROM b_bp b JOIN lad_lookup l USING (lad_code)
        GROUP BY GROUPING SETS ((l.itl1_code, b.sic_section), (l.itl1_code), (b.sic_section), ())
    ), grid AS (
        SELECT r.*, s.sic_section, s.o2
        FROM b_areas r,
             (SELECT sic_section, bit AS o2 FROM sections UNION ALL SELECT 'Total', 99) s
        WHERE r.area_level <> 'lad'
    )
    SELECT $month AS month, g.area_code, g.area_name, g.area_level, g.parent_code,
        g.sic_section,
        coalesce(people.employees, 0) AS employees,
        pay.median_pay, coalesce(people.employees, 0) AS median_pay_contributors,
        coalesce(people.new_hires, 0) AS new_hires,
        coalesce(people.uc_hires, 0) AS hires_from_uc,
        coalesce(firms.n, 0) AS enterprises,
        coalesce(firms.employment, 0) AS enterprise_employment,
        coalesce(firms.n, 0) AS enterprise_employment_contributors
    FROM grid g
    LEFT JOIN people USING (area_code, sic_section)
    LEFT JOIN pay USING (area_code, sic_section)
    LEFT JOIN firms USING (area_code, sic_section)
    ORDER BY g.o, g.area_code, g.o2
    """,
    # ---- claimant_outcomes ---------------------------------------------------------
    """
    CREATE OR REPLACE TEMP TABLE out_claimant_outcomes AS
    WITH members AS (
        SELECT c.lad_code, g.group_type, g.group_value,
               e.person_token IS NOT NULL AS employed_m3, m6.pay AS pay_m6
        FROM b_cohort c
        LEFT JOIN b_m3 e USING (person_token)
        LEFT JOIN b_m6 m6 USING (person_token)
        CROSS JOIN LATERAL (VALUES
            ('all', 'all'), ('age_band', c.age_band), ('sex', c.sex),
            ('disability', CASE WHEN c.disability THEN 'disabled' ELSE 'not disabled' END)
        ) g(group_type, group_value)
    ), agg AS (
        SELECT a.area_code, group_type, group_value, count(*) AS cohort,
               count(*) FILTER (WHERE employed_m3) AS e3, count(pay_m6) AS e6,
               median(pay_m6) AS pay6
        FROM members m JOIN b_lad_area a ON a.lad_code = m.lad_code
        GROUP BY ALL
    ), groups AS (
        SELECT * FROM (VALUES ('all', 'all', 1), ('age_band', '16-24', 2),
            ('age_band', '25-34', 3), ('age_band', '35-49', 4), ('age_band', '50-64', 5),
            ('age_band', '65+', 6), ('sex', 'F', 7), ('sex', 'M', 8),
            ('disability', 'disabled', 9), ('disability', 'not disabled', 10))
            g(group_type, group_value, o2)
    )
    SELECT $month AS month, r.area_code, r.area_name, r.area_level, r.parent_code,
        g.group_type, g.group_value,
        coalesce(x.cohort, 0) AS cohort,
        CASE WHEN v.has_m3 THEN coalesce(x.e3, 0) END AS employed_m3,
        CASE WHEN v.has_m6 THEN coalesce(x.e6, 0) END AS employed_m6,
        CASE WHEN v.has_m3 AND x.cohort > 0 THEN x.e3 / x.cohort END AS share_employed_m3,
        CASE WHEN v.has_m6 AND x.cohort > 0 THEN x.e6 / x.cohort END AS share_employed_m6,
        CASE WHEN v.has_m6 THEN x.pay6 END AS median_pay_m6,
        CASE WHEN v.has_m6 THEN coalesce(x.e6, 0) END AS median_pay_m6_contributors,
        NOT (v.has_m3 AND v.has_m6) AS provisional
    FROM b_areas r CROSS JOIN groups g CROSS JOIN b_avail v
    LEFT JOIN agg x USING (area_code, group_type, group_value)
    ORDER BY r.o, r.area_code, g.o2
    """,
    # ---- skills_outcomes -----------------------------------------------------------
    """
    CREATE OR REPLACE TEMP TABLE out_skills_outcomes AS
    WITH cells AS (
        SELECT DISTINCT person_token, s, lv
        FROM b_fe f, (VALUES (f.ssa_tier1), ('Total')) a(s), (VALUES (f.level), ('Total')) b(lv)
        WHERE f.outcome = 'achievement'
    ), agg AS (
        SELECT coalesce(l.itl1_code, 'K02000001') AS area_code, c.s AS ssa_tier1,
               c.lv AS level, count(*) AS n, count(m6.pay) AS e6, median(m6.pay) AS pay6
        FROM cells c JOIN b_achiever r USING (person_token)
        JOIN lad_lookup l ON l.lad_code = r.lad_code
        LEFT JOIN b_m6 m6 USING (person_token)
        GROUP BY GROUPING SETS ((l.itl1_code, c.s, c.lv), (c.s, c.lv))
    ), ssa AS (
        SELECT ssa_tier1, ssa_tier1 = 'Total' AS t FROM (
            SELECT unnest(['01 Health, Public Services and Care', '02 Science and Mathematics',
                '03 Agriculture, Horticulture and Animal Care',
                '04 Engineering and Manufacturing Technologies',
                '05 Construction, Planning and the Built Environment',
                '06 Information and Communication Technology',
                '07 Retail and Commercial Enterprise', '08 Leisure, Travel and Tourism',
                '09 Arts, Media and Publishing', '10 History, Philosophy and Theology',
                '11 Social Sciences', '12 Languages, Literature and Culture',
                '13 Education and Training', '14 Preparation for Life and Work',
                '15 Business, Administration and Law', 'Total']) AS ssa_tier1)
    ), levels AS (
        SELECT * FROM (VALUES ('Entry', 1), ('Level 1', 2), ('Level 2', 3), ('Level 3', 4),
            ('Level 4+', 5), ('Total', 6)) t(level, o3)
    )
    SELECT $month AS month, r.area_code, r.area_name, r.area_level, r.parent_code,
        s.ssa_tier1, lv.level,
        coalesce(x.n, 0) AS achievers,
        CASE WHEN v.has_m6 THEN coalesce(x.e6, 0) END AS employed_m6,
        CASE WHEN v.has_m6 AND x.n > 0 THEN x.e6 / x.n END AS share_employed_m6,
        CASE WHEN v.has_m6 THEN x.pay6 END AS median_pay_m6,
        CASE WHEN v.has_m6 THEN coalesce(x.e6, 0) END AS median_pay_m6_contributors,
        NOT v.has_m6 AS provisional
    FROM b_areas r CROSS JOIN ssa s CROSS JOIN levels lv CROSS JOIN b_avail v
    LEFT JOIN agg x USING (area_code, ssa_tier1, level)
    WHERE r.area_level <> 'lad'
    ORDER BY r.o, r.area_code, s.t, s.ssa_tier1, lv.o3
    """,
)


def run_baseline(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, pa.Table]:
    """Run the hand-written script; dataset name → its output."""
    check_month(month)
    for statement in BASELINE_SCRIPT:
        con.execute(statement, month_params(statement, month))
    return {
        name: con.sql(f"FROM out_{name}").to_arrow_table().cast(ds.schema)
        for name, ds in TRUST_DATASETS.items()
    }


def register_parquet_views(
    con: duckdb.DuckDBPyConnection, files: Mapping[str, Mapping[str, Sequence[str]]]
) -> None:
    """Feed views over Parquet data files: share name → month → file paths (e.g. a Delta
    version's ``file_uris()`` for that partition). The month column is added per month,
    since Delta data files do not hold the partition column."""
    for share, view in VIEW_NAMES.items():
        months = files.get(share, {})
        parts = [
            f"SELECT *, {_lit(month)} AS month FROM read_parquet("
            f"[{', '.join(map(_lit, paths))}], hive_partitioning = false)"
            for month, paths in sorted(months.items())
            if paths
        ]
        if not parts:
            raise ValueError(f"no files for {share}")
        con.execute(f"CREATE OR REPLACE VIEW {view} AS " + "\nUNION ALL BY NAME\n".join(parts))


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class BenchResult:
    month: str
    dataset_seconds: dict[str, float]
    baseline_seconds: float

    @property
    def datasets_total(self) -> float:
        return sum(self.dataset_seconds.values())

    @property
    def ratio(self) -> float:
        return self.datasets_total / self.baseline_seconds


def bench(con: duckdb.DuckDBPyConnection, month: str) -> BenchResult:
    """Time each dataset's SQL, then the hand-written script, on the same views."""
    timings = {}
    for name, ds in TRUST_DATASETS.items():
        start = time.perf_counter()
        compute(con, ds, month)
        timings[name] = time.perf_counter() - start
    start = time.perf_counter()
    run_baseline(con, month)
    return BenchResult(month, timings, time.perf_counter() - start)


def format_bench(result: BenchResult) -> str:
    lines = [f"trust datasets, month {result.month}"]
    lines += [f"  {name:<22} {s:8.2f} s" for name, s in result.dataset_seconds.items()]
    lines.append(f"  {'all four':<22} {result.datasets_total:8.2f} s")
    lines.append(f"  {'hand-written script':<22} {result.baseline_seconds:8.2f} s")
    lines.append(f"  ratio {result.ratio:.2f}")
    return "\n".join(lines)
