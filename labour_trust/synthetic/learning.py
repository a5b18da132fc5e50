"""Further-education courses: starts, achievements and withdrawals, and the jobs they lead to.

A person may start at most one course per calendar year (window); its programme,
level, subject area, length and outcome are drawn from the person's life-course kind
and age. Inactive people who achieve often find work afterwards; apprentices are
employed while they train. Both feed ``lifecourse`` so that FE achievers appear in PAYE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labour_trust.synthetic import rng
from labour_trust.synthetic.enterprises import NEVER
from labour_trust.synthetic.population import CHURNER, INACTIVE, PENSION_AGE, WORKER, Persons

WINDOW = 12
EVENT_WINDOWS = 3  # courses last at most 24 months
JOB_WINDOWS = 6  # ... and the job after them at most 36 more

APPRENTICESHIP, EDUCATION, COMMUNITY = 0, 1, 2
START, ACHIEVEMENT, WITHDRAWAL = 0, 1, 2

# Courses started per person-year, by kind (x3 under 25). Calibrated to ~0.2 M events
# a month at scale 1.0.
_COURSE_RATE = {WORKER: 0.011, CHURNER: 0.044, INACTIVE: 0.029}
_PROGRAMME = rng.cumulative(
    [  # by kind: apprenticeship, education & training, community
        [0.65, 0.28, 0.07],
        [0.2, 0.6, 0.2],
        [0.08, 0.52, 0.40],
    ]
)
_LEVEL = rng.cumulative(
    [  # Entry, 1, 2, 3, 4+ by programme
        [0.0, 0.0, 0.45, 0.40, 0.15],
        [0.15, 0.25, 0.35, 0.20, 0.05],
        [0.55, 0.35, 0.10, 0.0, 0.0],
    ]
)
_SSA = rng.cumulative(
    [  # 15 tier-1 sector subject areas by programme
        [22, 1, 2, 12, 10, 5, 8, 2, 1, 0, 0, 0, 3, 0, 34],
        [14, 6, 3, 7, 6, 6, 5, 3, 4, 1, 2, 12, 5, 20, 6],
        [8, 1, 2, 1, 1, 8, 4, 4, 14, 3, 2, 14, 4, 30, 4],
    ]
)
_WITHDRAW = np.array([0.30, 0.15, 0.08])
_JOB_AFTER = np.array([0.0, 0.45, 0.20])  # apprenticeships handled separately

_S_FE = 301


@dataclass(frozen=True)
class Courses:
    """The courses that exist, one entry per (person row, window): 1-d aligned arrays."""

    rows: np.ndarray  # person row in the block
    cols: np.ndarray  # window (0 = the current year)
    start: np.ndarray
    end: np.ndarray  # month of achievement (start + length)
    withdrawn: np.ndarray
    withdrawal: np.ndarray  # month of withdrawal, if withdrawn
    programme: np.ndarray
    level: np.ndarray
    ssa: np.ndarray
    job_start: np.ndarray  # the job it leads to (inactive people): [job_start, job_end)
    job_end: np.ndarray

    def outcome(self, t: int) -> np.ndarray:
        """Event of each course in month t: START, ACHIEVEMENT, WITHDRAWAL, or -1 for none."""
        out = np.full(len(self.rows), -1, dtype=np.int64)
        out[self.withdrawn & (self.withdrawal == t)] = WITHDRAWAL
        out[~self.withdrawn & (self.end == t)] = ACHIEVEMENT
        out[self.start == t] = START
        return out

    def dense(self, values: np.ndarray, shape: tuple[int, int], fill) -> np.ndarray:
        return rng.dense(shape, self.rows, self.cols, values, fill)


def courses(people: Persons, t: int, seed: int, windows: int) -> Courses:
    win = t // WINDOW - np.arange(windows, dtype=np.int64)
    rate = np.array([_COURSE_RATE[k] for k in (WORKER, CHURNER, INACTIVE)])[people.kind]
    # Young adults study most: 3x the rate; drawn at 3x and thinned below by age.
    r, c, h1 = rng.sparse_draws(rng.stream_key(seed, _S_FE), people.ids, win, 3 * rate[:, None])
    h2 = rng.hash64(h1, 2)
    start = win[c] * WINDOW + np.floor(WINDOW * rng.u16(h1, 0)).astype(np.int64)
    age = (start - people.birth[r]) / 12.0
    keep_p = np.where(age < 25, 1.0, 1 / 3) * np.where(age >= PENSION_AGE, 0.3, 1.0)
    keep = (rng.u16(h2, 0) < keep_p) & (age >= 16) & (start <= t)
    r, c, h1, h2, start = r[keep], c[keep], h1[keep], h2[keep], start[keep]
    kind = people.kind[r]
    programme = rng.choice_by_group(rng.u16(h1, 2), kind, _PROGRAMME, 3)
    length = np.choose(
        programme,
        [
            12 + np.floor(13 * rng.u16(h1, 3)),
            2 + np.floor(11 * rng.u16(h1, 3)),
            1 + np.floor(3 * rng.u16(h1, 3)),
        ],
    ).astype(np.int64)
    end = start + length
    withdrawn = rng.u16(h2, 1) < _WITHDRAW[programme]
    withdrawal = start + 1 + np.floor(rng.u16(h2, 2) * (length - 1)).astype(np.int64)
    level = rng.choice_by_group(rng.u16(h2, 3), programme, _LEVEL, 5)
    ssa = rng.choice_by_group(rng.u16(rng.hash64(h1, 3), 0), programme, _SSA, 15)
    job_start, job_end = _jobs_after(
        rng.hash64(h1, 4), kind, programme, start, end, withdrawn, withdrawal
    )
    return Courses(
        r, c, start, end, withdrawn, withdrawal, programme, level, ssa, job_start, job_end
    )


def _jobs_after(h, kind, programme, start, end, withdrawn, withdrawal):
    """Jobs of inactive learners: apprentices while training, achievers often afterwards."""
    lag = 1 + np.floor(6 * rng.u16(h, 0)).astype(np.int64)
    length = 3 + np.minimum(np.floor(-18 * np.log(rng.u16(h, 1))), 33).astype(np.int64)
    apprentice = programme == APPRENTICESHIP
    after = ~withdrawn & (rng.u16(h, 2) < _JOB_AFTER[programme])
    job_start = np.where(apprentice, start, end + lag)
    job_end = np.where(
        apprentice, np.where(withdrawn, withdrawal, end + length), end + lag + length
    )
    has_job = (apprentice | after) & (kind == INACTIVE)
    return np.where(has_job, job_start, NEVER), np.where(has_job, job_end, NEVER)
