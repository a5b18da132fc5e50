"""Each person's month: on Universal Credit (and in which regime), employed (and where).

Lives are built from *spells* drawn per person per calendar year (window), each a pure
hash of (seed, person, window), so month m is computed without replaying earlier months
and consecutive months agree (claims persist, jobs keep their start date):

- claim spells: a UC claim of some regime and duration; searching-for-work claims often
  end in work (the last months are then "Working - with requirements"), otherwise the
  person is out of work for a gap before their job ladder resumes;
- the job ladder (workers and churners): successive jobs of the person's tenure, broken
  by claims; a job that resumes after a claim is a new hire with a new employer;
- entry jobs (the inactive): a job after a claim or a course ends, cut by a new claim;
- in-work claims (low-paid workers, churners) and short second jobs;
- course jobs of the claimant skills programme (``programme``): its planted effect.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from labour_trust.synthetic import learning, programme, rng
from labour_trust.synthetic.enterprises import NEVER, Enterprises
from labour_trust.synthetic.places import places
from labour_trust.synthetic.population import CHURNER, INACTIVE, PENSION_AGE, WORKER, Persons

WINDOW = 12
# A claim can end (resume ≤ start + 72) inside a job of up to 120 months that began
# before it, so claims back to 192 months ago still decide when the current job began.
CLAIM_WINDOWS = 16
MAX_CLAIM = 48
IN_WORK_WINDOWS = 7  # in-work claims last ≤ 24 months, but join claims up to 72 months back
CHAIN_MONTHS = 72
SECOND_JOB_WINDOWS = 2

# Regimes: indices into vocabulary.CONDITIONALITY_REGIMES.
SFW, WWR, NWR, PLAN, PREP, WNR = range(6)
_MAIN_REGIMES = np.array([SFW, NWR, PLAN, PREP])
_MAIN_MIX = rng.cumulative(
    [  # by kind: searching, no requirements, planning, preparing
        [0.90, 0.04, 0.03, 0.03],
        [0.72, 0.08, 0.08, 0.12],
        [0.15, 0.68, 0.07, 0.10],
    ]
)
_CLAIM_RATE = np.array([0.032, 0.6, 0.104])  # claim spells starting per person-year
_MEAN_MONTHS = np.array([7.0, 30.0, 10.0, 12.0])  # by main regime
_TO_WORK = np.array([[0.72, 0.10, 0.40, 0.30], [0.45, 0.06, 0.35, 0.25]])  # ladder, inactive
_IN_WORK_RATE = np.array([0.24, 0.28, 0.12])  # workers: only the low paid
_IN_WORK_MONTHS = np.array([14.0, 7.0, 6.0])
_SECOND_JOB_RATE = np.array([0.10, 0.14, 0.0])

_S_CLAIM, _S_IN_WORK, _S_JOB, _S_SECOND = 401, 403, 404, 405


@dataclass(frozen=True)
class Claims:
    """Claim spells of each person in the looked-back windows: arrays (n, windows)."""

    exists: np.ndarray
    start: np.ndarray
    end: np.ndarray  # exclusive
    regime: np.ndarray  # main (non-working) regime
    work_from: np.ndarray  # first month in work (end of claim if not to work)
    resume: np.ndarray  # ladder jobs are suspended over [start, resume)
    job_end: np.ndarray  # inactive people: entry job over [work_from, job_end) if to_work
    to_work: np.ndarray

    def rows(self, index: np.ndarray) -> Claims:
        """The spells of the persons at ``index``."""
        return Claims(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True)
class Job:
    employed: np.ndarray  # bool (n,)
    slot: np.ndarray  # enterprise slot
    generation: np.ndarray
    start: np.ndarray  # month the job started (with this employer)
    identity: np.ndarray  # uint64 hash identifying the job (pay premium, start day)


@dataclass(frozen=True)
class MonthState:
    """One month of a block of persons."""

    t: int
    people: Persons
    claiming: np.ndarray  # bool
    regime: np.ndarray  # int8
    claim_start: np.ndarray
    main: Job
    second: Job


def claim_spells(people: Persons, t: int, seed: int) -> Claims:
    win = t // WINDOW - np.arange(CLAIM_WINDOWS, dtype=np.int64)
    kind = people.kind
    rate = _CLAIM_RATE[kind] * (1 + 0.6 * places().deprivation[people.lad])
    r, c, h1 = rng.sparse_draws(rng.stream_key(seed, _S_CLAIM), people.ids, win, rate[:, None])
    h2 = rng.hash64(h1, 2)
    start = win[c] * WINDOW + np.floor(WINDOW * rng.u16(h1, 0)).astype(np.int64)
    age = (start - people.birth[r]) / 12.0
    valid = (age >= 16) & (age < PENSION_AGE) & (start <= t)
    kind = kind[r]
    which = rng.choice_by_group(rng.u16(h1, 2), kind, _MAIN_MIX, 4)
    mean = _MEAN_MONTHS[which] * np.where(kind == WORKER, 0.6, 1.0)
    months = 1 + np.minimum(np.floor(-mean * np.log(rng.u16(h1, 3))), MAX_CLAIM - 1)
    months = months.astype(np.int64)
    to_work = rng.u16(h2, 0) < _TO_WORK[(kind == INACTIVE).astype(int), which]
    tail = np.minimum(np.floor(-1.5 * np.log(rng.u16(h2, 1))), 3).astype(np.int64)
    tail = np.where(to_work, np.minimum(tail, months - 1), 0)
    end = start + months
    work_from = end - tail
    gap = 1 + np.minimum(np.floor(-5 * np.log(rng.u16(h2, 2))), 23).astype(np.int64)
    job_months = 3 + np.minimum(np.floor(-18 * np.log(rng.u16(h2, 3))), 33).astype(np.int64)
    shape = (len(people), CLAIM_WINDOWS)

    def dense(values, fill=NEVER):
        return rng.dense(shape, r, c, values, fill)

    return Claims(
        exists=dense(valid, False),
        start=dense(start),
        end=dense(end),
        regime=dense(_MAIN_REGIMES[which].astype(np.int8), 0),
        work_from=dense(work_from),
        resume=dense(np.where(to_work, work_from, end + gap)),
        job_end=dense(np.where(to_work, work_from + job_months, NEVER)),
        to_work=dense(to_work, False),
    )


def month_state(
    people: Persons,
    t: int,
    seed: int,
    firms: Enterprises,
    skills: programme.SkillsProgramme = programme.DEFAULT_PROGRAMME,
) -> MonthState:
    claims = claim_spells(people, t, seed)
    age = people.age(t)
    can_work = (age >= 16) & ((age < PENSION_AGE) | people.works_late)
    epoch, employed, last_resume = _ladder(people, t, claims)
    inactive = people.kind == INACTIVE
    entry_epoch, entry_employed = _entry_jobs(people, t, seed, claims, inactive)
    employed = np.where(inactive, entry_employed, employed) & can_work
    epoch = np.where(inactive, entry_epoch, epoch)
    # The programme's course job only adds work: whoever is in work anyway keeps their job,
    # so the effect on the treated is exactly the difference from effect = 0.
    course_job, course_start = programme.course_jobs(people, claims, t, seed, skills)
    course_job &= can_work & ~employed
    epoch = np.where(course_job, course_start, epoch)
    employed = employed | course_job
    main = _job(people, t, seed, firms, _S_JOB, epoch, employed)
    second = _second_job(people, t, seed, firms, main, last_resume)
    claiming, regime, claim_start = _claim_now(people, t, seed, claims, employed)
    claiming &= (age >= 16) & (age < PENSION_AGE)
    return MonthState(t, people, claiming, regime, claim_start, main, second)


def _ladder(people: Persons, t: int, claims: Claims):
    """Job-ladder epoch (month the current job began), employed flag and last resumption."""
    suspended = (claims.exists & (claims.start <= t) & (t < claims.resume)).any(axis=1)
    resumed = np.where(claims.exists & (claims.resume <= t), claims.resume, NEVER).max(axis=1)
    rung = (t - people.phase) // people.tenure
    epoch = np.maximum.reduce(
        [people.phase + rung * people.tenure, resumed, people.month_turned_16()]
    )
    return epoch, ~suspended, resumed


def _entry_jobs(people: Persons, t: int, seed: int, claims: Claims, inactive: np.ndarray):
    """Current entry job of each inactive person: after a claim or a course."""
    who = np.flatnonzero(inactive)
    courses = learning.courses(people.subset(who), t, seed, learning.JOB_WINDOWS)
    claims = Claims(*(getattr(claims, f.name)[who] for f in fields(Claims)))
    shape = (len(who), learning.JOB_WINDOWS)
    after_claim = claims.exists & claims.to_work
    start = np.concatenate(
        [
            np.where(after_claim, claims.work_from, NEVER),
            courses.dense(courses.job_start, shape, NEVER),
        ],
        axis=1,
    )
    end = np.concatenate(
        [
            np.where(after_claim, claims.job_end, NEVER),
            courses.dense(courses.job_end, shape, NEVER),
        ],
        axis=1,
    )
    epoch = np.full(len(people), NEVER, dtype=np.int64)
    employed = np.zeros(len(people), dtype=bool)
    epoch[who], employed[who] = _current_job(
        start, end, t, np.where(claims.exists, claims.start, NEVER)
    )
    return epoch, employed


def _current_job(start: np.ndarray, end: np.ndarray, t: int, cutters: np.ndarray):
    """Of candidate jobs [start, end) per person, the one running at t: a job ends early
    when a newer one starts or a claim (``cutters``: start months) begins, so a person's
    reported job only ever moves forward and never reverts to an older start date."""
    epoch = np.full(len(start), NEVER, dtype=np.int64)
    live = np.flatnonzero(((start <= t) & (t < end)).any(axis=1))
    start, end = start[live], end[live]
    later = np.concatenate([start, cutters[live]], axis=1)
    cut = ((later[:, None, :] > start[:, :, None]) & (later[:, None, :] <= t)).any(axis=2)
    running = (start <= t) & (t < end) & ~cut
    epoch[live] = np.where(running, start, NEVER).max(axis=1)
    return epoch, epoch > NEVER


def _job(people, t, seed, firms, stream, epoch, employed) -> Job:
    """The employer of each job, drawn once per (person, job epoch), near home.

    Only the employed get one (slot -1 otherwise): the draw is the costly part.
    """
    n, who = len(people), np.flatnonzero(employed)
    identity = np.zeros(n, dtype=np.uint64)
    identity[who] = rng.hash64(rng.stream_key(seed, stream), people.ids[who], epoch[who])
    slot, generation, start = np.full(n, -1), np.zeros(n, dtype=np.int64), np.full(n, NEVER)
    slot[who] = firms.choose(_work_lad(people.lad[who], identity[who]), rng.u32(identity[who], 1))
    generation[who], born = firms.generation(slot[who], t)
    start[who] = np.maximum(epoch[who], born)
    return Job(employed, slot, generation, start, identity)


def _work_lad(home: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Workplace LAD: home (62%), elsewhere in the region (28%), anywhere (10%)."""
    geo = places()
    where, u = rng.u16(h, 0), rng.u16(h, 1)
    cum = np.concatenate([[0.0], np.cumsum(geo.jobs)])
    lo_region, hi_region = geo.region_bounds[geo.region[home]].T
    lo = np.where(where < 0.9, cum[lo_region], 0.0)
    hi = np.where(where < 0.9, cum[hi_region], 1.0)
    far = np.searchsorted(cum, lo + u * (hi - lo), side="right") - 1
    return np.where(where < 0.62, home, np.clip(far, 0, geo.size - 1)).astype(np.int32)


def _second_job(people, t, seed, firms, main: Job, last_resume) -> Job:
    """A short second job alongside the main one (begun during it), with another employer."""
    win = t // WINDOW - np.arange(SECOND_JOB_WINDOWS, dtype=np.int64)
    rate = _SECOND_JOB_RATE[people.kind][:, None]
    r, c, h = rng.sparse_draws(rng.stream_key(seed, _S_SECOND), people.ids, win, rate)
    shape = (len(people), SECOND_JOB_WINDOWS)
    spell_start = win[c] * WINDOW + np.floor(WINDOW * rng.u16(h, 0)).astype(np.int64)
    spell_end = spell_start + 2 + np.floor(10 * rng.u16(h, 1) ** 2).astype(np.int64)
    start = rng.dense(shape, r, c, spell_start, NEVER)
    end = rng.dense(shape, r, c, spell_end, NEVER)
    epoch, running = _current_job(start, end, t, np.empty((len(people), 0), dtype=np.int64))
    running &= main.employed & (epoch >= np.maximum(last_resume, main.start))
    job = _job(people, t, seed, firms, _S_SECOND, epoch, running)
    distinct = (job.slot != main.slot) | (job.generation != main.generation)
    return Job(job.employed & distinct, job.slot, job.generation, job.start, job.identity)


def _claim_now(people: Persons, t: int, seed: int, claims: Claims, employed: np.ndarray):
    """Whether each person claims at t, the regime, and when the current claim began."""
    rows = np.arange(len(people))
    main_start = np.where(claims.exists, claims.start, NEVER)
    main_end = np.where(claims.exists, claims.end, NEVER)
    on_main, first = _first_covering(main_start, main_end, t)
    main_regime = np.where(t >= claims.work_from[rows, first], WWR, claims.regime[rows, first])
    # In-work claims of the inactive count only while they are in work.
    work_start, work_end, work_regime = _in_work_spells(people, t, seed)
    counted = (employed | (people.kind != INACTIVE))[:, None]
    work_start, work_end = np.where(counted, work_start, NEVER), np.where(counted, work_end, NEVER)
    in_work, first_work = _first_covering(work_start, work_end, t)
    regime = np.where(on_main, main_regime, work_regime[rows, first_work])
    claiming = on_main | in_work
    began = np.full(len(people), t, dtype=np.int64)
    on = np.flatnonzero(claiming)
    began[on] = _claim_began(
        np.concatenate([main_start[on], work_start[on]], axis=1),
        np.concatenate([main_end[on], work_end[on]], axis=1),
        t,
    )
    # A claimant's regime follows their work: in work ⇒ a working regime, and vice versa.
    working = (regime == WWR) | (regime == WNR)
    regime = np.where(employed & ~working, np.where(regime == SFW, WWR, WNR), regime)
    regime = np.where(~employed & working, SFW, regime)
    return claiming, regime.astype(np.int8), began


def counted_in_work_spells(people: Persons, t: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of the in-work claims that join an out-of-work claim in the UC share's
    duration: the inactive's count only while in work, as in `_claim_now`. The same for
    every month of t's year (spells are drawn per year)."""
    start, end, _ = _in_work_spells(people, t, seed)
    counted = (people.kind != INACTIVE)[:, None]
    return np.where(counted, start, NEVER), np.where(counted, end, NEVER)


def claim_began_out_of_work(
    claims: Claims, in_work: tuple[np.ndarray, np.ndarray], t: int
) -> np.ndarray:
    """When the claim covering t began as the UC share shows it (its duration band), for
    persons out of work at t: main claims joined with ``in_work`` (`counted_in_work_spells`).
    The programme's referrals depend on this, not on the main spell's own start, so that
    selection is on what the shares show."""
    return _claim_began(
        np.concatenate([np.where(claims.exists, claims.start, NEVER), in_work[0]], axis=1),
        np.concatenate([np.where(claims.exists, claims.end, NEVER), in_work[1]], axis=1),
        t,
    )


def _first_covering(start: np.ndarray, end: np.ndarray, t: int):
    """(any spell covers t, column of the earliest-starting one) per person."""
    covering = (start <= t) & (t < end)
    first = np.where(covering, start, np.iinfo(np.int64).max).argmin(axis=1)
    return covering.any(axis=1), first


def _claim_began(start: np.ndarray, end: np.ndarray, t: int) -> np.ndarray:
    """Start of the continuous claim covering t: overlapping or back-to-back spells are one
    claim, so its duration never jumps back while the person stays on UC.

    Spells are seen CHAIN_MONTHS back at least; one that began earlier counts as beginning
    at that horizon, which is all the duration bands can tell ("2+ years").
    """
    far = np.iinfo(np.int64).max
    start = np.maximum(start, t - CHAIN_MONTHS - 1)
    began = np.where((start <= t) & (t < end), start, far).min(axis=1)
    for _ in range(4):  # chains of up to five spells
        joined = (start < began[:, None]) & (end >= began[:, None])
        began = np.minimum(began, np.where(joined, start, far).min(axis=1))
    return np.where(began == far, t, began)


def _in_work_spells(people: Persons, t: int, seed: int):
    """In-work claims (low-paid workers, churners, inactive people in a job): dense (n, w)."""
    win = t // WINDOW - np.arange(IN_WORK_WINDOWS, dtype=np.int64)
    kind = people.kind
    rate = np.where((kind == WORKER) & ~people.low_paid, 0.0, _IN_WORK_RATE[kind])
    r, c, h = rng.sparse_draws(rng.stream_key(seed, _S_IN_WORK), people.ids, win, rate[:, None])
    start = win[c] * WINDOW + np.floor(WINDOW * rng.u16(h, 0)).astype(np.int64)
    months = 1 + np.minimum(np.floor(-_IN_WORK_MONTHS[kind[r]] * np.log(rng.u16(h, 2))), 23)
    regime = np.where(rng.u16(h, 3) < 0.4, WWR, WNR).astype(np.int8)
    shape = (len(people), IN_WORK_WINDOWS)
    return (
        rng.dense(shape, r, c, start, NEVER),
        rng.dense(shape, r, c, start + months.astype(np.int64), NEVER),
        rng.dense(shape, r, c, regime, WNR),
    )


__all__ = ["CHURNER", "INACTIVE", "WORKER", "MonthState", "month_state"]
