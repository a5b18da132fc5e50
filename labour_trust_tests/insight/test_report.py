"""The pictures show published values only, and exactly the suppressed cells as suppressed."""

from __future__ import annotations

import base64

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from labour_trust.insight import report
from labour_trust.insight.hexmap import centre, lad_tiles
from labour_trust.reference.geography import UK_CODE, lads

MONTH = "2024-01"
SUPPRESSED_LADS = {"E06000001", "E09000001", "S12000013", "W06000001"}
NOT_APPLICABLE_LADS = {"E06000053"}  # no employees: the median is 'z'
SUPPRESSED_BOTH = {"N09000001"}  # the count behind the median is suppressed too
MISSING_LAD = "E07000008"


def trust_and_published(seed: int = 3) -> tuple[pa.Table, pa.Table]:
    """A trust-like month (unrounded) and what publishing it would give: rounded to £100,
    nulls where suppressed or not applicable, one LAD row missing."""
    rng = np.random.default_rng(seed)
    trust, published = [], []
    for lad in lads():
        employees = 0 if lad.code in NOT_APPLICABLE_LADS else int(rng.integers(20, 5000))
        pay = None if employees == 0 else float(rng.uniform(1200, 3300))
        row = _row(lad.code, lad.name, "lad", lad.itl1_code, employees, pay)
        trust.append(row)
        if lad.code == MISSING_LAD:
            continue
        hidden = lad.code in SUPPRESSED_LADS | SUPPRESSED_BOTH
        published.append(
            {
                **row,
                "paye_employees": None if lad.code in SUPPRESSED_BOTH else employees,
                "median_pay": None if hidden or pay is None else round(pay, -2),
            }
        )
    regions = sorted({lad.itl1_code for lad in lads()})
    for i, region in enumerate(regions):
        pay = None if i == 0 else 2000.0 + 100 * i  # the first region suppressed
        published.append(_row(region, f"Region {region}", "itl1", UK_CODE, 1000, pay))
    published.append(_row(UK_CODE, "United Kingdom", "uk", None, 50000, 2100.0))
    return pa.Table.from_pylist(trust), pa.Table.from_pylist(published)


def _row(code, name, level, parent, employees, pay) -> dict[str, object]:
    return {
        "month": MONTH,
        "area_code": code,
        "area_name": name,
        "area_level": level,
        "parent_code": parent,
        "paye_employees": employees,
        "median_pay": pay,
    }


def sector_table() -> pa.Table:
    rows = []
    for section, employees, pay in [("A", 100, 1500.0), ("B", None, None), ("U", 0, None)]:
        rows.append(
            {
                "month": MONTH,
                "area_code": UK_CODE,
                "area_name": "United Kingdom",
                "area_level": "uk",
                "parent_code": None,
                "sic_section": section,
                "employees": employees,
                "median_pay": pay,
            }
        )
    return pa.Table.from_pylist(rows)


def expected_states(published: pa.Table) -> dict[str, set[str]]:
    """From the table alone, independently of the renderer: LAD rows with a null median
    are 'c' unless their employee count is published as 0 ('z')."""
    lad_rows = published.filter(pc.equal(published["area_level"], "lad"))
    null = pc.is_null(lad_rows["median_pay"])
    zero = pc.fill_null(pc.equal(lad_rows["paye_employees"], 0), False)
    codes = lad_rows["area_code"]
    return {
        report.SUPPRESSED: set(codes.filter(pc.and_(null, pc.invert(zero))).to_pylist()),
        report.NOT_APPLICABLE: set(codes.filter(pc.and_(null, zero)).to_pylist()),
        report.NO_ROW: set(lad_tiles()) - set(codes.to_pylist()),
    }


def test_exactly_the_suppressed_lads_are_drawn_suppressed():
    _, published = trust_and_published()
    cells = report.lad_cells(published)
    drawn = {
        state: {code for code, cell in cells.items() if cell.state == state}
        for state in (report.SUPPRESSED, report.NOT_APPLICABLE, report.NO_ROW)
    }
    assert drawn == expected_states(published)
    assert drawn[report.SUPPRESSED] == SUPPRESSED_LADS | SUPPRESSED_BOTH
    assert drawn[report.NOT_APPLICABLE] == NOT_APPLICABLE_LADS
    assert drawn[report.NO_ROW] == {MISSING_LAD}


def _collection(fig, gid: str):
    (found,) = [c for c in fig.axes[0].collections if c.get_gid() == gid]
    return found


def _centres(collection) -> set[tuple[float, float]]:
    """Where the collection's hexes are drawn (mean of each hexagon's six corners)."""
    return {tuple(np.round(p.vertices[:6].mean(axis=0), 6)) for p in collection.get_paths()}


def test_the_map_draws_published_values_and_hatches_the_suppressed_tiles():
    trust, published = trust_and_published()
    fig = report.map_figure(published, MONTH)
    tiles = lad_tiles()
    values = {r["area_code"]: r["median_pay"] for r in published.to_pylist()}
    cells = report.lad_cells(published)
    shown = [code for code, cell in cells.items() if cell.state == report.SHOWN]

    colour = _collection(fig, report.SHOWN)
    assert list(colour.get_array()) == [values[code] for code in shown]
    # Published values are whole £100s; the trust's unrounded values are never drawn.
    trust_values = {v for v in trust["median_pay"].to_pylist() if v is not None}
    assert not trust_values & set(colour.get_array())

    hatched = _collection(fig, report.SUPPRESSED)
    assert hatched.get_hatch() == "////"
    suppressed = SUPPRESSED_LADS | SUPPRESSED_BOTH
    assert _centres(hatched) == {tuple(np.round(centre(tiles[c]), 6)) for c in suppressed}
    assert _centres(colour) == {tuple(np.round(centre(tiles[c]), 6)) for c in shown}
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "suppressed (5)" in legend


def test_a_month_without_suppression_still_explains_the_hatching():
    _, published = trust_and_published()
    filled = published.set_column(
        published.schema.get_field_index("median_pay"),
        "median_pay",
        pc.fill_null(published["median_pay"], 2000.0),
    )
    fig = report.map_figure(filled, MONTH)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["suppressed (0)", "no row (1)"]


def test_regions_and_sectors_mark_their_suppressed_bars():
    _, published = trust_and_published()
    regions = report.region_cells(published)
    first = sorted(regions)[0]
    assert [c for c, (_, cell) in regions.items() if cell.state == report.SUPPRESSED] == [first]
    fig = report.region_figure(published, MONTH)
    assert [t.get_text() for t in fig.axes[0].texts].count("c  suppressed") == 1

    sectors = sector_table()
    employees, pay = (report.sector_cells(sectors, m) for m in report.SECTOR_MEASURES)
    assert {s: c.state for s, c in employees.items()} == {
        "A": report.SHOWN,
        "B": report.SUPPRESSED,
        "U": report.SHOWN,  # a published 0
    }
    assert {s: c.state for s, c in pay.items()} == {
        "A": report.SHOWN,
        "B": report.SUPPRESSED,
        "U": report.NOT_APPLICABLE,
    }


def test_the_page_embeds_every_picture_and_loads_nothing():
    _, published = trust_and_published()
    rendered = report.render_report(published, sector_table(), MONTH)
    page = rendered.html()
    assert [p.name for p in rendered.pictures] == ["map", "regions", "sectors"]
    for picture in rendered.pictures:
        assert picture.png.startswith(b"\x89PNG")
        assert f"data:image/png;base64,{base64.b64encode(picture.png).decode()}" in page
    assert "http" not in page.replace("<!DOCTYPE html>", "")  # no external resource
    assert rendered.counts["lads_suppressed"] == 5
    assert rendered.counts["lads_drawn"] == 361 - 5 - 1 - 1
    assert rendered.markdown().count("](data:image/png;base64,") == 3


@pytest.mark.parametrize("value", [None, float("nan")])
def test_a_missing_value_is_never_drawn_as_a_number(value):
    cell = report.cell_of({"median_pay": value, "paye_employees": 40}, report.HEADLINE)
    assert cell == report.Cell(report.SUPPRESSED)
