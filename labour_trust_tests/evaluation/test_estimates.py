"""The estimator against simulated ground truth: a planted effect, and none."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.evaluation.cohort import build_sample, connect_shares
from labour_trust.evaluation.estimate import evaluate, exact_strata, match
from labour_trust.evaluation.publish import publish_estimates
from labour_trust.feeds.departments import PAYE_RTI
from labour_trust.feeds.scan import register_feed
from labour_trust.months import shift_month
from labour_trust.synthetic import SkillsProgramme, generate_month
from labour_trust.synthetic.programme import EFFECT_KEY
from labour_trust_tests.evaluation.conftest import (
    EFFECT,
    KEY,
    MONTH,
    SCALE,
    SEED,
    UPTAKE,
    small_spec,
)


def _row(result, outcome: str, horizon: int, estimator: str) -> dict:
    rows = result.estimates.to_pylist()
    return next(
        r
        for r in rows
        if (r["outcome"], r["horizon"], r["estimator"]) == (outcome, horizon, estimator)
    )


def _employed_share(tokens: pa.Array, month: str, skills: SkillsProgramme) -> float:
    paye = pa.Table.from_batches(
        list(generate_month(PAYE_RTI, month, scale=SCALE, seed=SEED, key=KEY, skills=skills))
    )
    con = duckdb.connect()
    register_feed(con, PAYE_RTI.table, paye)  # tokens as the sample holds them
    con.register("cohort", pa.table({"person_token": tokens}))
    sql = f"""SELECT avg((person_token::UHUGEINT IN (SELECT person_token FROM {PAYE_RTI.table}))
              ::INT) FROM cohort"""
    return con.sql(sql).fetchall()[0][0]


def test_planted_effect_is_recovered_and_the_naive_difference_is_biased(effect_shares):
    history = DeltaTable(str(effect_shares / "dfe" / "fe_learners")).history()
    assert float(history[0][EFFECT_KEY]) == EFFECT  # recorded on the FE share's commits

    spec = small_spec()
    sample = build_sample(connect_shares(str(effect_shares)), spec, MONTH, keep_tokens=True)
    assert sample.treated > 500 and sample.pool > 10 * sample.treated
    result = evaluate(sample.table.drop(["person_token"]), sample.available, spec, MONTH)
    assert result.balanced, result.worst_smd
    assert not result.provisional

    # The exact effect on this cohort: the same shares with its course jobs withheld (later
    # referrals of anyone, treated or not, unchanged — as the comparison group lives them).
    cohort = sample.table.filter(sample.table["treated"])["person_token"]
    for h in spec.horizons:
        month = shift_month(MONTH, h)
        factual = SkillsProgramme(effect=EFFECT, uptake=UPTAKE)
        withheld = SkillsProgramme(effect=EFFECT, uptake=UPTAKE, withheld_month=MONTH)
        truth = _employed_share(cohort, month, factual) - _employed_share(cohort, month, withheld)
        assert 0.05 < truth <= EFFECT  # only those otherwise out of work can gain

        matched = _row(result, "employed", h, "matched")
        naive = _row(result, "employed", h, "naive")
        assert matched["ci_low"] <= truth <= matched["ci_high"], (h, truth, matched)
        assert not naive["ci_low"] <= truth <= naive["ci_high"], (h, truth, naive)
        assert naive["estimate"] > matched["ci_high"]  # selection makes the naive look better


def test_zero_effect_interval_contains_zero(null_shares):
    spec = small_spec()
    result = evaluate(
        *_sample(null_shares, spec),
        spec,
        MONTH,
    )
    assert result.balanced, result.worst_smd
    for outcome in spec.outcomes:
        for h in spec.horizons:
            matched = _row(result, outcome, h, "matched")
            assert matched["ci_low"] <= 0 <= matched["ci_high"], (outcome, h, matched)
    naive = _row(result, "employed", 6, "naive")
    assert naive["ci_low"] > 0  # no effect, yet the naive difference finds one


def _sample(root, spec):
    sample = build_sample(connect_shares(str(root)), spec, MONTH)
    return sample.table, sample.available


def test_balance_fails_without_covariates_in_the_propensity_model(null_shares):
    spec = small_spec(propensity_covariates=[])
    result = evaluate(*_sample(null_shares, spec), spec, MONTH)
    assert not result.balanced
    assert {"age_band", "regime", "duration_band"} <= set(result.imbalanced)


def test_exact_covariates_match_every_treated_person_within_their_history(null_shares):
    """Controls share their treated person's months in work and on UC (the demo's exact
    covariates), so those balance exactly, and the rest within the threshold."""
    spec = small_spec()
    assert spec.exact_covariates == ["employed_months_prior", "uc_months_prior"]
    table, available = _sample(null_shares, spec)
    result = evaluate(table, available, spec, MONTH)
    worst = result.worst_smd
    assert worst["employed_months_prior"][0] > 0.1  # imbalanced before matching
    assert worst["employed_months_prior"][1] < 1e-12 and worst["uc_months_prior"][1] < 1e-12
    assert result.balanced, worst


def _pairs(matching) -> list[tuple[int, int]]:
    """(treated row, control row) of every match: each treated row's c matches follow one
    another, each weighing 1/c."""
    pairs, at = [], 0
    for t_row in matching.treated_rows:
        count = round(1 / matching.control_weight[at])
        pairs += [(t_row, c_row) for c_row in matching.control_rows[at : at + count]]
        at += count
    assert at == len(matching.control_rows)
    return pairs


def test_matching_never_crosses_strata():
    rng = np.random.default_rng(3)
    n = 2_000
    logit = rng.normal(size=n)
    treated = rng.random(n) < 0.1
    history = pa.table({"months": rng.integers(0, 4, n), "band": rng.choice(["a", "b"], n)})
    strata = exact_strata(history, ["months", "band"])
    assert len(np.unique(strata)) == 8
    stratified = _pairs(match(logit, treated, 0.2, k=3, strata=strata))
    assert len({t for t, _ in stratified}) > treated.sum() / 2
    assert all(strata[t] == strata[c] for t, c in stratified)
    assert all(abs(logit[t] - logit[c]) <= 0.2 * logit.std() for t, c in stratified)
    # Without strata the same scores match across them (the test can fail).
    assert any(strata[t] != strata[c] for t, c in _pairs(match(logit, treated, 0.2, k=3)))


def test_published_results_respect_disclosure_control(null_shares):
    policy = DisclosurePolicy()
    spec = small_spec()
    table, available = _sample(null_shares, spec)
    published = publish_estimates(evaluate(table, available, spec, MONTH).estimates, policy)
    assert set(published["status"].to_pylist()) == {"published"}
    for column in ("treated_n", "comparison_n", "treated_positive", "comparison_positive"):
        values = [v for v in published[column].to_pylist() if v is not None]
        assert values and all(v >= policy.threshold and v % 5 == 0 for v in values), column

    # A cohort of eight: every estimate is suppressed, with the reason; no cell under 10.
    treated = table["treated"]
    keep = pc.or_(pc.invert(treated), pc.less(pc.cumulative_sum(pc.cast(treated, "int64")), 9))
    small = table.filter(keep)
    assert pc.sum(small["treated"]).as_py() == 8
    out = publish_estimates(evaluate(small, available, spec, MONTH).estimates, policy).to_pylist()
    assert {r["status"] for r in out} == {"suppressed"}
    assert all("treated: 8 < 10" in r["reason"] for r in out)
    assert all(r["estimate"] is None and r["treated_n"] is None for r in out)
    for r in out:
        for column in ("treated_n", "comparison_n", "treated_positive", "comparison_positive"):
            assert r[column] is None or r[column] >= policy.threshold


def test_provisional_until_the_last_horizon_exists(null_shares):
    spec = small_spec(horizons=[3, 12])  # 2025-04 is not in the shares
    table, available = _sample(null_shares, spec)
    assert available == {3: True, 12: False}
    result = evaluate(table, available, spec, MONTH)
    assert result.provisional
    late = _row(result, "employed", 12, "matched")
    assert late["estimate"] is None and not late["available"]
    published = publish_estimates(result.estimates, DisclosurePolicy()).to_pylist()
    assert {r["status"] for r in published if r["horizon"] == 12} == {"provisional"}
