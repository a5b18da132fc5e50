"""Independent computation of the trust datasets in plain Python, from the dataset definitions
(not from the SQL), to check the SQL against.

Inputs are lists of row dicts per feed table (all months); outputs are lists of row dicts
keyed like the SQL output. Deliberately naive: loops over rows, sets and
statistics.median.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable

from labour_trust.feeds.vocabulary import (
    AGE_BANDS,
    CONDITIONALITY_REGIMES,
    FE_LEVELS,
    SEXES,
    SIC_SECTIONS,
    SIZE_BANDS,
    SSA_TIER1,
)
from labour_trust.reference.geography import UK_CODE, UK_NAME, lads

Rows = list[dict]
TOTAL = "Total"
REGIME_COLS = {
    "Searching for work": "uc_searching_for_work",
    "Working - with requirements": "uc_working_with_requirements",
    "No work requirements": "uc_no_work_requirements",
    "Planning for work": "uc_planning_for_work",
    "Preparing for work": "uc_preparing_for_work",
    "Working - no requirements": "uc_working_no_requirements",
}
SIZE_COLS = {
    "micro (0-9)": "enterprises_micro",
    "small (10-49)": "enterprises_small",
    "medium (50-249)": "enterprises_medium",
    "large (250+)": "enterprises_large",
}
assert set(REGIME_COLS) == set(CONDITIONALITY_REGIMES)
assert set(SIZE_COLS) == set(SIZE_BANDS)


def shift(month: str, k: int) -> str:
    y, m = map(int, month.split("-"))
    i = y * 12 + (m - 1) + k
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def of_month(rows: Rows, month: str) -> Rows:
    return [r for r in rows if r["month"] == month]


class Geo:
    """LAD → region lookups and the list of areas in output order."""

    def __init__(self) -> None:
        self.lads = {lad.code: lad for lad in lads()}
        self.region_name = {lad.itl1_code: lad.itl1_name for lad in lads()}

    def region(self, lad_code: str) -> str:
        return self.lads[lad_code].itl1_code

    def areas(self, with_lads: bool = True) -> list[dict]:
        out = [dict(area_code=UK_CODE, area_name=UK_NAME, area_level="uk", parent_code=None)]
        for code in sorted(self.region_name):
            out.append(
                dict(
                    area_code=code,
                    area_name=self.region_name[code],
                    area_level="itl1",
                    parent_code=UK_CODE,
                )
            )
        if with_lads:
            for code in sorted(self.lads):
                lad = self.lads[code]
                out.append(
                    dict(
                        area_code=code,
                        area_name=lad.name,
                        area_level="lad",
                        parent_code=lad.itl1_code,
                    )
                )
        return out

    def in_area(self, lad_code: str, area: dict) -> bool:
        if lad_code not in self.lads:
            return False
        level = area["area_level"]
        if level == "uk":
            return True
        if level == "itl1":
            return self.region(lad_code) == area["area_code"]
        return lad_code == area["area_code"]


def residence(rows: Iterable[dict]) -> dict[str, str]:
    """person → their single LAD: the smallest LAD code among their rows (the documented
    rule for a person whose rows disagree)."""
    out: dict[str, str] = {}
    for r in rows:
        p = r["person_token"]
        out[p] = min(out.get(p, r["lad_code"]), r["lad_code"])
    return out


def pay_per_person(rows: Iterable[dict]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        out[r["person_token"]] += r["gross_pay_month"]
    return dict(out)


# ------------------------------------------------------------------ local_labour_market


def local_labour_market(feeds: dict[str, Rows], month: str) -> Rows:
    geo = Geo()
    uc = of_month(feeds["uc_claimants"], month)
    paye = of_month(feeds["paye_rti"], month)
    fe = of_month(feeds["fe_learners"], month)
    bp = of_month(feeds["business_population"], month)
    home = residence(paye)
    pay = pay_per_person(paye)
    out = []
    for area in geo.areas():
        inside = lambda lad, a=area: geo.in_area(lad, a)  # noqa: E731
        claimants = [r for r in uc if inside(r["lad_code"])]
        employed = [p for p, lad in home.items() if inside(lad)]
        pays = [pay[p] for p in employed]
        starts = [r for r in fe if inside(r["lad_code"]) and r["outcome"] == "start"]
        achieved = [r for r in fe if inside(r["lad_code"]) and r["outcome"] == "achievement"]
        firms = [r for r in bp if inside(r["lad_code"])]
        row = dict(month=month, **area, uc_claimants=len(claimants))
        for regime, col in REGIME_COLS.items():
            row[col] = sum(r["conditionality_regime"] == regime for r in claimants)
        row["uc_claimants_in_paye"] = sum(r["person_token"] in pay for r in claimants)
        row.update(
            paye_employees=len(employed),
            median_pay=median(pays),
            median_pay_contributors=len(pays),
            mean_pay=sum(pays) / len(pays) if pays else None,
            mean_pay_contributors=len(pays),
            fe_starts=len(starts),
            fe_starts_contributors=len({r["person_token"] for r in starts}),
            fe_achievements=len(achieved),
            fe_achievements_contributors=len({r["person_token"] for r in achieved}),
            enterprises=len(firms),
        )
        for band, col in SIZE_COLS.items():
            row[col] = sum(r["size_band"] == band for r in firms)
        out.append(row)
    return out


def local_labour_market_contributors(feeds: dict[str, Rows], month: str) -> dict:
    """Mean pay's contributors: (month, area_code) → sorted per-person pay values."""
    geo = Geo()
    paye = of_month(feeds["paye_rti"], month)
    home, pay = residence(paye), pay_per_person(paye)
    cells: dict[tuple, list[float]] = defaultdict(list)
    for p, lad in home.items():
        for code in (lad, geo.region(lad), UK_CODE):
            cells[(month, code)].append(pay[p])
    return {"mean_pay": {k: sorted(v) for k, v in cells.items()}}


# -------------------------------------------------------------------------- sector_view


def _in_month(d: dt.date, month: str) -> bool:
    return d.strftime("%Y-%m") == month


def sector_view(feeds: dict[str, Rows], month: str) -> Rows:
    geo = Geo()
    paye = of_month(feeds["paye_rti"], month)
    bp = of_month(feeds["business_population"], month)
    on_uc_before = {r["person_token"] for r in of_month(feeds["uc_claimants"], shift(month, -1))}
    home = residence(paye)
    out = []
    for area in geo.areas(with_lads=False):
        for section in (*SIC_SECTIONS, TOTAL):
            jobs = [
                r
                for r in paye
                if geo.in_area(home[r["person_token"]], area)
                and section in (TOTAL, r["sic_section"])
            ]
            people = {r["person_token"] for r in jobs}
            hired = {r["person_token"] for r in jobs if _in_month(r["start_date"], month)}
            firms = [
                r
                for r in bp
                if geo.in_area(r["lad_code"], area) and section in (TOTAL, r["sic_section"])
            ]
            out.append(
                dict(
                    month=month,
                    **area,
                    sic_section=section,
                    employees=len(people),
                    median_pay=median([r["gross_pay_month"] for r in jobs]),
                    median_pay_contributors=len(people),
                    new_hires=len(hired),
                    hires_from_uc=len(hired & on_uc_before),
                    enterprises=len(firms),
                    enterprise_employment=sum(r["employment"] for r in firms),
                    enterprise_employment_contributors=len(firms),
                )
            )
    return out


def sector_view_contributors(feeds: dict[str, Rows], month: str) -> dict:
    """Enterprise employment's contributors: the enterprises of each cell."""
    geo = Geo()
    emp_cells: dict[tuple, list[float]] = defaultdict(list)
    for r in of_month(feeds["business_population"], month):
        for code in (geo.region(r["lad_code"]), UK_CODE):
            for section in (r["sic_section"], TOTAL):
                emp_cells[(month, code, section)].append(float(r["employment"]))
    return {"enterprise_employment": {k: sorted(v) for k, v in emp_cells.items()}}


# -------------------------------------------------------------------- claimant_outcomes

GROUPS = (
    ("all", "all"),
    *(("age_band", a) for a in AGE_BANDS),
    *(("sex", s) for s in SEXES),
    ("disability", "disabled"),
    ("disability", "not disabled"),
)


def _group_of(row: dict, group_type: str) -> str:
    if group_type == "all":
        return "all"
    if group_type == "disability":
        return "disabled" if row["disability"] else "not disabled"
    return row[group_type]


def claimant_outcomes(feeds: dict[str, Rows], month: str) -> Rows:
    geo = Geo()
    cohort = [
        r
        for r in of_month(feeds["uc_claimants"], month)
        if r["conditionality_regime"] == "Searching for work"
    ]
    paye3 = of_month(feeds["paye_rti"], shift(month, 3))
    paye6 = of_month(feeds["paye_rti"], shift(month, 6))
    has3, has6 = bool(paye3), bool(paye6)
    employed3 = {r["person_token"] for r in paye3}
    pay6 = pay_per_person(paye6)
    out = []
    for area in geo.areas():
        for group_type, group_value in GROUPS:
            members = [
                r["person_token"]
                for r in cohort
                if geo.in_area(r["lad_code"], area) and _group_of(r, group_type) == group_value
            ]
            n = len(members)
            e3 = sum(p in employed3 for p in members)
            pays = [pay6[p] for p in members if p in pay6]
            out.append(
                dict(
                    month=month,
                    **area,
                    group_type=group_type,
                    group_value=group_value,
                    cohort=n,
                    employed_m3=e3 if has3 else None,
                    employed_m6=len(pays) if has6 else None,
                    share_employed_m3=e3 / n if has3 and n else None,
                    share_employed_m6=len(pays) / n if has6 and n else None,
                    median_pay_m6=median(pays) if has6 else None,
                    median_pay_m6_contributors=len(pays) if has6 else None,
                    provisional=not (has3 and has6),
                )
            )
    return out


# ---------------------------------------------------------------------- skills_outcomes


def _achievements(feeds: dict[str, Rows], month: str) -> Rows:
    return [r for r in of_month(feeds["fe_learners"], month) if r["outcome"] == "achievement"]


def skills_outcomes(feeds: dict[str, Rows], month: str) -> Rows:
    geo = Geo()
    achieved = _achievements(feeds, month)
    home = residence(achieved)
    paye6 = of_month(feeds["paye_rti"], shift(month, 6))
    has6 = bool(paye6)
    pay6 = pay_per_person(paye6)
    out = []
    for area in geo.areas(with_lads=False):
        for ssa in (*SSA_TIER1, TOTAL):
            for level in (*FE_LEVELS, TOTAL):
                people = {
                    r["person_token"]
                    for r in achieved
                    if geo.in_area(home[r["person_token"]], area)
                    and ssa in (TOTAL, r["ssa_tier1"])
                    and level in (TOTAL, r["level"])
                }
                pays = [pay6[p] for p in people if p in pay6]
                n = len(people)
                out.append(
                    dict(
                        month=month,
                        **area,
                        ssa_tier1=ssa,
                        level=level,
                        achievers=n,
                        employed_m6=len(pays) if has6 else None,
                        share_employed_m6=len(pays) / n if has6 and n else None,
                        median_pay_m6=median(pays) if has6 else None,
                        median_pay_m6_contributors=len(pays) if has6 else None,
                        provisional=not has6,
                    )
                )
    return out


DATASETS = {
    "local_labour_market": (local_labour_market, local_labour_market_contributors),
    "sector_view": (sector_view, sector_view_contributors),
    # Medians only: they rely on their contributor counts (no dominance rules).
    "claimant_outcomes": (claimant_outcomes, lambda feeds, month: {}),
    "skills_outcomes": (skills_outcomes, lambda feeds, month: {}),
}
