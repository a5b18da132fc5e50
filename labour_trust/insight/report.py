"""The insight report of a month, drawn from published (disclosure-controlled) tables only.

Pure rendering: Arrow tables in, PNG bytes and a self-contained HTML page out. Three
pictures: a hex-tile map of the headline by LAD (`hexmap.py`), the same headline by ITL1
region, and employees and median pay by SIC section for the UK.

The headline is median monthly pay: the published `local_labour_market` has no resident
population, so a claimant rate per resident cannot be formed from published values, and
median pay is a published figure in its own right.

Suppression as the table shows it: in the published Delta table a suppressed cell ('c' in
the CSV) and a not-applicable one ('z') are both null. A null is drawn *suppressed* unless
the table itself shows there was nothing to measure — the count behind the figure published
as 0 (no employees: no median), which the CSV shows as 'z'. When that count is suppressed
too, the null stays "suppressed": the reader cannot know more, and neither does the picture.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display: rendered inside runs and the CLI

import matplotlib.pyplot as plt
import pyarrow as pa
from matplotlib import patheffects
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, RegularPolygon
from matplotlib.ticker import FuncFormatter

from labour_trust.evaluation.plot import markdown_image
from labour_trust.insight.hexmap import NEIGHBOURS, centre, lad_tiles, region_of_tile

SHOWN, SUPPRESSED, NOT_APPLICABLE, NO_ROW = "shown", "suppressed", "not applicable", "no row"
SUPPRESSED_STYLE = {"facecolor": "#d9d9d9", "edgecolor": "#7f7f7f", "hatch": "////"}
NOT_APPLICABLE_STYLE = {"facecolor": "white", "edgecolor": "#7f7f7f", "hatch": ""}
NO_ROW_STYLE = {"facecolor": "white", "edgecolor": "#bfbfbf", "hatch": "..", "linestyle": ":"}
STATE_STYLES = {
    SUPPRESSED: SUPPRESSED_STYLE,
    NOT_APPLICABLE: NOT_APPLICABLE_STYLE,
    NO_ROW: NO_ROW_STYLE,
}
CMAP = "viridis"
DPI = 100
REGION_SHORT = {
    "TLC": "North East",
    "TLD": "North West",
    "TLE": "Yorkshire\n& Humber",
    "TLF": "East\nMidlands",
    "TLG": "West\nMidlands",
    "TLH": "East",
    "TLI": "London",
    "TLJ": "South East",
    "TLK": "South West",
    "TLL": "Wales",
    "TLM": "Scotland",
    "TLN": "Northern\nIreland",
}
# UK SIC 2007 sections.
SIC_SECTION_NAMES = {
    "A": "Agriculture, forestry & fishing",
    "B": "Mining & quarrying",
    "C": "Manufacturing",
    "D": "Electricity & gas supply",
    "E": "Water supply & waste",
    "F": "Construction",
    "G": "Wholesale & retail",
    "H": "Transport & storage",
    "I": "Accommodation & food",
    "J": "Information & communication",
    "K": "Finance & insurance",
    "L": "Real estate",
    "M": "Professional & scientific",
    "N": "Administrative & support",
    "O": "Public administration & defence",
    "P": "Education",
    "Q": "Health & social work",
    "R": "Arts & recreation",
    "S": "Other services",
    "T": "Households as employers",
    "U": "Extraterritorial organisations",
}


@dataclass(frozen=True)
class Measure:
    """A published column to draw; `base` is the count whose published 0 makes a null
    'not applicable' rather than suppressed."""

    column: str
    label: str
    base: str | None = None
    money: bool = False


@dataclass(frozen=True)
class Cell:
    """What the picture shows for one area or section: a value, or why there is none."""

    state: str
    value: float | None = None


HEADLINE = Measure("median_pay", "Median monthly pay", base="paye_employees", money=True)
SECTOR_MEASURES = (
    Measure("employees", "Employees (PAYE)"),
    Measure("median_pay", "Median monthly pay", base="employees", money=True),
)


def cell_of(row: Mapping[str, object] | None, measure: Measure) -> Cell:
    """The published value of `measure` in `row`, or suppressed / not applicable / no row."""
    if row is None:
        return Cell(NO_ROW)
    value = row.get(measure.column)
    if value is not None and not (isinstance(value, float) and math.isnan(value)):
        return Cell(SHOWN, float(value))
    if measure.base is not None and row.get(measure.base) == 0:
        return Cell(NOT_APPLICABLE)
    return Cell(SUPPRESSED)


def _rows_at(table: pa.Table, level: str) -> list[dict]:
    return [r for r in table.to_pylist() if r["area_level"] == level]


def lad_cells(local_labour_market: pa.Table, measure: Measure = HEADLINE) -> dict[str, Cell]:
    """Every LAD of the tile map → what its tile shows."""
    rows = {r["area_code"]: r for r in _rows_at(local_labour_market, "lad")}
    return {code: cell_of(rows.get(code), measure) for code in lad_tiles()}


def region_cells(
    local_labour_market: pa.Table, measure: Measure = HEADLINE
) -> dict[str, tuple[str, Cell]]:
    """ITL1 code → (name, what its bar shows), in code order."""
    rows = sorted(_rows_at(local_labour_market, "itl1"), key=lambda r: r["area_code"])
    return {r["area_code"]: (r["area_name"], cell_of(r, measure)) for r in rows}


def uk_cell(table: pa.Table, measure: Measure) -> Cell:
    rows = _rows_at(table, "uk")
    return cell_of(rows[0] if rows else None, measure)


def sector_cells(sector_view: pa.Table, measure: Measure) -> dict[str, Cell]:
    """SIC section → what its UK bar shows, in section order."""
    rows = sorted(_rows_at(sector_view, "uk"), key=lambda r: r["sic_section"])
    return {r["sic_section"]: cell_of(r, measure) for r in rows}


def _format(value: float, measure: Measure) -> str:
    return f"£{value:,.0f}" if measure.money else f"{value:,.0f}"


# --- the hex map ------------------------------------------------------------------------


def _hexes(tiles: list[tuple[int, int]]) -> list[RegularPolygon]:
    return [RegularPolygon(centre(t), numVertices=6, radius=0.98) for t in tiles]


def _region_borders() -> LineCollection:
    """Edges between tiles of different regions (or the sea)."""
    regions = region_of_tile()
    segments = []
    for tile, region in regions.items():
        x, y = centre(tile)
        for dq, dr in NEIGHBOURS:
            neighbour = (tile[0] + dq, tile[1] + dr)
            if regions.get(neighbour) == region:
                continue
            nx, ny = centre(neighbour)
            angle = math.atan2(ny - y, nx - x)
            ends = [angle - math.pi / 6, angle + math.pi / 6]
            segments.append([(x + math.cos(a), y + math.sin(a)) for a in ends])
    return LineCollection(segments, colors="#333333", linewidths=1.2)


def _region_labels(ax) -> None:
    regions = region_of_tile()
    for code, short in REGION_SHORT.items():
        points = [centre(t) for t, r in regions.items() if r == code]
        if not points:
            continue
        x = sum(p[0] for p in points) / len(points)
        y = sum(p[1] for p in points) / len(points)
        text = ax.text(x, y, short, ha="center", va="center", fontsize=7, color="black")
        text.set_path_effects([patheffects.withStroke(linewidth=2.5, foreground="white")])


def map_figure(local_labour_market: pa.Table, month: str, measure: Measure = HEADLINE) -> Figure:
    """Hex-tile map of `measure` by LAD; suppressed tiles grey and hatched."""
    cells = lad_cells(local_labour_market, measure)
    tiles = lad_tiles()
    fig, ax = plt.subplots(figsize=(6.4, 7.6), dpi=DPI)
    shown = [code for code, c in cells.items() if c.state == SHOWN]
    values = [cells[code].value for code in shown]
    if shown:
        collection = PatchCollection(_hexes([tiles[c] for c in shown]), cmap=CMAP)
        collection.set_array(values)
        collection.set_norm(Normalize(min(values), max(values)))
        collection.set_edgecolor("white")
        collection.set_linewidth(0.3)
        collection.set_gid(SHOWN)
        ax.add_collection(collection)
        bar = fig.colorbar(collection, ax=ax, shrink=0.5, pad=0.02)
        bar.set_label(f"{measure.label} (£)" if measure.money else measure.label, fontsize=8)
    legend = []
    for state, style in STATE_STYLES.items():
        codes = [code for code, c in cells.items() if c.state == state]
        if codes:
            patches = PatchCollection(_hexes([tiles[c] for c in codes]), linewidth=0.5, **style)
            patches.set_gid(state)
            ax.add_collection(patches)
        if codes or state == SUPPRESSED:
            legend.append(Patch(label=f"{state} ({len(codes)})", **style))
    ax.add_collection(_region_borders())
    _region_labels(ax)
    ax.legend(handles=legend, loc="lower left", fontsize=7, frameon=False)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_axis_off()
    ax.set_title(f"{measure.label} by local authority, {month}", fontsize=10)
    ax.text(
        0.0,
        -0.01,
        "Region-anchored hex tile map, not geographic: one tile per LAD, grouped by ITL1 "
        "region.\nPublished (disclosure-controlled) values; suppressed = 'c' in the CSV.",
        fontsize=6,
        color="#555555",
        va="top",
        transform=ax.transAxes,
    )
    return fig


# --- bar charts ---------------------------------------------------------------------------


def _bars(ax, labels: list[str], cells: list[Cell], measure: Measure, title: str = "") -> None:
    """Horizontal bars of shown values; a suppressed / not applicable row gets a hatched
    marker and its symbol ('c', 'z'), never a bar that could be read as a value."""
    ys = list(range(len(labels)))[::-1]
    top = max((c.value for c in cells if c.state == SHOWN), default=1.0) or 1.0
    for y, cell in zip(ys, cells, strict=True):
        if cell.state == SHOWN:
            ax.barh(y, cell.value, color="tab:blue", height=0.7)
            inside = cell.value > top * 0.3
            ax.text(
                cell.value + (-0.01 if inside else 0.01) * top,
                y,
                _format(cell.value, measure),
                va="center",
                ha="right" if inside else "left",
                color="white" if inside else "black",
                fontsize=6,
            )
        else:
            ax.barh(y, top * 0.04, height=0.7, **STATE_STYLES[cell.state], linewidth=0.5)
            ax.text(
                top * 0.05,
                y,
                _MARKS[cell.state],
                va="center",
                fontsize=6,
                color="#555555",
                style="italic",
            )
    ax.set_yticks(ys, labels, fontsize=7)
    ax.set_xlim(0, top * 1.12)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v, measure)))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(title, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


_MARKS = {SUPPRESSED: "c  suppressed", NOT_APPLICABLE: "z  not applicable", NO_ROW: "no row"}


def _compact(value: float, measure: Measure) -> str:
    """Axis ticks: 2.5m, 750k, £2,000."""
    prefix = "£" if measure.money else ""
    if abs(value) >= 1e6:
        return f"{prefix}{value / 1e6:g}m"
    if abs(value) >= 1e4:
        return f"{prefix}{value / 1e3:g}k"
    return f"{prefix}{value:,.0f}"


def _suppressed_legend(ax) -> None:
    ax.legend(
        handles=[Patch(label="suppressed (c)", **SUPPRESSED_STYLE)],
        fontsize=7,
        loc="upper right",
        bbox_to_anchor=(1.0, -0.06),
        frameon=False,
    )


def region_figure(local_labour_market: pa.Table, month: str, measure: Measure = HEADLINE) -> Figure:
    """`measure` by ITL1 region with the UK figure as a reference line."""
    cells = region_cells(local_labour_market, measure)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=DPI)
    names = [name for name, _ in cells.values()]
    _bars(ax, names, [cell for _, cell in cells.values()], measure)
    uk = uk_cell(local_labour_market, measure)
    if uk.state == SHOWN:
        ax.axvline(uk.value, color="black", linestyle="--", linewidth=0.8)
        label = f"UK {_format(uk.value, measure)}"
        ax.text(uk.value, 1.0, label, transform=ax.get_xaxis_transform(), fontsize=6, ha="center")
    _suppressed_legend(ax)
    fig.suptitle(f"{measure.label} by region (ITL1), {month}", fontsize=10)
    fig.tight_layout()
    return fig


def sector_figure(sector_view: pa.Table, month: str) -> Figure:
    """Employees and median pay by SIC section, UK."""
    fig, axes = plt.subplots(1, len(SECTOR_MEASURES), figsize=(9.0, 5.2), dpi=DPI, sharey=True)
    for ax, measure in zip(axes, SECTOR_MEASURES, strict=True):
        cells = sector_cells(sector_view, measure)
        labels = [f"{s}  {SIC_SECTION_NAMES.get(s, s)}" for s in cells]
        _bars(ax, labels, list(cells.values()), measure, measure.label)
    _suppressed_legend(axes[-1])
    fig.suptitle(f"UK by industry (SIC 2007 section), {month}", fontsize=10)
    fig.tight_layout()
    return fig


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Picture:
    name: str  # file stem
    title: str
    png: bytes


@dataclass(frozen=True)
class InsightReport:
    month: str
    pictures: tuple[Picture, ...]
    counts: dict[str, int]

    def html(self) -> str:
        return html_page(self)

    def markdown(self) -> str:
        """The pictures inline (data URIs), for the Dagster UI."""
        return "\n\n".join(
            f"**{p.title}**\n\n{markdown_image(p.png, p.title)}" for p in self.pictures
        )


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return buffer.getvalue()


def report_counts(local_labour_market: pa.Table, sector_view: pa.Table) -> dict[str, int]:
    """How many LADs, regions and sections each picture shows, suppressed, not applicable."""
    cells = lad_cells(local_labour_market).values()
    regions = [c for _, c in region_cells(local_labour_market).values()]
    sectors = [c for m in SECTOR_MEASURES for c in sector_cells(sector_view, m).values()]
    return {
        "lads_drawn": sum(c.state == SHOWN for c in cells),
        "lads_suppressed": sum(c.state == SUPPRESSED for c in cells),
        "lads_not_applicable": sum(c.state == NOT_APPLICABLE for c in cells),
        "lads_no_row": sum(c.state == NO_ROW for c in cells),
        "regions_suppressed": sum(c.state == SUPPRESSED for c in regions),
        "sector_cells_suppressed": sum(c.state == SUPPRESSED for c in sectors),
    }


def render_report(
    local_labour_market: pa.Table, sector_view: pa.Table, month: str
) -> InsightReport:
    """The month's three pictures and their counts, from published tables only."""
    pictures = (
        Picture(
            "map",
            f"{HEADLINE.label} by LAD (hex tile map)",
            png_bytes(map_figure(local_labour_market, month)),
        ),
        Picture(
            "regions",
            f"{HEADLINE.label} by region",
            png_bytes(region_figure(local_labour_market, month)),
        ),
        Picture(
            "sectors",
            "UK employees and median pay by industry",
            png_bytes(sector_figure(sector_view, month)),
        ),
    )
    return InsightReport(month, pictures, report_counts(local_labour_market, sector_view))


def html_page(report: InsightReport) -> str:
    """One self-contained page: the pictures embedded as data URIs, no external files."""
    month = html.escape(report.month)
    figures = "\n".join(
        f'<figure><img alt="{html.escape(p.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(p.png).decode()}">'
        f"<figcaption>{html.escape(p.title)}</figcaption></figure>"
        for p in report.pictures
    )
    counts = "".join(
        f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{v}</td></tr>"
        for k, v in report.counts.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Labour Trust insight report {month}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}}
figure{{margin:1.5em 0}} img{{max-width:100%}} td{{padding:0 1em 0 0}}</style></head>
<body><h1>Labour market insight, {month}</h1>
<p>Drawn from the published, disclosure-controlled tables only (published/local_labour_market,
published/sector_view). Suppressed figures (<code>c</code> in the CSV) are drawn hatched grey;
not applicable (<code>z</code>) figures are left blank. The map is a region-anchored hex tile
map, one tile per local authority grouped by ITL1 region: it is not geographic.</p>
{figures}
<h2>What is drawn</h2><table>{counts}</table>
</body></html>
"""


__all__ = [
    "HEADLINE",
    "Cell",
    "InsightReport",
    "Measure",
    "cell_of",
    "html_page",
    "lad_cells",
    "map_figure",
    "region_cells",
    "region_figure",
    "render_report",
    "sector_cells",
    "sector_figure",
]
