"""The hand-written benchmark script computes the same figures as the dataset SQL."""

from __future__ import annotations

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from labour_trust.benchmarks.trust import bench, format_bench, register_parquet_views, run_baseline
from labour_trust.reference.geography import lad_table
from labour_trust.trust.datasets import TRUST_DATASETS, VIEW_NAMES, compute
from labour_trust_tests.trust import test_datasets_handmade as handmade
from labour_trust_tests.trust.compare import assert_rows_equal
from labour_trust_tests.trust.feeds_fixture import connect, feed_table, random_feeds


@pytest.mark.parametrize("month", ["2024-01", "2024-02", "2024-03", "2024-06"])
def test_baseline_matches_the_datasets_on_handmade_feeds(month):
    con = connect(handmade.FEEDS)
    baseline = run_baseline(con, month)
    for name, ds in TRUST_DATASETS.items():
        expected = compute(con, ds, month)
        assert baseline[name].schema == expected.schema
        assert_rows_equal(baseline[name], expected.to_pylist(), ds.dimensions)


def test_baseline_matches_the_datasets_on_random_feeds():
    feeds = random_feeds(11, [f"2023-{m:02d}" for m in range(5, 13)])
    con = connect(feeds)
    for month in ("2023-06", "2023-09"):
        baseline = run_baseline(con, month)
        for name, ds in TRUST_DATASETS.items():
            assert_rows_equal(baseline[name], compute(con, ds, month).to_pylist(), ds.dimensions)


def test_bench_on_parquet_views(tmp_path):
    """Parquet files without the partition column, as Delta writes them."""
    files: dict[str, dict[str, list[str]]] = {}
    for share, view in VIEW_NAMES.items():
        table = feed_table(view, handmade.FEEDS[view])
        for month in sorted(set(table["month"].to_pylist())):
            rows = table.filter(pc.equal(table["month"], month)).drop_columns(["month"])
            path = tmp_path / f"{view}-{month}.parquet"
            pq.write_table(rows, path)
            files.setdefault(share, {})[month] = [str(path)]
    con = duckdb.connect()
    register_parquet_views(con, files)
    con.register("lad_lookup", lad_table())
    result = bench(con, "2024-02")
    assert set(result.dataset_seconds) == set(TRUST_DATASETS)
    assert "ratio" in format_bench(result)
    reference = connect(handmade.FEEDS)
    for ds in TRUST_DATASETS.values():
        assert_rows_equal(
            compute(con, ds, "2024-02"),
            compute(reference, ds, "2024-02").to_pylist(),
            ds.dimensions,
        )
