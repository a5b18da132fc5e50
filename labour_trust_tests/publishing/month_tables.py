"""Small synthetic months of the four published tables, built from simulated people so
that every additivity and every declared relation holds (for protect_month tests)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from labour_trust.feeds.vocabulary import AGE_BANDS, FE_LEVELS, SEXES
from labour_trust.publishing.tables import PUBLISHED
from labour_trust.reference import UK_CODE, itl1_of
from labour_trust.trust.claimant_outcomes import GROUPS
from labour_trust.trust.local_labour_market import REGIME_COLUMNS, SIZE_COLUMNS

MONTH = "2024-01"
REGION = sorted(set(itl1_of().values()))[0]
LADS = sorted(lad for lad, region in itl1_of().items() if region == REGION)[:3]
SECTIONS = ("A", "B", "C")
SUBJECTS = ("Health", "Retail")
LEVELS = FE_LEVELS[:2]


def _area(code: str) -> dict[str, object]:
    level = "uk" if code == UK_CODE else "itl1" if code == REGION else "lad"
    parent = None if code == UK_CODE else UK_CODE if code == REGION else REGION
    return {"area_name": code, "area_level": level, "parent_code": parent}


def _up(lad: str, regional: bool) -> list[str]:
    return [REGION, UK_CODE] if regional else [lad, REGION, UK_CODE]


def month_tables(seed: int = 0, size: float = 1.0, correction: int = 0) -> dict[str, pa.Table]:
    """``correction``: that many late searching-for-work claimants in the first LAD (a
    corrected month: the rest of the data is unchanged)."""
    rng = np.random.default_rng(seed)
    llm, cohort = _llm_and_cohort(rng, size, correction)
    return {
        "local_labour_market": llm,
        "claimant_outcomes": cohort,
        "skills_outcomes": _skills(rng, size),
        "sector_view": _sectors(rng, size),
    }


def _llm_and_cohort(rng, size: float, correction: int) -> tuple[pa.Table, pa.Table]:
    regimes = list(REGIME_COLUMNS.values())
    llm: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    co: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    late = np.random.default_rng(10_000 + correction)  # the correction's own draws
    for lad in LADS:
        n = int(rng.integers(5, 80) * size) + 1
        shares = rng.dirichlet(np.ones(len(regimes)))
        extra = correction if lad == LADS[0] else 0
        for person in range(n + extra):
            r = rng if person < n else late
            regime = regimes[r.choice(len(regimes), p=shares)] if person < n else regimes[0]
            paye = r.random() < 0.4
            for area in _up(lad, False):
                llm[area]["uc_claimants"] += 1
                llm[area][regime] += 1
                llm[area]["uc_claimants_in_paye"] += paye
            if regime != REGIME_COLUMNS["Searching for work"]:
                continue
            person = {
                "age_band": AGE_BANDS[r.integers(len(AGE_BANDS))],
                "sex": SEXES[r.integers(2)],
                "disability": "disabled" if r.random() < 0.2 else "not disabled",
            }
            m3, m6 = r.random() < 0.5, r.random() < 0.4
            for area in _up(lad, False):
                for group_type, group_value in GROUPS:
                    if group_type != "all" and person[group_type] != group_value:
                        continue
                    row = co[(area, group_type, group_value)]
                    row["cohort"] += 1
                    row["employed_m3"] += m3
                    row["employed_m6"] += m6
        sizes = rng.integers(0, 30, len(SIZE_COLUMNS))
        paye = int(rng.integers(20, 200))
        starts = int(rng.integers(0, 40))
        achieved = int(rng.integers(0, 30))
        for area in _up(lad, False):
            for c, k in zip(SIZE_COLUMNS.values(), sizes, strict=True):
                llm[area][c] += int(k)
                llm[area]["enterprises"] += int(k)
            llm[area]["paye_employees"] += paye
            llm[area]["fe_starts"] += starts
            llm[area]["fe_starts_contributors"] += starts
            llm[area]["fe_achievements"] += achieved
            llm[area]["fe_achievements_contributors"] += achieved
    areas = [*LADS, REGION, UK_CODE]
    counts = PUBLISHED["local_labour_market"].counts
    rows = []
    for area in areas:
        v = llm[area]
        row = {"month": MONTH, "area_code": area, **_area(area)}
        row.update({c: int(v[c]) for c in counts})
        row.update(
            {
                "median_pay": 2000.0,
                "mean_pay": 2100.0,
                "median_pay_contributors": int(v["paye_employees"]),
                "mean_pay_contributors": int(v["paye_employees"]),
                "fe_starts_contributors": int(v["fe_starts_contributors"]),
                "fe_achievements_contributors": int(v["fe_achievements_contributors"]),
            }
        )
        rows.append(row)
    co_rows = []
    for area in areas:
        for group_type, group_value in GROUPS:
            v = co[(area, group_type, group_value)]
            cohort = int(v["cohort"])
            co_rows.append(
                {
                    "month": MONTH,
                    "area_code": area,
                    **_area(area),
                    "group_type": group_type,
                    "group_value": group_value,
                    "provisional": False,
                    "cohort": cohort,
                    "employed_m3": int(v["employed_m3"]),
                    "employed_m6": int(v["employed_m6"]),
                    "share_employed_m3": v["employed_m3"] / cohort if cohort else None,
                    "share_employed_m6": v["employed_m6"] / cohort if cohort else None,
                    "median_pay_m6": 1500.0 if v["employed_m6"] else None,
                    "median_pay_m6_contributors": int(v["employed_m6"]),
                }
            )
    return _table(rows), _table(co_rows)


def _skills(rng, size: float) -> pa.Table:
    cells: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for subject in SUBJECTS:
        for level in LEVELS:
            achievers = int(rng.integers(0, 40) * size)
            employed = int(rng.binomial(achievers, 0.6))
            for area in (REGION, UK_CODE):
                cells[(area, subject, level)]["achievers"] += achievers
                cells[(area, subject, level)]["employed_m6"] += employed
    rows = []
    for (area, subject, level), v in cells.items():
        rows.append(
            {
                "month": MONTH,
                "area_code": area,
                **_area(area),
                "ssa_tier1": subject,
                "level": level,
                "provisional": False,
                "achievers": v["achievers"],
                "employed_m6": v["employed_m6"],
                "share_employed_m6": v["employed_m6"] / v["achievers"] if v["achievers"] else None,
                "median_pay_m6": 1700.0 if v["employed_m6"] else None,
                "median_pay_m6_contributors": v["employed_m6"],
            }
        )
    return _table(rows)


def _sectors(rng, size: float) -> pa.Table:
    rows = []
    for section in SECTIONS:
        employees = int(rng.integers(0, 100) * size)
        hires = int(rng.binomial(employees, 0.2))
        from_uc = int(rng.binomial(hires, 0.3))
        enterprises = int(rng.integers(0, 20))
        for area in (REGION, UK_CODE):
            rows.append(
                {
                    "month": MONTH,
                    "area_code": area,
                    **_area(area),
                    "sic_section": section,
                    "employees": employees,
                    "new_hires": hires,
                    "hires_from_uc": from_uc,
                    "enterprises": enterprises,
                    "median_pay": 2200.0,
                    "enterprise_employment": float(employees),
                    "median_pay_contributors": employees,
                    "enterprise_employment_contributors": enterprises,
                }
            )
    return _table(rows)


def _table(rows: list[dict[str, object]]) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    # Counts are int64 in the trust datasets; pylist of ints already is.
    return table


def month_contributors(tables: dict[str, pa.Table]) -> dict[str, dict[str, pa.Table]]:
    """Contributor-level values for the magnitudes that need dominance rules: many equal
    contributors, so that no magnitude is dominated."""
    llm = tables["local_labour_market"]
    pay = {"month": [], "area_code": [], "value": []}
    for area, n in zip(
        llm["area_code"].to_pylist(), llm["paye_employees"].to_pylist(), strict=True
    ):
        if area in LADS:
            pay["month"] += [MONTH] * n
            pay["area_code"] += [area] * n
            pay["value"] += [2100.0] * n
    sectors = tables["sector_view"]
    firms = {"month": [], "area_code": [], "sic_section": [], "value": []}
    for area, section, n, employees in zip(
        sectors["area_code"].to_pylist(),
        sectors["sic_section"].to_pylist(),
        sectors["enterprises"].to_pylist(),
        sectors["employees"].to_pylist(),
        strict=True,
    ):
        if area == REGION and n:
            firms["month"] += [MONTH] * n
            firms["area_code"] += [area] * n
            firms["sic_section"] += [section] * n
            firms["value"] += [employees / n] * n
    return {
        "local_labour_market": {"mean_pay": pa.table(pay)},
        "sector_view": {"enterprise_employment": pa.table(firms)},
    }
