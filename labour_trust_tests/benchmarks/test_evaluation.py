"""The evaluation bench runs end to end at a tiny scale."""

from __future__ import annotations

from labour_trust.benchmarks.evaluation import bench_evaluation
from labour_trust_tests.evaluation.conftest import small_spec


def test_bench_times_one_cohort_month(tmp_path, capsys):
    spec = small_spec(lookback_months=1, horizons=[1])
    spec = spec.model_copy(
        update={"comparison": spec.comparison.model_copy(update={"prior_participation_months": 0})}
    )
    result = bench_evaluation(0.002, tmp_path, spec=spec, uptake=30.0)
    assert result["treated"] > 0 and result["pool"] > result["treated"]
    assert result["seconds"] > 0 and result["peak_rss_gb"] > 0
    # UC and PAYE at m-1, m and m+1; FE at m only.
    assert result["month"] == "2024-02" and result["feed_months"] == 7
    assert result["months_seeded"] == 7
    assert "peak RSS" in capsys.readouterr().out
    # The workdir's shares are reused: a second run generates nothing and gets the same.
    again = bench_evaluation(0.002, tmp_path, spec=spec, uptake=30.0)
    assert again["months_seeded"] == 0
    assert (again["treated"], again["pool"]) == (result["treated"], result["pool"])
