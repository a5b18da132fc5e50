"""The disclosure-control policy: thresholds, rounding and dominance rules, in one place.

Defaults follow ONS/DfE/DWP publication practice. A policy is loaded from
YAML so that a change of rule is a reviewed config change with its own ``version``, which
is stamped on every published table and audit report.

Example YAML (every key optional; unknown keys are an error so that a typo cannot silently
fall back to a default)::

    version: "2025-01"
    threshold: 10
    count_rounding_base: 5
    earnings_rounding: 100
    percentage_rounding: 0.1
    employment_rounding: 10
    p_percent: 10
    nk_n: 2
    nk_k: 90
    disclosive_zeros: true
    protection_level: 10     # null = same as threshold
    secondary_cost: value    # or: unity
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labour_trust.validation import describe_validation_error

# The largest n of the (n, k) dominance rule: the trust step keeps this many largest
# contributor values per cell (``trust/contributors.TOP_CONTRIBUTORS``).
MAX_NK_N = 10

SECONDARY_COSTS = ("value", "unity")


class PolicyError(ValueError):
    """A disclosure policy file or value is invalid."""


class DisclosurePolicy(BaseModel):
    """Statistical disclosure control rules applied to every published table.

    - ``threshold``: counts 0 < n < threshold are suppressed; magnitudes need at least this
      many contributors.
    - ``count_rounding_base``: published counts are rounded (half up) to this base.
    - ``earnings_rounding`` / ``percentage_rounding`` / ``employment_rounding``: rounding
      step of magnitudes by unit (pay, shares in percentage points, jobs).
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

    Each field's ``description`` is its rule, as error messages state it. Values are taken
    as given (strict): ``threshold: yes`` is not 1 and ``disclosive_zeros: 1`` not true;
    numbers must be finite. An invalid policy raises ``PolicyError`` naming every problem.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    version: str = Field("default-2", description="a non-empty string")
    threshold: int = Field(10, ge=1, description="an integer >= 1")
    count_rounding_base: int = Field(5, ge=1, description="an integer >= 1 (1 = no rounding)")
    earnings_rounding: float = Field(100.0, gt=0, description="a number > 0")
    percentage_rounding: float = Field(0.1, gt=0, description="a number > 0")
    employment_rounding: float = Field(10.0, gt=0, description="a number > 0")
    p_percent: float = Field(10.0, gt=0, lt=100, description="a number in (0, 100)")
    # The trust keeps each cell's MAX_NK_N largest contributors (trust/contributors.py).
    nk_n: int = Field(2, ge=1, le=MAX_NK_N, description=f"an integer from 1 to {MAX_NK_N}")
    nk_k: float = Field(90.0, gt=0, le=100, description="a number in (0, 100]")
    disclosive_zeros: bool = Field(True, description="true or false")
    protection_level: float | None = Field(None, ge=0, description="null or a number >= 0")
    secondary_cost: Literal["value", "unity"] = Field(
        "value", description=f"one of {SECONDARY_COSTS}"
    )

    def __init__(self, **data: Any) -> None:
        # Every way in (keywords, model_validate, from_dict) comes through here: pydantic
        # validates through an overridden __init__. ``from_dict`` re-describes the cause
        # with its source.
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise PolicyError(_describe(e, "disclosure policy")) from e

    def rounding_step(self, unit: str | None) -> float | None:
        """The rounding step of a magnitude's or derived value's unit (None: not rounded)."""
        return {
            "earnings": self.earnings_rounding,
            "percentage": self.percentage_rounding,
            "share": self.percentage_rounding / 100,  # a fraction: the same percentage points
            "employment": self.employment_rounding,
        }.get(unit or "")

    @field_validator("version")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty")
        return value

    @model_validator(mode="after")
    def _rounding_keeps_threshold(self) -> DisclosurePolicy:
        # A count at the threshold must not round to 0: attackers (and the audit) read a
        # published 0 as a true zero.
        if self.count_rounding_base > 2 * self.threshold:
            raise ValueError(
                f"count_rounding_base ({self.count_rounding_base}) must be at most twice the "
                f"threshold ({self.threshold}), or counts at the threshold would round to 0"
            )
        return self

    @property
    def count_protection(self) -> float:
        """Minimum attacker-interval width for a suppressed count."""
        return float(self.threshold if self.protection_level is None else self.protection_level)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "policy") -> DisclosurePolicy:
        if not isinstance(data, dict):
            raise PolicyError(
                f"{source}: expected a mapping of policy keys, got {type(data).__name__}"
            )
        try:
            return cls(**{str(key): value for key, value in data.items()})
        except PolicyError as e:  # described again, naming `source`
            if not isinstance(e.__cause__, ValidationError):
                raise
            raise PolicyError(_describe(e.__cause__, source)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> DisclosurePolicy:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise PolicyError(f"cannot read disclosure policy {path}: {e.strerror}") from None
        return cls.from_text(text, str(path))

    @classmethod
    def from_text(cls, text: str, source: str) -> DisclosurePolicy:
        """The policy in YAML `text`, read from `source` (a path or URI, for messages)."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise PolicyError(f"disclosure policy {source} is not valid YAML: {e}") from None
        return cls.from_dict(data or {}, source=f"disclosure policy {source}")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _describe(error: ValidationError, source: str) -> str:
    return describe_validation_error(error, source, model=DisclosurePolicy)
