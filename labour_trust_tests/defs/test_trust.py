"""Trust dataset assets: real Dagster runs over the pinned feed versions into Delta tables in
the store, mirrored into the analysts' warehouse."""

from __future__ import annotations

import dagster as dg
import duckdb
import pyarrow.dataset as pds
from deltalake import DeltaTable

from labour_trust.definitions import build_definitions
from labour_trust.feeds.departments import FEEDS
from labour_trust.months import shift_month
from labour_trust.reference import lad_table
from labour_trust.trust.datasets import LAD_LOOKUP_VIEW, TRUST_DATASETS, VIEW_NAMES, compute
from labour_trust_tests.conftest import TEST_MONTHS

FEED_KEYS = [dg.AssetKey(f.asset_key_path) for f in FEEDS]
TRUST_KEYS = [dg.AssetKey(["trust", name]) for name in TRUST_DATASETS]


def materialise(defs, keys, month, instance):
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        partition_key=month, instance=instance, asset_selection=keys, raise_on_error=False
    )


def direct_compute(home, name, month):
    """The same SQL on the shares opened directly (latest versions), bypassing pointers."""
    con = duckdb.connect()
    for spec in FEEDS:
        uri = str(home / "shares" / spec.department / spec.table)
        con.register(VIEW_NAMES[spec.name], DeltaTable(uri).to_pyarrow_dataset())
    con.register(LAD_LOOKUP_VIEW, lad_table())
    return compute(con, name, month)


def pc_sum(column) -> int:
    return sum(v for v in column.to_pylist() if v)


def store_rows(home, name, month):
    """The month as the store holds it (the source of truth)."""
    table = DeltaTable(str(home / "tables" / "trust" / name)).to_pyarrow_dataset()
    return table.to_table(filter=pds.field("month") == month)


def warehouse_rows(home, name, month):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(f"SELECT * FROM trust.{name} WHERE month = '{month}'").to_arrow_table()


def test_trust_datasets_materialise_into_the_store_and_the_warehouse(home):
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    for month in TEST_MONTHS:
        assert materialise(defs, FEED_KEYS, month, instance).success
    later = TEST_MONTHS[-1]
    result = materialise(defs, TRUST_KEYS, later, instance)
    assert result.success
    for name in TRUST_DATASETS:
        order = [(c, "ascending") for c in TRUST_DATASETS[name].dimensions]
        stored = store_rows(home, name, later).sort_by(order)
        expected = direct_compute(home, name, later).sort_by(order)
        assert stored.num_rows == expected.num_rows > 0
        assert stored.select(expected.column_names).equals(expected)
        assert warehouse_rows(home, name, later).sort_by(order).equals(expected)
        assert not [c for c in stored.column_names if "token" in c]
    # Contributor summaries beside the datasets, never in the analysts' warehouse.
    summary = DeltaTable(str(home / "tables" / "contributors" / "local_labour_market"))
    summary = summary.to_pyarrow_dataset().to_table(filter=pds.field("month") == later)
    assert set(summary["magnitude"].to_pylist()) == {"mean_pay"}
    assert pc_sum(summary["contributors"]) == 3 * pc_sum(
        store_rows(home, "local_labour_market", later).filter(pds.field("area_level") == "lad")[
            "mean_pay_contributors"
        ]
    )  # every person, in their LAD, region and the UK
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        schemas = {r[0] for r in con.sql("SELECT schema_name FROM duckdb_schemas()").fetchall()}
    assert "trust" in schemas and "contributors" not in schemas
    lad_rows = warehouse_rows(home, "local_labour_market", later)
    assert set(lad_rows["area_level"].to_pylist()) == {"lad", "itl1", "uk"}
    assert lad_rows.num_rows == 361 + 12 + 1

    # Look-ahead months are not published yet: the outcome datasets say so.
    outcome = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["trust", "claimant_outcomes"])
    )
    metadata = outcome.materialization.metadata
    assert metadata["provisional"].value is True
    assert "dwp/uc_claimants@2024-02" in metadata["source_versions"].value

    # Re-running a month replaces it rather than appending.
    assert materialise(defs, TRUST_KEYS[:1], later, instance).success
    assert warehouse_rows(home, "local_labour_market", later).num_rows == 374


def test_trust_datasets_read_the_pinned_version_not_the_latest(home):
    """A department commit after the feed was checked is not seen until it is checked."""
    from deltalake import write_deltalake

    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    month = TEST_MONTHS[0]
    assert materialise(defs, FEED_KEYS, month, instance).success
    uri = str(home / "shares" / "dwp" / "uc_claimants")
    checked = DeltaTable(uri).to_pyarrow_dataset().to_table(filter=pds.field("month") == month)
    write_deltalake(  # the department halves the month, unchecked
        uri,
        checked.slice(0, checked.num_rows // 2),
        mode="overwrite",
        predicate=f"month = '{month}'",
        partition_by=["month"],
    )
    key = dg.AssetKey(["trust", "local_labour_market"])
    assert materialise(defs, [key], month, instance).success
    rows = warehouse_rows(home, "local_labour_market", month)
    uk = rows.filter(pds.field("area_level") == "uk")
    assert uk["uc_claimants"][0].as_py() == checked.num_rows


def test_a_month_not_published_yet_is_skipped_and_an_unchecked_one_fails_clearly(home):
    """A backfill's look-back can reach a month past the newest data: skipped, not failed.
    A month that is published but was never checked must be checked first."""
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    past = shift_month(TEST_MONTHS[-1], 1)
    result = materialise(defs, TRUST_KEYS, past, instance)
    assert result.success
    assert result.get_asset_materialization_events() == []
    logs = [e.message for e in instance.all_logs(result.run_id) if e.user_message]
    assert any("not published yet by" in m and "skipped" in m for m in logs), logs

    result = materialise(defs, TRUST_KEYS, TEST_MONTHS[0], instance)  # no feed checked
    assert not result.success
    failures = [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    assert any("has not been checked yet" in m and TEST_MONTHS[0] in m for m in failures)
