"""`bench --latency`: a correction reaches every published table under the running daemon."""

from __future__ import annotations

import re

from labour_trust.benchmarks.latency import busy_seconds, run_latency_bench
from labour_trust.publishing.tables import PUBLISHED

SUMMARY = re.compile(r"^latency month=\d{4}-\d\d seconds=[\d.]+ compute=[\d.]+ waiting=-?[\d.]+$")


def test_overlapping_runs_count_once():
    assert busy_seconds([(0, 10), (5, 12), (20, 25)]) == 17
    assert busy_seconds([(0, 10), (2, 3)]) == 10
    assert busy_seconds([]) == 0


def test_a_correction_is_timed_to_every_published_table(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LABOUR_TRUST_STORE", raising=False)
    result = run_latency_bench(scale=0.002, months=3, workdir=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    assert result["complete"] and set(result["seconds"]) == set(PUBLISHED)
    # Each table published after the commit, by runs that the correction caused.
    assert all(s > 0 for s in result["seconds"].values())
    assert result["runs"] >= 2 and 0 < result["compute_seconds"] <= max(result["seconds"].values())
    assert any("target" in line for line in lines)
