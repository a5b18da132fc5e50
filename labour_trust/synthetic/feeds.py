"""One month of each department share, streamed as Arrow record batches.

Persons (or enterprise slots) are processed in fixed-size blocks, so memory is bounded
and the content does not depend on the batch size asked for; each block becomes the rows
of that block, matching the FeedSpec schema column for column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.feeds import vocabulary as v
from labour_trust.feeds.departments import (
    BUSINESS_POPULATION,
    FE_LEARNERS,
    PAYE_RTI,
    UC_CLAIMANTS,
)
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.feeds.spec import FeedSpec
from labour_trust.months import days_in_month, month_index
from labour_trust.synthetic import corrections, learning, lifecourse, programme, rng
from labour_trust.synthetic.enterprises import Enterprises, enterprises, size_band
from labour_trust.synthetic.places import places
from labour_trust.synthetic.population import PENSION_AGE, Persons, Population
from labour_trust.synthetic.tokens import hmac_hex, ninos, string_column, token_column

BLOCK = 1 << 16  # persons or enterprise slots per block (bounds memory)

# Median gross monthly pay (£) of a full job by SIC section A..U.
SIC_MEDIAN_PAY = np.array(
    [
        1700,
        3600,
        2700,
        3900,
        2600,
        2800,
        1700,
        2500,
        1000,
        3700,
        4100,
        2600,
        3300,
        1900,
        3000,
        2300,
        2200,
        1300,
        1700,
        1200,
        3600,
    ],
    dtype=np.float64,
)
_AGE_BAND_FLOORS = np.array([25, 35, 50, 65])
_DURATION_FLOORS = np.array([3, 6, 12, 24])
_EPOCH_MONTH = 1970 * 12
_S_PAY = 601


@dataclass
class Month:
    """Everything a block needs to know about the month being generated."""

    spec: FeedSpec
    t: int
    label: str
    seed: int
    scale: float
    key: LinkageKey
    revision: int
    skills: programme.SkillsProgramme = programme.DEFAULT_PROGRAMME
    _employer_tokens: np.ndarray | None = field(default=None, repr=False)

    @property
    def firms(self) -> Enterprises:
        return enterprises(self.seed, self.scale)

    def employer_tokens(self) -> np.ndarray:
        """Token (64 hex bytes) of every enterprise slot's current enterprise, hashed once."""
        if self._employer_tokens is None:
            slots = np.arange(self.firms.size, dtype=np.int64)
            gen, _ = self.firms.generation(slots, self.t)
            self._employer_tokens = hmac_hex(self.key, self.firms.references(slots, gen))
        return self._employer_tokens

    def constant(self, value: str, n: int) -> pa.Array:
        return pc.take(pa.array([value]), pa.array(np.zeros(n, dtype=np.int32)))

    def common(self, n: int) -> dict[str, pa.Array]:
        return {
            "key_version": self.constant(self.key.version, n),
            "month": self.constant(self.label, n),
        }

    def person_tokens(self, ids: np.ndarray) -> pa.Array:
        unique, index = np.unique(ids, return_inverse=True)
        return token_column(self.key, ninos(unique, self.seed), index)


def generate_month(
    spec: FeedSpec,
    month: str,
    *,
    scale: float,
    seed: int,
    key: LinkageKey,
    revision: int = 0,
    batch_rows: int = 1_000_000,
    skills: programme.SkillsProgramme = programme.DEFAULT_PROGRAMME,
) -> Iterator[pa.RecordBatch]:
    """Stream one month of a share as record batches of at most ``batch_rows`` rows.

    ``skills`` is the claimant skills programme (its uptake and planted effect on work):
    it shapes the UC, PAYE and FE shares alike."""
    if spec.name not in _BUILDERS:
        raise KeyError(f"No simulator for share {spec.name!r}; known: {sorted(_BUILDERS)}")
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive, not {batch_rows}")
    ctx = Month(spec, month_index(month), month, seed, scale, key, revision, skills)
    builder, total = _BUILDERS[spec.name]
    for start in range(0, total(ctx), BLOCK):
        batch = builder(ctx, start, start + BLOCK)
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)


def _population(ctx: Month) -> Population:
    return Population(ctx.seed, ctx.scale)


def _batch(ctx: Month, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [columns[f.name] for f in ctx.spec.schema], schema=ctx.spec.schema
    )


def _labels(vocabulary: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(vocabulary), pa.array(codes.astype(np.int32)))


def _lads(codes: np.ndarray) -> pa.Array:
    return _labels(places().codes, codes)


# --- DWP Universal Credit -------------------------------------------------------------


def uc_block(ctx: Month, start: int, stop: int) -> pa.RecordBatch:
    people = _population(ctx).persons(start, stop)
    state = lifecourse.month_state(people, ctx.t, ctx.seed, ctx.firms, ctx.skills)
    claiming, regime, since = state.claiming, state.regime, state.claim_start
    if ctx.revision:
        claiming, regime, since = _revise_uc(ctx, people, state)
    rows = np.flatnonzero(claiming)
    age_band = np.searchsorted(_AGE_BAND_FLOORS, people.age(ctx.t)[rows], side="right")
    duration = np.searchsorted(_DURATION_FLOORS, ctx.t - since[rows], side="right")
    return _batch(
        ctx,
        {
            "person_token": ctx.person_tokens(people.ids[rows]),
            **ctx.common(len(rows)),
            "lad_code": _lads(people.lad[rows]),
            "age_band": _labels(v.AGE_BANDS, age_band),
            "sex": _labels(
                v.SEXES, np.where(people.female[rows], v.SEXES.index("F"), v.SEXES.index("M"))
            ),
            "disability": pa.array(people.disabled[rows]),
            "conditionality_regime": _labels(v.CONDITIONALITY_REGIMES, regime[rows]),
            "duration_band": _labels(v.DURATION_BANDS, duration),
        },
    )


def _revise_uc(ctx: Month, people: Persons, state: lifecourse.MonthState):
    """Late claims added, claims withdrawn, and regimes reassessed."""
    h = corrections.draws(ctx.seed, ctx.t, ctx.revision, people.ids)
    age = people.age(ctx.t)
    eligible = (age >= 16) & (age < PENSION_AGE) & ~state.claiming
    late = eligible & corrections.amended(h, 0.006)
    employed = state.main.employed
    claiming = (state.claiming & ~corrections.dropped(h, 0.005)) | late
    regime = np.where(late, np.where(employed, lifecourse.WWR, lifecourse.SFW), state.regime)
    reassess = state.claiming & corrections.amended(h, 0.02)
    working = np.array([lifecourse.WWR, lifecourse.WNR])
    not_working = np.array([lifecourse.SFW, lifecourse.NWR, lifecourse.PLAN, lifecourse.PREP])
    swapped = np.where(
        np.isin(regime, working),
        corrections.other(h, regime, working),
        corrections.other(h, regime, not_working),
    )
    regime = np.where(reassess, swapped, regime).astype(np.int8)
    since = np.where(late, ctx.t, state.claim_start)
    return claiming, regime, since


# --- HMRC PAYE RTI --------------------------------------------------------------------


@dataclass(frozen=True)
class Jobs:
    """The PAYE rows of a block: every main job, then every second job."""

    who: np.ndarray  # person row in the block
    slot: np.ndarray  # employer's enterprise slot
    start: np.ndarray  # month the employment began
    day: np.ndarray  # day of that month
    identity: np.ndarray  # job hash (pay premium, revisions)
    second: np.ndarray  # bool

    @classmethod
    def of(cls, state: lifecourse.MonthState) -> Jobs:
        parts = [state.main, state.second]
        rows = [np.flatnonzero(job.employed) for job in parts]
        start = np.concatenate([job.start[r] for job, r in zip(parts, rows, strict=True)])
        identity = np.concatenate([job.identity[r] for job, r in zip(parts, rows, strict=True)])
        return cls(
            who=np.concatenate(rows),
            slot=np.concatenate([job.slot[r] for job, r in zip(parts, rows, strict=True)]),
            start=start,
            day=_start_day(identity, start),
            identity=identity,
            second=np.repeat([False, True], [len(r) for r in rows]),
        )

    def take(self, keep: np.ndarray) -> Jobs:
        return Jobs(*(getattr(self, f.name)[keep] for f in fields(self)))


def paye_block(ctx: Month, start: int, stop: int) -> pa.RecordBatch:
    people = _population(ctx).persons(start, stop)
    state = lifecourse.month_state(people, ctx.t, ctx.seed, ctx.firms, ctx.skills)
    jobs = Jobs.of(state)
    sic = ctx.firms.sic[jobs.slot]
    pay = _pay(ctx, people, state, jobs, sic)
    if ctx.revision:  # late RTI submissions: revised pay, employments withdrawn
        h = corrections.draws(ctx.seed, ctx.t, ctx.revision, people.ids[jobs.who], jobs.identity)
        revised = np.round(pay * corrections.factor(h, 0.15), 2)
        pay = np.where(corrections.amended(h, 0.03), revised, pay)
        keep = ~corrections.dropped(h, 0.005)
        jobs, sic, pay = jobs.take(keep), sic[keep], pay[keep]
    dates = (jobs.start - _EPOCH_MONTH).astype("datetime64[M]").astype("datetime64[D]") + (
        jobs.day - 1
    ).astype("timedelta64[D]")
    return _batch(
        ctx,
        {
            "person_token": ctx.person_tokens(people.ids[jobs.who]),
            **ctx.common(len(jobs.who)),
            "employer_token": string_column(ctx.employer_tokens()[jobs.slot]),
            "lad_code": _lads(people.lad[jobs.who]),
            "sic_section": _labels(v.SIC_SECTIONS, sic),
            "gross_pay_month": pa.array(pay, pa.float64()),
            "start_date": pa.array(dates, pa.date32()),
        },
    )


def _start_day(identity: np.ndarray, month: np.ndarray) -> np.ndarray:
    first = (month - _EPOCH_MONTH).astype("datetime64[M]")
    days = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int64)
    return 1 + np.floor(rng.u16(rng.hash64(identity, 1), 0) * days).astype(np.int64)


def _pay(
    ctx: Month, people: Persons, state: lifecourse.MonthState, jobs: Jobs, sic: np.ndarray
) -> np.ndarray:
    """Log-normal by sector, person and job; part month for new hires; lower for the young,
    the old, claimants (part-time, low-paid) and second jobs."""
    h = rng.hash64(rng.stream_key(ctx.seed, _S_PAY), jobs.identity, ctx.t)
    who = jobs.who
    age = people.age(ctx.t)[who]
    level = (
        0.45 * people.pay_effect[who]
        + 0.3 * rng.normal(rng.hash64(jobs.identity, 2))
        + 0.04 * rng.normal(h)
    )
    factor = (
        np.where(age < 25, 0.65, 1.0)
        * np.where(age >= 66, 0.6, 1.0)
        * np.where(state.claiming[who], 0.55, 1.0)
        * np.where(jobs.second, 0.35, 1.0)
    )
    days = days_in_month(ctx.t)
    part = np.where(jobs.start == ctx.t, (days - jobs.day + 1) / days, 1.0)
    pay = SIC_MEDIAN_PAY[sic] * np.exp(level) * factor * part
    pay = np.where(rng.u16(h, 3) < 0.003, 0.0, pay)  # unpaid month (leave, suspension)
    return np.round(pay, 2)


# --- DfE further education ------------------------------------------------------------


def fe_block(ctx: Month, start: int, stop: int) -> pa.RecordBatch:
    people = _population(ctx).persons(start, stop)
    courses = learning.courses(people, ctx.t, ctx.seed, learning.EVENT_WINDOWS)
    outcome = courses.outcome(ctx.t)
    events = np.flatnonzero(outcome >= 0)
    person, window, outcome = courses.rows[events], courses.cols[events], outcome[events]
    ssa, level, course_programme = (
        getattr(courses, a)[events].astype(np.int64) for a in ("ssa", "level", "programme")
    )
    # Programme courses start and are achieved in the month: a start and an achievement row.
    claims = lifecourse.claim_spells(people, ctx.t, ctx.seed)
    referred = programme.referrals(people, claims, ctx.t, ctx.seed, ctx.skills)
    n = len(referred.rows)
    person = np.concatenate([person, referred.rows, referred.rows])
    # Windows past any real one (-1, -2) keep corrections' draws apart from real courses'.
    window = np.concatenate([window, np.full(n, -1), np.full(n, -2)])
    outcome = np.concatenate(
        [outcome, np.full(n, learning.START), np.full(n, learning.ACHIEVEMENT)]
    )
    ssa = np.concatenate([ssa, np.full(2 * n, programme.SSA_INDEX)])
    level = np.concatenate([level, referred.level, referred.level])
    course_programme = np.concatenate([course_programme, np.full(2 * n, programme.PROGRAMME_INDEX)])
    if ctx.revision:
        h = corrections.draws(ctx.seed, ctx.t, ctx.revision, people.ids[person], window)
        level = np.where(
            corrections.amended(h, 0.02), corrections.other(h, level, np.arange(5)), level
        )
        keep = ~corrections.dropped(h, 0.01)
        person, ssa, level, course_programme, outcome = (
            a[keep] for a in (person, ssa, level, course_programme, outcome)
        )
    # One row per (person, subject, level, programme, outcome): the key of the share.
    combined = (((person * 15 + ssa) * 5 + level) * 3 + course_programme) * 3 + outcome
    _, first = np.unique(combined, return_index=True)
    keep = np.sort(first)
    person, ssa, level, course_programme, outcome = (
        a[keep] for a in (person, ssa, level, course_programme, outcome)
    )
    return _batch(
        ctx,
        {
            "person_token": ctx.person_tokens(people.ids[person]),
            **ctx.common(len(person)),
            "lad_code": _lads(people.lad[person]),
            "ssa_tier1": _labels(v.SSA_TIER1, ssa),
            "level": _labels(v.FE_LEVELS, level),
            "programme": _labels(v.FE_PROGRAMMES, course_programme),
            "outcome": _labels(v.FE_OUTCOMES, outcome),
        },
    )


# --- BEIS business population ---------------------------------------------------------


def business_block(ctx: Month, start: int, stop: int) -> pa.RecordBatch:
    firms = ctx.firms
    slots = np.arange(start, min(stop, firms.size), dtype=np.int64)
    gen, _ = firms.generation(slots, ctx.t)
    employment, turnover = firms.monthly(slots, ctx.t)
    if ctx.revision:
        h = corrections.draws(ctx.seed, ctx.t, ctx.revision, slots)
        turnover = np.where(
            corrections.amended(h, 0.03), np.round(turnover * corrections.factor(h, 0.2)), turnover
        )
        keep = ~corrections.dropped(h, 0.005)
        slots, gen, employment, turnover = (a[keep] for a in (slots, gen, employment, turnover))
    n = len(slots)
    return _batch(
        ctx,
        {
            "enterprise_token": token_column(ctx.key, firms.references(slots, gen), np.arange(n)),
            **ctx.common(n),
            "lad_code": _lads(firms.lad[slots]),
            "sic_section": _labels(v.SIC_SECTIONS, firms.sic[slots]),
            "size_band": _labels(v.SIZE_BANDS, size_band(employment)),
            "employment": pa.array(employment, pa.int64()),
            "turnover": pa.array(turnover.astype(np.int64), pa.int64()),
        },
    )


_BUILDERS: dict[str, tuple[Callable[[Month, int, int], pa.RecordBatch], Callable[[Month], int]]]
_BUILDERS = {
    UC_CLAIMANTS.name: (uc_block, lambda ctx: _population(ctx).size),
    PAYE_RTI.name: (paye_block, lambda ctx: _population(ctx).size),
    FE_LEARNERS.name: (fe_block, lambda ctx: _population(ctx).size),
    BUSINESS_POPULATION.name: (business_block, lambda ctx: ctx.firms.size),
}
