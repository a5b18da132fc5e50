"""A claimant skills programme with a planted, known effect: ground truth for evaluations.

Jobcentres refer Universal Credit claimants to a short employability course ("14 Preparation
for Life and Work", education and training, Entry to Level 2), started and achieved within
one month m. Who is referred depends only on what the shares show about the claimant in m —
age band, area (ITL1 region), conditionality regime and how long the claim has run — so
selection is *on observables*: a naive comparison with other claimants is biased (young,
newly claiming people in some regions find work sooner anyway), a comparison matched on
those observables is not.

The planted effect: with probability ``effect`` an achiever gets a job because of the course,
starting 1–3 months after m and lasting until m+15, which the person would not have had
otherwise (someone already in work stays in work). So the effect on the treated of being in
PAYE employment at m+h (h in 3..12) is ``effect × P(otherwise out of work at m+h)``; the
exact figure for any cohort is the difference between shares simulated with ``effect`` and
with 0 (same seed: same people, same referrals), which is what the evaluation tests use.

Everything is a pure hash of (seed, person, month), like the rest of the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labour_trust.months import month_index
from labour_trust.synthetic import rng
from labour_trust.synthetic.enterprises import NEVER
from labour_trust.synthetic.places import places
from labour_trust.synthetic.population import PENSION_AGE, Persons

if TYPE_CHECKING:  # lifecourse imports this module
    from labour_trust.synthetic.lifecourse import Claims

# Commit metadata keys (labour_trust.* like the others in publish.py).
EFFECT_KEY = "labour_trust.programme_effect"
UPTAKE_KEY = "labour_trust.programme_uptake"

SSA_INDEX = 13  # "14 Preparation for Life and Work"
PROGRAMME_INDEX = 1  # education_and_training
_LEVEL_CUM = np.cumsum([0.40, 0.45, 0.15])  # Entry, Level 1, Level 2

JOB_LAG = (1, 3)  # the course job starts 1-3 months after achievement ...
JOB_END = 16  # ... and runs to m+15: every horizon 3..12 is covered
LOOK_BACK = JOB_END  # months of referrals a month's employment depends on

# Referrals per eligible claimant-month (before ``uptake``): ~0.1% at national scale, a few
# thousand achievements a month, within the FE share's usual volume.
_BASE_RATE = 0.0012
_AGE_FLOORS = np.array([25, 35, 50, 65])  # age bands as in the UC share
_AGE_MULT = np.array([4.0, 2.0, 1.0, 0.5, 0.2])
_DURATION_FLOORS = np.array([3, 6, 12])  # months since the claim began
_DURATION_MULT = np.array([2.5, 1.5, 1.0, 0.5])
_REGIME_MULT = np.array([1.0, 0.0, 0.2, 0.8, 0.6, 0.0])  # by regime index (none if working)
# ITL1 regions in reference order (NE, NW, Yorks, E Mids, W Mids, East, London, SE, SW,
# Wales, Scotland, NI): programme capacity differs by area.
_REGION_MULT = np.array([1.8, 1.6, 1.4, 1.2, 1.0, 0.8, 0.6, 0.7, 0.9, 1.5, 1.2, 0.5])

_S_REFERRAL = 501


@dataclass(frozen=True)
class SkillsProgramme:
    """``effect``: probability that achieving the course gets the achiever a job they would
    not otherwise have had (m+1..m+3 to m+15); ``uptake``: multiplies referral rates (tests
    raise it for a large cohort at a small scale). ``withheld_month`` ('YYYY-MM') simulates
    one cohort's counterfactual: that month's achievers get no course job (everything else
    unchanged, including later referrals), so the exact effect on that cohort is the
    difference from the same shares without it."""

    effect: float = 0.10
    uptake: float = 1.0
    withheld_month: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.effect <= 1.0:
            raise ValueError(f"programme effect must be in [0, 1], not {self.effect}")
        if self.uptake < 0:
            raise ValueError(f"programme uptake must be >= 0, not {self.uptake}")
        if self.withheld_month is not None:
            month_index(self.withheld_month)  # validates the label

    def metadata(self) -> dict[str, str]:
        return {EFFECT_KEY: repr(float(self.effect)), UPTAKE_KEY: repr(float(self.uptake))}

    def withheld(self) -> int | None:
        return None if self.withheld_month is None else month_index(self.withheld_month)


DEFAULT_PROGRAMME = SkillsProgramme()


@dataclass(frozen=True)
class Referrals:
    """Claimants of a block who start and achieve the course in month m."""

    rows: np.ndarray  # person row in the block
    level: np.ndarray  # index into FE_LEVELS
    job: np.ndarray  # bool: the course gets them a job
    job_start: np.ndarray  # month the course job starts (if job)


def referrals(
    people: Persons,
    claims: Claims,
    m: int,
    seed: int,
    programme: SkillsProgramme,
    in_work: tuple[np.ndarray, np.ndarray] | None = None,
) -> Referrals:
    """Who is referred in month m: claimants on a claim in its out-of-work part, drawn with a
    probability that depends on age band, claim duration, regime and region only.
    ``in_work``: the persons' `counted_in_work_spells` in m's year, if already known."""
    # Imported here: lifecourse imports this module.
    from labour_trust.synthetic import lifecourse

    if programme.uptake == 0:
        empty = np.empty(0, dtype=np.int64)
        return Referrals(empty, empty, np.empty(0, dtype=bool), empty)
    covering = claims.exists & (claims.start <= m) & (m < claims.work_from)
    rows = np.flatnonzero(covering.any(axis=1))
    age = (m - people.birth[rows]) / 12.0
    rows = rows[(age >= 16) & (age < PENSION_AGE)]
    age = (m - people.birth[rows]) / 12.0
    col = np.where(covering[rows], claims.start[rows], np.iinfo(np.int64).max).argmin(axis=1)
    regime = claims.regime[rows, col]
    rate = (
        _BASE_RATE
        * programme.uptake
        * _AGE_MULT[np.searchsorted(_AGE_FLOORS, age, side="right")]
        * _REGIME_MULT[regime]
        * _REGION_MULT[places().region[people.lad[rows]]]
    )
    h = rng.hash64(rng.stream_key(seed, _S_REFERRAL), people.ids[rows], m)
    u = rng.u16(h, 0)
    # The claim's duration as the UC share reports it (joined with in-work claims), not the
    # main spell's own start: selection must be on observables. It costs a chain of spells
    # per person, so it is found only for those the largest duration factor would refer.
    maybe = u < np.minimum(rate * _DURATION_MULT.max(), 0.95)
    rows, h, u, rate = rows[maybe], h[maybe], u[maybe], rate[maybe]
    if in_work is None:
        in_work = lifecourse.counted_in_work_spells(people.subset(rows), m, seed)
    else:
        in_work = (in_work[0][rows], in_work[1][rows])
    began = lifecourse.claim_began_out_of_work(claims.rows(rows), in_work, m)
    rate = rate * _DURATION_MULT[np.searchsorted(_DURATION_FLOORS, m - began, side="right")]
    chosen = u < np.minimum(rate, 0.95)
    rows, h = rows[chosen], h[chosen]
    level = np.searchsorted(_LEVEL_CUM, rng.u16(h, 1), side="right").clip(0, 2)
    job = (rng.u16(h, 2) < programme.effect) & (m != programme.withheld())
    lag = JOB_LAG[0] + np.floor((JOB_LAG[1] - JOB_LAG[0] + 1) * rng.u16(h, 3)).astype(np.int64)
    return Referrals(rows, level.astype(np.int64), job, m + lag)


def course_jobs(
    people: Persons, claims: Claims, t: int, seed: int, programme: SkillsProgramme
) -> tuple[np.ndarray, np.ndarray]:
    """(running, start) per person: the course job of a referral in t-15..t-1 running at t
    (the latest-starting one if several)."""
    start = np.full(len(people), NEVER, dtype=np.int64)
    if programme.effect == 0 or programme.uptake == 0:
        return start > NEVER, start
    # Only claimants out of work at some point of the look-back can have been referred:
    # the loop runs over them alone (a few percent of persons).
    first = t - JOB_END + 1
    live = claims.exists & (claims.start < t) & (claims.work_from > first)
    who = np.flatnonzero(live.any(axis=1))
    from labour_trust.synthetic import lifecourse  # imports this module

    subset, sub_claims = people.subset(who), claims.rows(who)
    in_work = {}  # by year: spells are drawn per year
    for m in range(first, t):
        year = m // lifecourse.WINDOW
        if year not in in_work:
            in_work[year] = lifecourse.counted_in_work_spells(subset, m, seed)
        r = referrals(subset, sub_claims, m, seed, programme, in_work[year])
        on = r.job & (r.job_start <= t)
        np.maximum.at(start, who[r.rows[on]], r.job_start[on])
    return start > NEVER, start
