"""`labour-trust bench --report`: time to render the insight report of a national month.

The pipeline is not run: published-shaped tables of a national month are synthesised (LAD
sizes from `disclosure.bench.synthetic_local_labour_market` at scale 1.0, every LAD, ITL1
region and the UK; sector rows for every region and SIC section) with values rounded as
published and some cells suppressed (null): the two tiny LADs' median pay, as the demo's
publications suppress them, and the small sections (T, U) where they are small. What is
timed is what a run of `published/insight_report` does after reading the tables: import
the renderer, draw the three pictures to PNG and build the HTML page.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from labour_trust.benchmarks.sdc import TINY_LADS, synthetic_local_labour_market
from labour_trust.feeds.vocabulary import SIC_SECTIONS
from labour_trust.reference.geography import UK_CODE, UK_NAME, lads

TARGET_SECONDS = 10.0
MONTH = "2025-01"
EMPLOYEES_PER_CLAIMANT = 5  # about 30 million PAYE employees against 6 million claimants
TINY_SECTIONS = ("T", "U")  # households as employers, extraterritorial organisations


def _round(values: np.ndarray, base: int) -> np.ndarray:
    return (np.round(values / base) * base).astype(np.int64)


def national_local_labour_market(seed: int = 0) -> pa.Table:
    """Published-shaped local_labour_market rows (the columns the report reads)."""
    rng = np.random.default_rng(seed)
    sizes = synthetic_local_labour_market(1.0, seed)
    codes, totals = sizes["area_code"].to_pylist(), sizes["claimants_total"].to_pylist()
    claimants = dict(zip(codes, totals, strict=True))
    rows = []
    by_region: dict[str, list[tuple[int, float]]] = {}
    for lad in lads():
        employees = claimants[lad.code] * EMPLOYEES_PER_CLAIMANT
        pay = float(rng.lognormal(np.log(2200), 0.12))
        by_region.setdefault(lad.itl1_code, []).append((employees, pay))
        median = None if lad.code in TINY_LADS else round(pay, -2)
        rows.append(_area(lad.code, lad.name, "lad", lad.itl1_code, employees, median))
    names = {lad.itl1_code: lad.itl1_name for lad in lads()}
    for region, members in sorted(by_region.items()):
        employees, pay = _pooled(members)
        rows.append(_area(region, names[region], "itl1", UK_CODE, employees, round(pay, -2)))
    employees, pay = _pooled([m for ms in by_region.values() for m in ms])
    rows.append(_area(UK_CODE, UK_NAME, "uk", None, employees, round(pay, -2)))
    return pa.Table.from_pylist(rows)


def _pooled(members: list[tuple[int, float]]) -> tuple[int, float]:
    weights = np.array([e for e, _ in members], dtype=float)
    pays = np.array([p for _, p in members])
    return int(weights.sum()), float((weights * pays).sum() / weights.sum())


def _area(
    code: str, name: str, level: str, parent: str | None, employees: int, median: float | None
) -> dict[str, object]:
    return {
        "month": MONTH,
        "area_code": code,
        "area_name": name,
        "area_level": level,
        "parent_code": parent,
        "paye_employees": int(_round(np.array([employees]), 5)[0]),
        "median_pay": median,
    }


def national_sector_view(local_labour_market: pa.Table, seed: int = 0) -> pa.Table:
    """Published-shaped sector_view rows: every region and the UK by SIC section."""
    rng = np.random.default_rng(seed + 1)
    shares = rng.dirichlet(np.full(len(SIC_SECTIONS), 2.0))
    shares[[SIC_SECTIONS.index(s) for s in TINY_SECTIONS]] *= 0.0005
    section_pay = rng.lognormal(np.log(2200), 0.3, size=len(SIC_SECTIONS))
    rows = []
    for area in local_labour_market.to_pylist():
        if area["area_level"] == "lad":
            continue
        employees = _round(area["paye_employees"] * shares, 5)
        for section, count, pay in zip(SIC_SECTIONS, employees, section_pay, strict=True):
            small = count < 500  # small cells suppressed, as disclosure control would
            rows.append(
                {
                    **{k: area[k] for k in ("month", "area_code", "area_name", "area_level")},
                    "parent_code": area["parent_code"],
                    "sic_section": section,
                    "employees": None if small else int(count),
                    "median_pay": None if small else round(float(pay), -2),
                }
            )
    return pa.Table.from_pylist(rows)


def bench_report(seed: int = 0) -> dict[str, float | int]:
    """Seconds to import the renderer, draw the pictures and build the page."""
    local_labour_market = national_local_labour_market(seed)
    sector_view = national_sector_view(local_labour_market, seed)
    started = time.perf_counter()
    from labour_trust.insight.report import render_report

    imported = time.perf_counter()
    report = render_report(local_labour_market, sector_view, MONTH)
    rendered = time.perf_counter()
    page = report.html()
    done = time.perf_counter()
    return {
        "import_s": imported - started,
        "render_s": rendered - imported,
        "html_s": done - rendered,
        "seconds": done - started,
        "html_bytes": len(page),
        "png_bytes": sum(len(p.png) for p in report.pictures),
        **report.counts,
    }


def run_report_bench(seed: int = 0) -> dict[str, float | int]:
    r = bench_report(seed)
    print(
        f"insight report for a national month ({MONTH}, {r['lads_drawn']} LADs drawn, "
        f"{r['lads_suppressed']} suppressed; {r['sector_cells_suppressed']} sector cells "
        "suppressed)"
    )
    print(
        f"  import {r['import_s']:.2f} s, three pictures {r['render_s']:.2f} s, HTML "
        f"{r['html_s']:.3f} s ({r['html_bytes'] / 1e3:.0f} kB, PNGs {r['png_bytes'] / 1e3:.0f} kB)"
    )
    print(
        f"  total {r['seconds']:.2f} s, ratio to {TARGET_SECONDS:.0f} s target "
        f"{r['seconds'] / TARGET_SECONDS:.2f}"
    )
    return r
