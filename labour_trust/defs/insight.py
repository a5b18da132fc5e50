"""`published/insight_report`: the month's pictures, drawn from released published tables.

It depends on the month's four published tables (one `published_month` step), so it runs
after them and follows them when they change (declarative automation, like every derived
month). It reads only what consumers hold — the released Delta version of each published
table, through `PublicationStore` — never the trust warehouse: its only resource is the
publication store. It writes `STORE/exports/insight/<month>/` (a self-contained
`index.html` and one PNG per picture, each replaced whole) and shows the pictures in
the materialisation's metadata.
"""

import dagster as dg
import pyarrow as pa

from labour_trust.defs.automation import follow_upstream
from labour_trust.defs.partitions import MONTHLY
from labour_trust.defs.resources import PublicationStore
from labour_trust.publishing.tables import PUBLISHED
from labour_trust.store import Store

NAME = "insight_report"
INSIGHT_KEY = dg.AssetKey(["published", NAME])
# Bump when the pictures change: every month shows as unsynced and is redrawn.
INSIGHT_CODE_VERSION = "insight-1"
READS = ("local_labour_market", "sector_view")
# Mirrors report.DRAWN_COLUMNS; kept here so loading the definitions never imports matplotlib.
DRAWN_COLUMNS: dict[str, tuple[str, str, str]] = {
    "lad_median_pay": ("local_labour_market", "median_pay", "Hex map: median pay by LAD."),
    "region_median_pay": ("local_labour_market", "median_pay", "Bars: median pay by ITL1."),
    "sector_employees": ("sector_view", "employees", "Bars: UK employees by SIC section."),
    "sector_median_pay": ("sector_view", "median_pay", "Bars: UK median pay by SIC section."),
}


def insight_parts(month: str) -> tuple[str, ...]:
    """Where a month's pictures and page live in the store."""
    return ("exports", "insight", month)


def read_released(publications: PublicationStore, name: str, month: str) -> tuple[pa.Table, int]:
    """The month of a published table as consumers hold it, and the released version read
    (re-read if a release lands in between, so the version recorded is the one drawn)."""
    for _ in range(3):
        version = publications.released_version(name)
        rows = publications.released_month(name, month)
        if publications.released_version(name) == version:
            break
    if rows is None or version is None:
        raise dg.Failure(f"published/{name} has no released rows for {month}")
    return rows, version


def _column_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, "double", description=f"{text} From published/{t}.{c}.")
            for name, (t, c, text) in DRAWN_COLUMNS.items()
        ]
    )


def _lineage_markdown() -> str:
    """Drawn value ← published column, for the open-source UI (see defs/trust.py)."""
    lines = ["| drawn | from published column |", "|---|---|"]
    lines += [f"| {name} | published/{t}.{c} |" for name, (t, c, _) in DRAWN_COLUMNS.items()]
    return "\n".join(lines)


def _column_lineage() -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            name: [dg.TableColumnDep(asset_key=dg.AssetKey(["published", t]), column_name=c)]
            for name, (t, c, _) in DRAWN_COLUMNS.items()
        }
    )


def build_insight_report(publications: PublicationStore) -> dg.AssetsDefinition:
    agreements = publications.agreements_for(NAME)

    @dg.asset(
        key=INSIGHT_KEY,
        description="Pictures of the month from published values only: a hex-tile map of "
        "median monthly pay by local authority (region-anchored, not geographic), median pay "
        "by region and employees and median pay by industry; suppressed figures drawn as "
        "suppressed. Also written as exports/insight/<month>/index.html and PNGs.",
        group_name="published",
        partitions_def=MONTHLY,
        deps=[dg.AssetKey(["published", name]) for name in PUBLISHED],
        owners=["team:labour-trust"],
        kinds={"matplotlib", "html"},
        tags={"classification": "OFFICIAL"},
        metadata={
            "dagster/column_schema": _column_schema(),
            "dagster/column_lineage": _column_lineage(),
            "lineage": dg.MetadataValue.md(_lineage_markdown()),
            "exports": dg.MetadataValue.path(Store(publications.store).uri("exports", "insight")),
            # An export of published tables, not a Delta Sharing table.
            "agreements": ", ".join(agreements) or "none (not served by Delta Sharing)",
        },
        automation_condition=follow_upstream(),
        code_version=INSIGHT_CODE_VERSION,
    )
    def insight_report(
        context: dg.AssetExecutionContext, publications: PublicationStore
    ) -> dg.MaterializeResult:
        # matplotlib loads only in the runs that draw: every run process imports this module.
        from labour_trust.insight.report import render_report

        month = context.partition_key
        read = {name: read_released(publications, name, month) for name in READS}
        report = render_report(read["local_labour_market"][0], read["sector_view"][0], month)
        store, folder = Store(publications.store), insight_parts(month)
        for picture in report.pictures:
            store.write_bytes(*folder, f"{picture.name}.png", content=picture.png)
        store.write_text(*folder, "index.html", text=report.html())
        index = store.uri(*folder, "index.html")
        return dg.MaterializeResult(
            metadata={
                "month": month,
                "report": dg.MetadataValue.md(report.markdown()),
                "html": dg.MetadataValue.path(index),
                "published_versions": {name: version for name, (_, version) in read.items()},
                **report.counts,
            }
        )

    return insight_report


def build_insight_assets(publications: PublicationStore) -> list[dg.AssetsDefinition]:
    return [build_insight_report(publications)]


__all__ = ["INSIGHT_KEY", "build_insight_assets", "insight_parts"]
