"""Feed assets: in-place materialisation, blocking contract checks, bad input of every kind."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pytest
from deltalake import DeltaTable, write_deltalake

from labour_trust.defs.feeds import build_feed_asset, build_feed_assets
from labour_trust.defs.partitions import MONTHLY
from labour_trust.defs.resources import build_resources
from labour_trust.feeds.contract import RULES
from labour_trust.feeds.departments import BUSINESS_POPULATION, FEEDS, PAYE_RTI, UC_CLAIMANTS
from labour_trust.governance.audit_log import AuditLog
from labour_trust.shares.pinned import SharePointer
from labour_trust_tests.conftest import TEST_MONTHS

MONTH = TEST_MONTHS[0]


def share_uri(home: Path, spec) -> str:
    return str(home / "shares" / spec.department / spec.table)


def read_month(home: Path, spec, month: str = MONTH) -> pa.Table:
    dataset = DeltaTable(share_uri(home, spec)).to_pyarrow_dataset()
    return dataset.to_table(filter=pds.field("month") == month)


def republish(home: Path, spec, table: pa.Table, month: str = MONTH, **kwargs) -> None:
    """What a department does: overwrite one month with a new Delta version."""
    write_deltalake(
        share_uri(home, spec),
        table,
        mode="overwrite",
        predicate=f"month = '{month}'",
        partition_by=["month"],
        **kwargs,
    )


def replace_table(home: Path, spec, table: pa.Table) -> None:
    """A department replacing its whole table with another schema (old versions remain)."""
    write_deltalake(
        share_uri(home, spec),
        table,
        mode="overwrite",
        schema_mode="overwrite",
        partition_by=["month"],
    )


def probe_asset(spec, seen: list[SharePointer]) -> dg.AssetsDefinition:
    """A downstream consumer that records which pointer it was given."""

    @dg.asset(
        key=["probe", spec.table],
        partitions_def=MONTHLY,
        ins={"feed": dg.AssetIn(key=spec.asset_key_path)},
    )
    def probe(feed: SharePointer) -> None:
        seen.append(feed)

    return probe


def run(home: Path, assets, month: str = MONTH, instance=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources=build_resources(home),
        partition_key=month,
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return "\n".join(str(e.event_specific_data.error.message) for e in failures)


def test_definitions_load_with_catalog_metadata():
    from labour_trust.definitions import defs

    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    for feed in FEEDS:
        spec = specs[dg.AssetKey(feed.asset_key_path)]
        assert spec.group_name == feed.department
        assert spec.description and spec.owners
        assert spec.tags["classification"] == "OFFICIAL-SENSITIVE"
        assert "delta" in spec.kinds
        schema = spec.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == feed.schema.names
        undescribed = [c.name for c in schema.columns if not (c.description or "").strip()]
        assert undescribed == [], (feed.name, undescribed)  # a steward reads what each means
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert set(RULES) <= checks


def test_materialise_all_feeds_two_months_in_place(home):
    instance = dg.DagsterInstance.ephemeral()
    before = _tree_bytes(home)
    for month in TEST_MONTHS:
        result = run(home, build_feed_assets(FEEDS), month, instance)
        assert result.success, failure_text(result)
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == len(FEEDS) * len(RULES)
        assert all(e.passed for e in evaluations)
        for e in evaluations:  # each result names its month; no blank metadata in the UI
            assert e.partition == month and e.metadata["month"].value == month
            assert all(str(v.value).strip() for v in e.metadata.values()), e.metadata
    for feed in FEEDS:
        for month in TEST_MONTHS:
            pointer = SharePointer.from_json(
                (home / "pointers" / feed.department / feed.table / f"{month}.json").read_text()
            )
            assert pointer.rows == read_month(home, feed, month).num_rows > 0
            assert pointer.version == DeltaTable(share_uri(home, feed)).version()
    # Nothing of the shares was copied: HOME grew by a few pointer files only.
    share_bytes = _tree_bytes(home / "shares")
    grown = _tree_bytes(home) - before
    assert grown < 20_000 < share_bytes
    assert not [p for p in (home / "pointers").rglob("*") if p.suffix == ".parquet"]


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _first_good_then(home, spec, corrupt) -> tuple[dg.ExecuteInProcessResult, list, SharePointer]:
    """Materialise a good month, let `corrupt` spoil the share, materialise again."""
    seen: list[SharePointer] = []
    assets = [build_feed_asset(spec), probe_asset(spec, seen)]
    instance = dg.DagsterInstance.ephemeral()
    good = run(home, assets, instance=instance)
    assert good.success, failure_text(good)
    good_pointer = seen[-1]
    corrupt(home)
    seen.clear()
    bad = run(home, assets, instance=instance)
    assert not bad.success
    assert seen == []  # blocked: downstream did not run
    # The last good pointer is still what downstream would read, and it is still readable.
    pointer_path = home / "pointers" / spec.department / spec.table / f"{MONTH}.json"
    assert SharePointer.from_json(pointer_path.read_text()) == good_pointer
    pinned = DeltaTable(good_pointer.uri, version=good_pointer.version).to_pyarrow_dataset()
    assert pinned.count_rows(filter=pds.field("month") == MONTH) == good_pointer.rows
    # The failure is on the tamper-evident record.
    last = list(AuditLog(home / "audit.log").entries())[-1]
    assert last["event"] == "check.failed"
    assert (last["details"]["asset"], last["details"]["month"]) == (spec.name, MONTH)
    return bad, seen, good_pointer


def test_a_failed_month_holds_back_only_that_month_downstream(home):
    """Check results belong to their month: automation waits on the failed month only."""
    later = TEST_MONTHS[1]

    @dg.asset(
        key=["probe", "downstream"],
        partitions_def=MONTHLY,
        deps=[PAYE_RTI.asset_key_path],
        automation_condition=dg.AutomationCondition.all_deps_blocking_checks_passed(),
    )
    def downstream() -> None: ...

    feed = build_feed_asset(PAYE_RTI)
    instance = dg.DagsterInstance.ephemeral()
    for month in TEST_MONTHS:
        assert run(home, [feed], month, instance).success
    table = read_month(home, PAYE_RTI, later)
    pay = table["gross_pay_month"].to_numpy().copy()
    pay[0] = -1.0
    republish(home, PAYE_RTI, table.set_column(6, "gross_pay_month", pa.array(pay)), later)
    assert not run(home, [feed], later, instance).success

    defs = dg.Definitions(assets=[feed, downstream], resources=build_resources(home))
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    ready = next(r for r in result.results if r.key == downstream.key).true_subset
    assert ready.expensively_compute_partition_keys() == {MONTH}
    check = dg.AssetCheckKey(dg.AssetKey(PAYE_RTI.asset_key_path), "non_negative")
    latest: dict[str, str] = {}
    for r in instance.event_log_storage.get_asset_check_execution_history(check, limit=10):
        latest.setdefault(r.partition, r.status.value)  # newest first
    assert latest == {later: "FAILED", MONTH: "SUCCEEDED"}


def _failed_checks(result) -> dict[str, str]:
    return {
        e.check_name: e.description or ""
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }


def _assert_names(message: str, spec, column: str | None, rule: str) -> None:
    assert spec.name in message and MONTH in message and rule in message
    if column:
        assert f"'{column}'" in message


def test_negative_pay_is_rejected(home):
    def corrupt(home):
        table = read_month(home, PAYE_RTI)
        pay = table["gross_pay_month"].to_numpy().copy()
        pay[[3, 7]] = -10.0
        republish(home, PAYE_RTI, table.set_column(6, "gross_pay_month", pa.array(pay)))

    bad, _, _ = _first_good_then(home, PAYE_RTI, corrupt)
    failed = _failed_checks(bad)
    assert set(failed) == {"non_negative"}
    _assert_names(failed["non_negative"], PAYE_RTI, "gross_pay_month", "non_negative")
    assert "2 row(s)" in failed["non_negative"] and "row 3, 7" in failed["non_negative"]
    assert "non_negative" in failure_text(bad)


def test_unknown_lad_code_is_rejected(home):
    def corrupt(home):
        table = read_month(home, UC_CLAIMANTS)
        lads = table["lad_code"].to_pylist()
        lads[5] = "E99999999"
        republish(home, UC_CLAIMANTS, table.set_column(3, "lad_code", pa.array(lads)))

    failed = _failed_checks(_first_good_then(home, UC_CLAIMANTS, corrupt)[0])
    assert set(failed) == {"lad_codes"}
    _assert_names(failed["lad_codes"], UC_CLAIMANTS, "lad_code", "lad_codes")
    assert "row 5" in failed["lad_codes"]
    assert "E99999999" not in failed["lad_codes"]  # positions, never values


@pytest.mark.parametrize("column", ["person_token", "conditionality_regime"])
def test_raw_nino_in_any_string_column_is_rejected(home, column):
    nino = "QQ 12 34 56 C"

    def corrupt(home):
        table = read_month(home, UC_CLAIMANTS)
        values = table[column].to_pylist()
        values[2] = f"{values[2][:10]} {nino}" if column != "person_token" else nino
        index = table.schema.get_field_index(column)
        republish(home, UC_CLAIMANTS, table.set_column(index, column, pa.array(values)))

    failed = _failed_checks(_first_good_then(home, UC_CLAIMANTS, corrupt)[0])
    assert "no_raw_nino" in failed
    _assert_names(failed["no_raw_nino"], UC_CLAIMANTS, column, "no_raw_nino")
    assert all(nino not in text and "123456" not in text for text in failed.values())


def test_duplicate_key_is_rejected(home):
    def corrupt(home):
        table = read_month(home, BUSINESS_POPULATION)
        republish(home, BUSINESS_POPULATION, pa.concat_tables([table, table.slice(4, 1)]))

    failed = _failed_checks(_first_good_then(home, BUSINESS_POPULATION, corrupt)[0])
    assert set(failed) == {"key_unique"}
    _assert_names(failed["key_unique"], BUSINESS_POPULATION, "enterprise_token", "key_unique")
    assert "1 row(s)" in failed["key_unique"]


def test_wrong_column_type_is_rejected(home):
    def corrupt(home):
        table = DeltaTable(share_uri(home, PAYE_RTI)).to_pyarrow_dataset().to_table()
        pay = pc.cast(pc.round(table["gross_pay_month"]), pa.int64())
        replace_table(home, PAYE_RTI, table.set_column(6, "gross_pay_month", pay))

    failed = _failed_checks(_first_good_then(home, PAYE_RTI, corrupt)[0])
    assert set(failed) == {"schema", "schema_drift"}
    _assert_names(failed["schema"], PAYE_RTI, "gross_pay_month", "schema")
    assert "wrong type" in failed["schema"]
    assert "column 'gross_pay_month' retyped double → int64" in failed["schema_drift"]


def test_missing_column_is_rejected(home):
    def corrupt(home):
        table = DeltaTable(share_uri(home, UC_CLAIMANTS)).to_pyarrow_dataset().to_table()
        replace_table(home, UC_CLAIMANTS, table.drop_columns(["disability"]))

    failed = _failed_checks(_first_good_then(home, UC_CLAIMANTS, corrupt)[0])
    assert set(failed) == {"schema", "schema_drift"}
    _assert_names(failed["schema"], UC_CLAIMANTS, "disability", "schema")
    assert "missing column" in failed["schema"]
    assert "column 'disability' removed" in failed["schema_drift"]


def test_added_column_is_schema_drift(home):
    def corrupt(home):
        table = DeltaTable(share_uri(home, UC_CLAIMANTS)).to_pyarrow_dataset().to_table()
        extra = pa.array([1] * table.num_rows, pa.int32())
        replace_table(home, UC_CLAIMANTS, table.append_column("benefit_unit", extra))

    failed = _failed_checks(_first_good_then(home, UC_CLAIMANTS, corrupt)[0])
    assert "schema_drift" in failed
    _assert_names(failed["schema_drift"], UC_CLAIMANTS, None, "schema_drift")
    assert "column 'benefit_unit' added (int32)" in failed["schema_drift"]


def test_volume_against_trailing_months(home):
    later = TEST_MONTHS[1]
    feed = build_feed_asset(PAYE_RTI)
    instance = dg.DagsterInstance.ephemeral()
    assert run(home, [feed], later, instance).success  # same volume as the month before
    month = read_month(home, PAYE_RTI, later)
    republish(home, PAYE_RTI, month.slice(0, month.num_rows // 5), later)
    failed = _failed_checks(run(home, [feed], later, instance))
    assert set(failed) == {"volume"}
    assert "-80%" in failed["volume"] and "2024-01" in failed["volume"]


def test_null_in_required_column_is_rejected(home):
    def corrupt(home):
        table = DeltaTable(share_uri(home, UC_CLAIMANTS)).to_pyarrow_dataset().to_table()
        regimes = table["conditionality_regime"].to_pylist()
        first_in_month = table["month"].to_pylist().index(MONTH)
        regimes[first_in_month + 1] = None
        nullable = table.schema.field("conditionality_regime").with_nullable(True)
        index = table.schema.get_field_index("conditionality_regime")
        replace_table(
            home, UC_CLAIMANTS, table.set_column(index, nullable, pa.array(regimes, pa.string()))
        )

    failed = _failed_checks(_first_good_then(home, UC_CLAIMANTS, corrupt)[0])
    assert "not_null" in failed
    _assert_names(failed["not_null"], UC_CLAIMANTS, "conditionality_regime", "not_null")
    assert "1 row(s)" in failed["not_null"]


def _month_data_files(home: Path, spec) -> list[Path]:
    table = DeltaTable(share_uri(home, spec))
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    return [
        Path(share_uri(home, spec)) / a["path"] for a in actions if a["partition.month"] == MONTH
    ]


def test_corrupt_parquet_file_is_rejected(home):
    def corrupt(home):
        republish(home, PAYE_RTI, read_month(home, PAYE_RTI))  # a new version, new files
        victim = _month_data_files(home, PAYE_RTI)[0]
        victim.write_bytes(b"this is not parquet" * 10)

    failed = _failed_checks(_first_good_then(home, PAYE_RTI, corrupt)[0])
    assert set(failed) == {"readable"}
    assert "cannot be read" in failed["readable"] and ".parquet" in failed["readable"]
    _assert_names(failed["readable"], PAYE_RTI, None, "readable")


def test_log_entry_pointing_at_missing_file_is_rejected(home):
    def corrupt(home):
        republish(home, FEEDS[2], read_month(home, FEEDS[2]))
        os.remove(_month_data_files(home, FEEDS[2])[0])

    failed = _failed_checks(_first_good_then(home, FEEDS[2], corrupt)[0])
    assert set(failed) == {"readable"}
    _assert_names(failed["readable"], FEEDS[2], None, "readable")


def test_empty_month_is_rejected(home):
    def corrupt(home):
        empty = read_month(home, BUSINESS_POPULATION).slice(0, 0)
        republish(home, BUSINESS_POPULATION, empty)

    failed = _failed_checks(_first_good_then(home, BUSINESS_POPULATION, corrupt)[0])
    assert set(failed) == {"not_empty"}
    _assert_names(failed["not_empty"], BUSINESS_POPULATION, None, "not_empty")
