"""`bench --e2e` on a tiny home: real seed and refresh processes, figures from Dagster's events."""

from __future__ import annotations

import re
from collections import Counter

import dagster as dg
import pyarrow.dataset as pds
from deltalake import DeltaTable

from labour_trust.benchmarks.e2e import run_e2e_bench
from labour_trust.benchmarks.sdc import bench_published_month
from labour_trust.operations.instance import embedded_instance

SUMMARY = re.compile(
    r"^e2e scale=0\.002 month=2024-01:2024-02 seconds=[\d.]+ peak_rss_gb=[\d.]+ "
    r"trust_ratio=[\d.]+ correction_ratio=[\d.]+$"
)


def test_months_end_to_end_are_timed_per_step(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LABOUR_TRUST_STORE", raising=False)
    home = tmp_path / "e2e-0.002-2" / "home"
    # The bench opens the home's instance (setting DAGSTER_HOME): restored afterwards, so
    # that later tests' children do not inherit it.
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    first = run_e2e_bench(0.002, 2, tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    steps = first["steps"]
    assert {"feed contract checks", "trust datasets", "published (SDC, audit, Delta, CSV)"} <= set(
        steps
    )
    assert 0 < sum(steps.values()) <= first["seconds"] * 2  # steps may overlap a little
    assert first["peak_rss_gb"] > 0.05 and first["baseline_seconds"] > 0
    assert any("target" in line for line in lines)

    # A department corrects the second month: the refresh after it is timed against the
    # full one, and redoes that month's publication, not the other month's.
    assert first["correction_month"] == "2024-02"
    assert 0 < first["correction_ratio"] < 1, first
    assert lines[-1].endswith(f"correction_ratio={first['correction_ratio']:.3f}")
    instance = embedded_instance(home)
    key = dg.AssetKey(["published", "local_labour_market"])
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), 100).records
    assert Counter(r.partition_key for r in records) == {"2024-01": 1, "2024-02": 2}

    again = run_e2e_bench(0.002, 2, tmp_path)  # the shares are reused, the rest redone
    assert again["reused_shares"] and again["steps"].keys() == steps.keys()

    # The publication step's disclosure control on that refreshed month, as `bench --sdc
    # --month` reports it: the same pattern the step published, beside the baseline.
    sdc = bench_published_month(home, "2024-01")
    assert sdc["audit_passed"]
    assert set(sdc["seconds"]) == {"read", "protect", "audit", "checks", "baseline"}
    for name, figures in sdc["loss"].items():
        published = DeltaTable(str(home / "published" / name)).to_pyarrow_dataset()
        rows = published.to_table(filter=pds.field("month") == "2024-01")
        assert figures["engine"]["cells"] > 0 and rows.num_rows > 0
        assert figures["baseline"]["cells"] == figures["engine"]["cells"]
