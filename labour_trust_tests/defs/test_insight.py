"""published/insight_report, materialised for real on a seeded home: files, metadata, and
nothing read but the released published tables."""

from __future__ import annotations

import base64
import csv
import shutil

import dagster as dg
import pyarrow.compute as pc

from labour_trust.definitions import build_definitions
from labour_trust.defs.insight import INSIGHT_KEY, insight_parts
from labour_trust.defs.resources import build_resources
from labour_trust_tests.conftest import TEST_MONTHS

MONTH = TEST_MONTHS[0]


def _asset(defs: dg.Definitions) -> dg.AssetsDefinition:
    return defs.resolve_assets_def(INSIGHT_KEY)


def test_the_report_can_only_read_published_tables(home):
    asset = _asset(build_definitions(home))
    # No warehouse, no shares ('io_manager' is Dagster's default for the output, unused:
    # the asset returns a MaterializeResult).
    assert asset.required_resource_keys - {"io_manager"} == {"publications"}
    # Deps only: ordering, no upstream value loaded through an IO manager.
    assert all(i.dagster_type.is_nothing for i in asset.op.input_defs)
    assert {k.path[0] for k in asset.dependency_keys} == {"published"}


def test_the_report_of_a_month_is_drawn_from_its_release(home):
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    # Upstream, with whatever the publication step writes besides (one non-subsettable step).
    upstream = (
        dg.AssetSelection.assets(INSIGHT_KEY).upstream().required_multi_asset_neighbors()
    ).resolve(defs.resolve_asset_graph())
    first = job.execute_in_process(
        partition_key=MONTH, instance=instance, asset_selection=list(upstream - {INSIGHT_KEY})
    )
    assert first.success
    # Trust values gone: the report can only draw from the released Delta tables.
    assert (home / "tables" / "trust").is_dir()
    shutil.rmtree(home / "tables")
    for name in ("warehouse.duckdb", "warehouse.snapshot.duckdb"):
        (home / name).unlink(missing_ok=True)
    result = job.execute_in_process(
        partition_key=MONTH, instance=instance, asset_selection=[INSIGHT_KEY]
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata

    folder = home.joinpath(*insight_parts(MONTH))
    page = (folder / "index.html").read_text()
    for name in ("map", "regions", "sectors"):
        png = (folder / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG")
        assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page
    assert metadata["html"].value == str(folder / "index.html")
    assert metadata["report"].value.count("](data:image/png;base64,") == 3
    assert not list(folder.glob(".*tmp"))

    # The counts agree with the release, and the suppressed LADs with the CSV's 'c'.
    publications = build_resources(home)["publications"]
    released = publications.released_month("local_labour_market", MONTH)
    lad_rows = released.filter(pc.equal(released["area_level"], "lad"))
    nulls = lad_rows.filter(pc.is_null(lad_rows["median_pay"]))
    assert metadata["lads_drawn"].value == lad_rows.num_rows - nulls.num_rows
    assert (
        metadata["lads_suppressed"].value + metadata["lads_not_applicable"].value == nulls.num_rows
    )
    assert metadata["lads_no_row"].value == 361 - lad_rows.num_rows
    with open(
        home / "exports" / "local_labour_market" / f"local_labour_market_{MONTH}.csv", newline=""
    ) as f:
        symbols = [r["median_pay"] for r in csv.DictReader(f) if r["area_level"] == "lad"]
    assert metadata["lads_suppressed"].value == symbols.count("c") > 0
    assert metadata["lads_not_applicable"].value == symbols.count("z")
    assert set(metadata["published_versions"].value) == {"local_labour_market", "sector_view"}
