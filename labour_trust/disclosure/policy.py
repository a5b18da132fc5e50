"""The disclosure-control policy: thresholds, rounding and dominance rules, in one place.

Defaults follow ONS/DfE/DWP publication practice (DESIGN.md §5). A policy is loaded from
YAML so that a change of rule is a reviewed config change with its own ``version``, which
is stamped on every published table and audit report.

Example YAML (every key optional; unknown keys are an error so that a typo cannot silently
fall back to a default)::

    version: "2025-01"
    threshold: 10
    count_rounding_base: 5
    earnings_rounding: 100
    percentage_rounding: 0.1
    p_percent: 10
    nk_n: 2
    nk_k: 90
    disclosive_zeros: true
    protection_level: 10     # null = same as threshold
    secondary_cost: value    # or: unity
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

SECONDARY_COSTS = ("value", "unity")


class PolicyError(ValueError):
    """A disclosure policy file or value is invalid."""


@dataclass(frozen=True)
class DisclosurePolicy:
    """Statistical disclosure control rules applied to every published table.

    - ``threshold``: counts 0 < n < threshold are suppressed; magnitudes need at least this
      many contributors.
    - ``count_rounding_base``: published counts are rounded (half up) to this base.
    - ``earnings_rounding`` / ``percentage_rounding``: rounding step of magnitudes by unit.
    - ``p_percent``: p% rule — a sum is sensitive when the second-largest contributor could
      estimate the largest within p%: ``X - x1 - x2 < p/100 * x1``.
    - ``nk_n``, ``nk_k``: (n, k) dominance — sensitive when the n largest contributors hold
      more than k% of the sum.
    - ``disclosive_zeros``: zeros that reveal that a whole group shares one category are
      sensitive (see ``primary.disclosive_zero_cells``).
    - ``protection_level``: the width an attacker's interval for a suppressed count must
      keep; ``None`` means ``threshold``.
    - ``secondary_cost``: information-loss weight of a secondary suppression: ``value``
      (cell value + 1, so totals are expensive) or ``unity`` (number of cells).
    """

    version: str = "default-1"
    threshold: int = 10
    count_rounding_base: int = 5
    earnings_rounding: float = 100.0
    percentage_rounding: float = 0.1
    p_percent: float = 10.0
    nk_n: int = 2
    nk_k: float = 90.0
    disclosive_zeros: bool = True
    protection_level: float | None = None
    secondary_cost: str = "value"

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise PolicyError(f"disclosure policy: {problem}")

    @property
    def count_protection(self) -> float:
        """Minimum attacker-interval width for a suppressed count."""
        return float(self.threshold if self.protection_level is None else self.protection_level)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "policy") -> DisclosurePolicy:
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: expected a mapping of policy keys, got {type(data)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(
                f"{source}: unknown key(s) {', '.join(unknown)}; "
                f"valid keys are {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except PolicyError as e:
            raise PolicyError(f"{source}: {str(e).removeprefix('disclosure policy: ')}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> DisclosurePolicy:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as e:
            raise PolicyError(f"cannot read disclosure policy {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise PolicyError(f"disclosure policy {path} is not valid YAML: {e}") from None
        return cls.from_dict(data or {}, source=f"disclosure policy {path}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_int(value: object) -> bool:
    # bool is an int subclass; `threshold: yes` must not pass as 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _problems(p: DisclosurePolicy) -> list[str]:
    """Every invalid value, as a message naming the key, the rule and the value given."""
    checks: list[tuple[str, bool, str]] = [
        ("version", isinstance(p.version, str) and bool(p.version.strip()), "a non-empty string"),
        ("threshold", _is_int(p.threshold) and p.threshold >= 1, "an integer >= 1"),
        (
            "count_rounding_base",
            _is_int(p.count_rounding_base) and p.count_rounding_base >= 1,
            "an integer >= 1 (1 = no rounding)",
        ),
        (
            "earnings_rounding",
            _is_number(p.earnings_rounding) and p.earnings_rounding > 0,
            "a number > 0",
        ),
        (
            "percentage_rounding",
            _is_number(p.percentage_rounding) and p.percentage_rounding > 0,
            "a number > 0",
        ),
        ("p_percent", _is_number(p.p_percent) and 0 < p.p_percent < 100, "a number in (0, 100)"),
        ("nk_n", _is_int(p.nk_n) and p.nk_n >= 1, "an integer >= 1"),
        ("nk_k", _is_number(p.nk_k) and 0 < p.nk_k <= 100, "a number in (0, 100]"),
        ("disclosive_zeros", isinstance(p.disclosive_zeros, bool), "true or false"),
        (
            "protection_level",
            p.protection_level is None
            or (_is_number(p.protection_level) and p.protection_level >= 0),
            "null or a number >= 0",
        ),
        ("secondary_cost", p.secondary_cost in SECONDARY_COSTS, f"one of {SECONDARY_COSTS}"),
    ]
    problems = [
        f"{key} must be {rule}, got {getattr(p, key)!r}" for key, ok, rule in checks if not ok
    ]
    # A count at the threshold must not round to 0: attackers (and the audit) read a
    # published 0 as a true zero.
    if not problems and p.count_rounding_base > 2 * p.threshold:
        problems.append(
            f"count_rounding_base ({p.count_rounding_base}) must be at most twice the "
            f"threshold ({p.threshold}), or counts at the threshold would round to 0"
        )
    return problems
