from labour_trust.benchmarks.sdc import (
    bench_sdc,
    local_labour_market_description,
    synthetic_local_labour_market,
)
from labour_trust.disclosure.cells import build_grid


def test_synthetic_month_is_national_and_additive():
    table = synthetic_local_labour_market(scale=0.2, seed=1)
    assert table.num_rows == 361 + 12 + 1
    grid = build_grid(table, local_labour_market_description())  # raises if not additive
    assert grid.values.shape == (374, 10)


def test_bench_reports_timings_and_loss():
    figures = bench_sdc(scale=0.2, seed=1)
    assert figures["audit_passed"] and figures["cleanup_complete"]
    assert figures["primary"] > 0 and figures["cells"] == 3740
    assert 0 <= figures["suppressed_value_share"] < 0.05
