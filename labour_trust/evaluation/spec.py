"""Evaluation specs as data: `evaluations.yaml`, validated with pydantic.

The store is `$LABOUR_TRUST_HOME/evaluations.yaml` if present, else the demo shipped in the
package (read in place, never copied). An invalid file fails with one message per problem,
naming the file, the evaluation and the field, e.g.
``evaluations.yaml: evaluation 'x', field horizons.1: Input should be greater than 0``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labour_trust.feeds.vocabulary import (
    CONDITIONALITY_REGIMES,
    FE_LEVELS,
    FE_PROGRAMMES,
    SSA_TIER1,
)
from labour_trust.settings import store_root
from labour_trust.store import Store
from labour_trust.validation import Loc, describe_validation_error

STORE_NAME = "evaluations.yaml"
DEMO_RESOURCE = "demo_evaluations.yaml"

Covariate = Literal[
    "age_band",
    "sex",
    "disability",
    "region",
    "regime",
    "duration_band",
    "uc_months_prior",
    "employed_months_prior",
    "pay_prior",
]
COVARIATE_DESCRIPTIONS: dict[str, str] = {
    "age_band": "UC age band in month m",
    "sex": "UC sex",
    "disability": "UC disability flag",
    "region": "ITL1 region of the UC residence LAD in month m",
    "regime": "UC conditionality regime in month m",
    "duration_band": "UC claim duration band in month m",
    "uc_months_prior": "months on UC in the look-back window before m",
    "employed_months_prior": "months in PAYE employment in the look-back window before m",
    "pay_prior": "mean monthly PAYE pay over the look-back window (0 when not employed)",
}
CATEGORICAL = frozenset({"age_band", "sex", "disability", "region", "regime", "duration_band"})
Outcome = Literal["employed", "monthly_pay", "on_uc"]
OUTCOME_DESCRIPTIONS: dict[str, str] = {
    "employed": "in PAYE employment in month m+h (share)",
    "monthly_pay": "gross PAYE pay in month m+h, summed over jobs, 0 if not employed (£)",
    "on_uc": "on Universal Credit in month m+h (share)",
}
OUT_OF_WORK_REGIMES = [r for r in CONDITIONALITY_REGIMES if not r.startswith("Working")]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class EvaluationSpecError(ValueError):
    """An evaluations file or spec is invalid; the message names evaluation and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _within(values: list[str] | None, allowed: tuple[str, ...] | list[str], what: str):
    for value in values or []:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
    return values


class FeAchievement(_Strict):
    """Treated: achieving an FE course in month m (each filter optional: any if absent)."""

    levels: list[str] | None = None
    programmes: list[str] | None = None
    ssa_tier1: list[str] | None = None

    @field_validator("levels")
    @classmethod
    def _levels(cls, v):
        return _within(v, FE_LEVELS, "level")

    @field_validator("programmes")
    @classmethod
    def _programmes(cls, v):
        return _within(v, FE_PROGRAMMES, "programme")

    @field_validator("ssa_tier1")
    @classmethod
    def _ssa(cls, v):
        return _within(v, SSA_TIER1, "sector subject area")


class RegimeStart(_Strict):
    """Treated: UC claimants in ``regime`` in month m who were not in it in m-1."""

    regime: str

    @field_validator("regime")
    @classmethod
    def _regime(cls, v):
        _within([v], CONDITIONALITY_REGIMES, "conditionality regime")
        return v


class TreatedCohort(_Strict):
    fe_achievement: FeAchievement | None = None
    uc_regime_start: RegimeStart | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [n for n in ("fe_achievement", "uc_regime_start") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of fe_achievement, uc_regime_start")
        return self


class ComparisonPool(_Strict):
    """Who is eligible in month m — treated and comparison alike, so that both come from
    the same population: UC claimants in ``uc_regimes`` (optionally absent from PAYE in m),
    without an FE achievement in the ``prior_participation_months`` before m (an earlier
    course's effect would otherwise sit in their outcomes). The comparison pool is the
    eligible who were not treated in m and achieved no FE course in m."""

    uc_regimes: list[str] = Field(default_factory=lambda: list(OUT_OF_WORK_REGIMES))
    paye_absent: bool = False
    prior_participation_months: int = Field(default=12, ge=0, le=36)

    @field_validator("uc_regimes")
    @classmethod
    def _regimes(cls, v):
        if not v:
            raise ValueError("at least one regime")
        return _within(v, CONDITIONALITY_REGIMES, "conditionality regime")


class EvaluationSpec(_Strict):
    name: str
    owner: str
    description: str = Field(min_length=1)
    treated: TreatedCohort
    comparison: ComparisonPool = Field(default_factory=ComparisonPool)
    covariates: list[Covariate] = Field(min_length=1)
    # The covariates of the propensity model (default: all of ``covariates``); balance is
    # always checked on all of ``covariates``.
    propensity_covariates: list[Covariate] | None = None
    # Covariates matched exactly: a treated person's controls share their values.
    exact_covariates: list[Covariate] = Field(default_factory=list)
    lookback_months: int = Field(default=12, ge=1, le=36)
    outcomes: list[Outcome] = Field(min_length=1)
    horizons: list[int] = Field(min_length=1)
    caliper_sd: float = Field(default=0.2, gt=0, le=1)
    neighbours: int = Field(default=5, ge=1, le=20)
    # Below this many treated a month is not estimated: with a few dozen people, chance
    # imbalance alone exceeds the balance threshold and the intervals say nothing.
    min_treated: int = Field(default=200, ge=1)
    balance_threshold: float = Field(default=0.1, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not _NAME.match(v):
            raise ValueError("must be lower_snake_case: a-z, 0-9, _ (it names an asset)")
        return v

    @field_validator("owner")
    @classmethod
    def _owner(cls, v):
        # Dagster accepts owners as team:name or an email address.
        if not re.match(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$", v):
            raise ValueError("must be team:<name> or an email address")
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v):
        for h in v:
            if not 1 <= h <= 24:
                raise ValueError(f"horizon {h} must be 1..24 months")
        if len(set(v)) != len(v):
            raise ValueError("horizons repeat")
        return sorted(v)

    @field_validator("covariates", "outcomes")
    @classmethod
    def _unique(cls, v):
        if len(set(v)) != len(v):
            raise ValueError("items repeat")
        return v

    @model_validator(mode="after")
    def _propensity_subset(self):
        for field in ("propensity_covariates", "exact_covariates"):
            extra = set(getattr(self, field) or []) - set(self.covariates)
            if extra:
                raise ValueError(f"{field} not in covariates: {sorted(extra)}")
        return self

    @property
    def model_covariates(self) -> list[str]:
        chosen = self.propensity_covariates
        return list(self.covariates if chosen is None else chosen)

    @property
    def fe_offsets(self) -> tuple[int, ...]:
        return tuple(range(-self.comparison.prior_participation_months, 1))

    @property
    def person_offsets(self) -> tuple[int, ...]:
        """UC and PAYE months read: the look-back window, m itself, every horizon (not the
        months between horizons)."""
        return (*range(-self.lookback_months, 1), *self.horizons)


class _File(_Strict):
    evaluations: list[EvaluationSpec]


def parse_evaluations(data: object, *, source: str = STORE_NAME) -> dict[str, EvaluationSpec]:
    """Validate parsed YAML; every problem is reported, each naming evaluation and field."""
    if not isinstance(data, dict) or "evaluations" not in data:
        raise EvaluationSpecError(f"{source}: expected a mapping with a list 'evaluations'")
    items = data["evaluations"]
    try:
        specs = _File.model_validate(data).evaluations
    except ValidationError as e:
        raise EvaluationSpecError(_describe(e, items, source)) from None
    seen: dict[str, EvaluationSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise EvaluationSpecError(f"{source}: evaluation {spec.name!r} is defined twice")
        seen[spec.name] = spec
    return seen


def _describe(error: ValidationError, items: object, source: str) -> str:
    def locate(loc: Loc) -> tuple[str, Loc]:
        """``evaluations.3.horizons`` → ``evaluation 'name'`` (or ``#4``), ``horizons``."""
        if len(loc) >= 2 and loc[0] == "evaluations" and isinstance(loc[1], int):
            index = loc[1]
            name = None
            if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
                name = items[index].get("name")
            return (f"evaluation {name!r}" if name else f"evaluation #{index + 1}"), loc[2:]
        return "file", loc

    return describe_validation_error(error, source, locate=locate)


def store_path(home: Path) -> Path:
    return Path(home) / STORE_NAME


def load_evaluations(home: Path | None = None) -> dict[str, EvaluationSpec]:
    """The evaluations in the home's store (STORE/evaluations.yaml), else the shipped demo."""
    if home is not None:
        store = Store(store_root(home))
        if (text := store.read_text(STORE_NAME)) is not None:
            return parse_text(text, store.uri(STORE_NAME))
    text = resources.files("labour_trust.evaluation").joinpath(DEMO_RESOURCE).read_text()
    return parse_evaluations(yaml.safe_load(text), source=f"(demo) {DEMO_RESOURCE}")


def load_file(path: Path) -> dict[str, EvaluationSpec]:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise EvaluationSpecError(f"cannot read {path}: {e.strerror}") from None
    return parse_text(text, str(path))


def parse_text(text: str, source: str) -> dict[str, EvaluationSpec]:
    """The evaluations in YAML `text` read from `source` (a path or URI, for messages)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise EvaluationSpecError(f"{source} is not valid YAML: {e}") from None
    return parse_evaluations(data, source=source)
