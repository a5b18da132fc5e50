"""The sensor benchmark runs end to end (tiny sizes here; the real run is 1,000 commits)."""

from __future__ import annotations

from pathlib import Path

from labour_trust.benchmarks.sensor import bench_sensor_tick, format_bench


def test_bench_small(tmp_path: Path) -> None:
    results = bench_sensor_tick(tmp_path, commits=30, rows_per_commit=(5, 50), repeats=3)
    assert [(r.storage, r.rows_per_commit) for r in results] == [("local", 5), ("local", 50)]
    small, large = results
    assert large.table_rows > 5 * small.table_rows
    # Timing is bench's to report, not a test's to assert; the tick found the one new month.
    assert all(r.commits == 30 for r in results)
    assert "worst tick" in format_bench(results)
