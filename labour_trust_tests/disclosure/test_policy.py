from pathlib import Path

import pytest
from pydantic import ValidationError

from labour_trust.disclosure.policy import DisclosurePolicy, PolicyError


def test_defaults_follow_the_design():
    p = DisclosurePolicy()
    assert (p.threshold, p.count_rounding_base, p.earnings_rounding) == (10, 5, 100)
    assert (p.percentage_rounding, p.p_percent, p.nk_n, p.nk_k) == (0.1, 10, 2, 90)
    assert p.disclosive_zeros is True
    assert p.count_protection == 10  # protection level defaults to the threshold


def test_loads_from_yaml(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: '2025-02'\nthreshold: 5\ncount_rounding_base: 1\nprotection_level: 7\n"
    )
    p = DisclosurePolicy.from_yaml(path)
    assert (p.version, p.threshold, p.count_rounding_base, p.count_protection) == (
        "2025-02",
        5,
        1,
        7,
    )
    assert DisclosurePolicy.from_dict(p.to_dict()) == p


def test_empty_yaml_gives_defaults(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text("")
    assert DisclosurePolicy.from_yaml(path) == DisclosurePolicy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p_percent: 150", r"p_percent must be a number in \(0, 100\), got 150"),
        ("threshold: 0", "threshold must be an integer >= 1, got 0"),
        ("threshold: true", "threshold must be an integer >= 1, got True"),
        ("disclosive_zeros: 1", "disclosive_zeros must be true or false, got 1"),
        ("secondary_cost: cheap", "secondary_cost must be one of"),
        ("count_rounding_base: 50", "at most twice the threshold"),
        ("treshold: 10", "unknown key.*treshold.*valid keys are"),
    ],
)
def test_invalid_policy_yaml_names_the_key_and_value(tmp_path: Path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(PolicyError, match=expected) as err:
        DisclosurePolicy.from_yaml(path)
    assert str(path) in str(err.value)


def test_unreadable_or_malformed_yaml(tmp_path: Path):
    with pytest.raises(PolicyError, match="cannot read"):
        DisclosurePolicy.from_yaml(tmp_path / "missing.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(PolicyError, match="expected a mapping"):
        DisclosurePolicy.from_yaml(path)
    path.write_text("threshold: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        DisclosurePolicy.from_yaml(path)


def test_policy_is_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        DisclosurePolicy().threshold = 3  # type: ignore[misc]


def test_every_problem_is_named_with_its_rule(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: ' '\nnk_k: .inf\nprotection_level: -1\n")
    with pytest.raises(PolicyError) as err:
        DisclosurePolicy.from_yaml(path)
    assert str(err.value).splitlines() == [
        f"disclosure policy {path}: field version must be a non-empty string, got ' '",
        f"disclosure policy {path}: field nk_k must be a number in (0, 100], got inf",
        f"disclosure policy {path}: field protection_level must be null or a number >= 0, got -1",
    ]


def test_constructing_an_invalid_policy_raises_policy_error():
    with pytest.raises(PolicyError, match="field nk_n must be an integer from 1 to 10"):
        DisclosurePolicy(nk_n=0)
