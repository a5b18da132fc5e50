"""Evaluation specs: the shipped demo loads; invalid specs fail naming evaluation and field."""

from __future__ import annotations

import pytest
import yaml

from labour_trust.evaluation.spec import (
    EvaluationSpecError,
    load_evaluations,
    parse_evaluations,
    store_path,
)


def _demo() -> dict:
    spec = load_evaluations()["employability_course_claimants"]
    return spec.model_dump(mode="json", exclude_none=True)


def _errors(*evaluations: dict) -> str:
    with pytest.raises(EvaluationSpecError) as raised:
        parse_evaluations({"evaluations": list(evaluations)}, source="evaluations.yaml")
    return str(raised.value)


def test_demo_loads_and_home_file_replaces_it(tmp_path):
    demo = load_evaluations()
    assert "employability_course_claimants" in demo
    assert demo["employability_course_claimants"].horizons == [3, 6, 12]
    assert load_evaluations(tmp_path) == demo  # no file in the home: the demo, not a copy
    assert not store_path(tmp_path).exists()
    store_path(tmp_path).write_text(yaml.safe_dump({"evaluations": [_demo() | {"name": "x"}]}))
    assert set(load_evaluations(tmp_path)) == {"x"}


def test_errors_name_the_evaluation_and_the_field():
    bad = _demo() | {"horizons": [3, 0], "outcomes": ["employed", "happiness"]}
    message = _errors(bad)
    assert "evaluation 'employability_course_claimants', field horizons" in message
    assert "horizon 0 must be 1..24 months" in message
    assert "field outcomes.1" in message and "happiness" in message


def test_vocabulary_and_structure_errors_are_clear():
    levels = _demo()
    levels["treated"] = {"fe_achievement": {"levels": ["Level 9"]}}
    assert "field treated.fe_achievement.levels: unknown level 'Level 9'" in _errors(levels)

    start = _demo()
    start["treated"] = {"uc_regime_start": {"regime": "Searching for work"}}
    assert parse_evaluations({"evaluations": [start]})["employability_course_claimants"]

    both = _demo()
    both["treated"] = {
        "fe_achievement": {},
        "uc_regime_start": {"regime": "Searching for work"},
    }
    assert "give exactly one of fe_achievement, uc_regime_start" in _errors(both)

    unknown = _demo() | {"covariate": ["age_band"]}  # a typo must not pass silently
    assert "field covariate: Extra inputs are not permitted" in _errors(unknown)

    nameless = {k: v for k, v in _demo().items() if k != "name"}
    assert "evaluation #1, field name: Field required" in _errors(nameless)

    odd = _demo() | {"propensity_covariates": ["pay_prior"], "covariates": ["age_band"]}
    assert "propensity_covariates not in covariates: ['pay_prior']" in _errors(odd)
    odd = _demo() | {"exact_covariates": ["uc_months_prior"], "covariates": ["age_band"]}
    assert "exact_covariates not in covariates: ['uc_months_prior']" in _errors(odd)

    assert "field owner: must be team:<name>" in _errors(_demo() | {"owner": "bob"})
    assert "must be lower_snake_case" in _errors(_demo() | {"name": "Bad Name"})


def test_duplicate_names_and_bad_files(tmp_path):
    with pytest.raises(EvaluationSpecError, match="is defined twice"):
        parse_evaluations({"evaluations": [_demo(), _demo()]})
    store_path(tmp_path).write_text("evaluations: [")
    with pytest.raises(EvaluationSpecError, match="not valid YAML"):
        load_evaluations(tmp_path)
    store_path(tmp_path).write_text("- just a list")
    with pytest.raises(EvaluationSpecError, match="expected a mapping with a list 'evaluations'"):
        load_evaluations(tmp_path)
