"""Published tables: real runs end to end, blocking disclosure checks, nothing lost on failure."""

from __future__ import annotations

import csv
import dataclasses

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pytest
from deltalake import DeltaTable

from labour_trust.definitions import build_definitions
from labour_trust.defs import consumer_copies, resources
from labour_trust.defs import published as published_defs
from labour_trust.disclosure import DisclosurePolicy
from labour_trust.feeds.vocabulary import SEARCHING_FOR_WORK
from labour_trust.governance.audit_log import AuditLog, verify
from labour_trust.publishing.tables import PUBLISHED
from labour_trust.trust.local_labour_market import REGIME_COLUMNS
from labour_trust_tests.conftest import TEST_MONTHS

MONTH = TEST_MONTHS[0]
POLICY = DisclosurePolicy()


def run_all(defs, instance, month=MONTH) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(partition_key=month, instance=instance, raise_on_error=False)


def published_month(home, name, month=MONTH) -> pa.Table:
    dataset = DeltaTable(str(home / "published" / name)).to_pyarrow_dataset()
    return dataset.to_table(filter=pds.field("month") == month)


def test_every_trust_dataset_is_published_safely(home):
    defs = build_definitions(home)
    result = run_all(defs, dg.DagsterInstance.ephemeral())
    sdc = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] == "published"]
    assert len(sdc) == len(PUBLISHED) * len(published_defs.SDC_CHECKS)
    assert all(e.passed for e in sdc), [e.description for e in sdc if not e.passed]

    for name, table in PUBLISHED.items():
        published = published_month(home, name)
        assert published.num_rows > 0
        assert not [c for c in published.column_names if "token" in c or "contributors" in c]
        counts = set().union(*(v.description.counts for v in table.views))
        for column in counts:
            values = [v for v in published[column].to_pylist() if v is not None]
            # Independently of the engine: no small cell, every count rounded to base 5.
            assert all(v == 0 or v >= POLICY.threshold for v in values), (name, column)
            assert all(v % POLICY.count_rounding_base == 0 for v in values), (name, column)
        for derived in (d for v in table.views for d in v.description.derived):
            numerator, denominator = derived.sources  # shares: of the published counts, 0.001
            for row in published.select([derived.column, *derived.sources]).to_pylist():
                if row[derived.column] is not None and row[denominator]:
                    share = round(row[numerator] / row[denominator], 3)
                    assert row[derived.column] == pytest.approx(share), (name, row)
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            stored = con.sql(f"SELECT count(*) FROM published.{name}").fetchall()[0][0]
        assert stored == published.num_rows

    materialised = {
        e.asset_key.path[1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[0] == "published"
    }
    jobs = published_month(home, "sector_view")["enterprise_employment"].to_pylist()
    assert all(v % POLICY.employment_rounding == 0 for v in jobs if v is not None)
    llm = materialised["local_labour_market"]
    assert llm["cells_primary"].value > 0  # small districts do give disclosure control work
    # One problem over all tables, audited jointly (with the release consumers hold).
    assert llm["joint_passed"].value is True and llm["joint_audit_cells_attacked"].value > 0
    # Information loss beside what the simple baseline would have hidden on the same table.
    assert llm["baseline_method"].value == "partner"
    assert llm["baseline_cells_suppressed"].value >= llm["cells_primary"].value
    assert 0 <= llm["baseline_suppressed_value_share"].value <= 1

    # The same people in two tables: the searching-for-work claimants of an area are the
    # claimant cohort's 'all' row. Suppressed in one, they are never published in the other.
    searching = REGIME_COLUMNS[SEARCHING_FOR_WORK]
    lads = published_month(home, "local_labour_market").to_pylist()
    cohorts = {
        r["area_code"]: r["cohort"]
        for r in published_month(home, "claimant_outcomes").to_pylist()
        if r["group_value"] == "all"
    }
    pairs = [(r[searching], cohorts[r["area_code"]]) for r in lads if r["area_code"] in cohorts]
    assert len(pairs) > 300
    assert all((a is None) == (b is None) for a, b in pairs), [
        p for p in pairs if (p[0] is None) != (p[1] is None)
    ]
    assert any(a is None for a, _ in pairs)  # the test sees suppression at work
    assert llm["policy_version"].value == POLICY.version
    assert "dfe-skills-outcomes" in llm["agreements"].value

    # The human-facing export marks suppressed cells 'c', as UK official statistics do.
    with open(llm["csv"].value, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 361 + 12 + 1
    assert any(row["uc_claimants"] == "c" for row in rows)
    lads = published_month(home, "local_labour_market")
    nulls = pc.sum(pc.is_null(lads["uc_claimants"])).as_py()
    assert sum(row["uc_claimants"] == "c" for row in rows) == nulls

    assert verify(home / "audit.log").ok

    # What consumers receive are assets too, each checked as written.
    received = [
        e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] != "published"
    ]
    received = [e for e in received if e.asset_key.path[0] in ("exports", "restricted")]
    checks = len(consumer_copies.EXPORT_CHECKS) + len(consumer_copies.RESTRICTED_CHECKS)
    assert len(received) == len(PUBLISHED) * checks
    assert all(e.passed for e in received), [e.description for e in received if not e.passed]
    copies = {
        e.asset_key.path[1]: e.materialization.metadata["copies"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[0] == "restricted"
    }
    assert copies["local_labour_market"] >= 1  # the demo register restricts it by region


def test_an_export_that_does_not_match_its_publication_fails_its_check(home, monkeypatch):
    """A CSV writer that printed suppressed cells as 0 would tell consumers they are zero."""
    real_csv_bytes = resources.csv_bytes

    def zeros_for_c(result):
        return real_csv_bytes(result).replace(b'"c"', b'"0"')

    monkeypatch.setattr(resources, "csv_bytes", zeros_for_c)
    result = run_all(build_definitions(home), dg.DagsterInstance.ephemeral())
    failed = {
        (e.asset_key.to_user_string(), e.check_name): e.description
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }
    assert ("exports/local_labour_market", "markers") in failed
    assert "where the publication has 'c'" in failed[("exports/local_labour_market", "markers")]
    assert not [k for k in failed if k[0].startswith("published/")]  # the publication is fine


def test_a_failed_disclosure_check_never_publishes(home, monkeypatch):
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    assert run_all(defs, instance).success
    uri = str(home / "published" / "local_labour_market")
    good_version = DeltaTable(uri).version()
    good = published_month(home, "local_labour_market")

    # An engine bug: a suppressed cell comes back published, unrounded.
    real_protect_month = published_defs.protect_month

    def leaky_protect_month(rows, *args, **kwargs):
        results = real_protect_month(rows, *args, **kwargs)
        result = results["local_labour_market"]
        original = rows["local_labour_market"]["uc_claimants"]
        hidden = pc.is_null(result.table["uc_claimants"])
        leaked = pc.if_else(hidden, original, result.table["uc_claimants"])
        index = result.table.schema.get_field_index("uc_claimants")
        results["local_labour_market"] = dataclasses.replace(
            result, table=result.table.set_column(index, "uc_claimants", leaked)
        )
        return results

    monkeypatch.setattr(published_defs, "protect_month", leaky_protect_month)
    # The month's published tables are one step (one protection problem).
    layers = ("published", "exports", "restricted")  # one step writes all three
    keys = [dg.AssetKey([layer, name]) for layer in layers for name in PUBLISHED]
    job = defs.resolve_implicit_global_asset_job_def()
    bad = job.execute_in_process(
        partition_key=MONTH, instance=instance, asset_selection=keys, raise_on_error=False
    )
    assert not bad.success
    failed = {
        e.check_name: e.description for e in bad.get_asset_check_evaluations() if not e.passed
    }
    assert {"counts", "audit"} <= set(failed)
    # Other tables fail only the joint audit: the leaked cells (equal to claimant cohorts)
    # narrow their suppressed partners too.
    others = {
        (e.asset_key.path[1], e.check_name)
        for e in bad.get_asset_check_evaluations()
        if not e.passed and e.asset_key.path[1] != "local_labour_market"
    }
    assert all(check == "audit" for _, check in others), others
    assert "uc_claimants" in failed["counts"]

    # Nothing was written: the last good publication of the month is what consumers see.
    assert DeltaTable(uri).version() == good_version
    assert published_month(home, "local_labour_market").equals(good)
    last = list(AuditLog(home / "audit.log").entries())[-1]
    assert last["event"] == "publication.blocked"
    assert "local_labour_market" in last["details"]["tables"]
    assert {"counts", "audit"} <= set(last["details"]["tables"]["local_labour_market"])


def test_the_publication_step_alone_refuses_a_month_whose_trust_tables_were_not_derived(home):
    """Asked for alone (a backfill or `refresh --months` of the publication step), a month
    without its trust tables fails naming them, instead of releasing an empty month."""
    defs = build_definitions(home)
    instance = dg.DagsterInstance.ephemeral()
    assert run_all(defs, instance).success
    step = defs.resolve_assets_def(published_defs.published_key("sector_view")).keys
    month = TEST_MONTHS[1]
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        partition_key=month, instance=instance, asset_selection=list(step), raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "trust/local_labour_market, trust/sector_view" in message and month in message
    for name in PUBLISHED:
        assert published_month(home, name, month).num_rows == 0, name
        assert published_month(home, name).num_rows > 0, name  # the month before: still there
