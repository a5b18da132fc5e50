"""The synthetic population: persons 0..N-1 and their fixed attributes.

Attributes are pure functions of (seed, person id), so any id range can be built on its
own. Volumes are set here: ``PERSONS_PER_SCALE`` persons (of all ages; those under 16 are in no
feed yet) at scale 1.0 yield about 30 M
PAYE employments and 6 M UC claimants a month with the life-course rates in
``lifecourse``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from labour_trust.months import month_index
from labour_trust.synthetic import rng
from labour_trust.synthetic.places import places

PERSONS_PER_SCALE = 61_000_000
AGE_REFERENCE = month_index("2024-01")  # ages are drawn as at this month
PENSION_AGE = 66

# Life-course kinds: steady workers (long job tenures), churners (short jobs, frequent
# claims), and the economically inactive (students, carers, long-term sick; work only
# after a claim or a course ends).
WORKER, CHURNER, INACTIVE = 0, 1, 2

_S_ATTR, _S_ATTR2, _S_LAD = 101, 102, 103


@dataclass(frozen=True)
class Population:
    seed: int
    scale: float

    @property
    def size(self) -> int:
        return max(1000, round(PERSONS_PER_SCALE * self.scale))

    def persons(self, start: int, stop: int) -> Persons:
        return persons(self.seed, np.arange(start, min(stop, self.size), dtype=np.int64))


@dataclass(frozen=True)
class Persons:
    """Fixed attributes of a contiguous block of persons (arrays aligned on ``ids``)."""

    ids: np.ndarray  # int64
    lad: np.ndarray  # int32, index into places().codes
    female: np.ndarray  # bool
    birth: np.ndarray  # float64 month index of birth
    kind: np.ndarray  # int8: WORKER / CHURNER / INACTIVE
    disabled: np.ndarray  # bool
    pay_effect: np.ndarray  # float64, standard normal person pay premium
    tenure: np.ndarray  # int64, months per job on the job ladder
    phase: np.ndarray  # int64, ladder offset in [0, tenure)
    low_paid: np.ndarray  # bool: claims in-work UC while employed
    works_late: np.ndarray  # bool: keeps working past pension age

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> Persons:
        return Persons(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def age(self, t: int) -> np.ndarray:
        return (t - self.birth) / 12.0

    def month_turned_16(self) -> np.ndarray:
        return np.ceil(self.birth + 16 * 12).astype(np.int64)


def persons(seed: int, ids: np.ndarray) -> Persons:
    geo = places()
    h1 = rng.hash64(rng.stream_key(seed, _S_ATTR), ids)
    h2 = rng.hash64(rng.stream_key(seed, _S_ATTR2), ids)
    lad = rng.choice(rng.u32(rng.hash64(rng.stream_key(seed, _S_LAD), ids)), geo.population)
    # Ages 6-76 at the reference month, uniformly: children turn 16 and join the feeds as
    # others pass pension age, so volumes stay level over the years simulated.
    age0 = 6.0 + 70.0 * rng.u16(h1, 1)
    birth = AGE_REFERENCE - 12.0 * age0
    deprivation = geo.deprivation[lad]
    kind = _kind(rng.u16(h1, 2), deprivation, age0)
    # Months per job: churners 4-24, steady workers 3-10 years.
    tenure = np.where(
        kind == CHURNER, 4 + np.floor(21 * rng.u16(h2, 0)), 36 + np.floor(85 * rng.u16(h2, 0))
    ).astype(np.int64)
    disabled_p = np.choose(kind, [0.14, 0.25, 0.42])
    return Persons(
        ids=ids,
        lad=lad.astype(np.int32),
        female=rng.u16(h1, 0) < 0.5,
        birth=birth,
        kind=kind,
        disabled=rng.u16(h1, 3) < disabled_p,
        pay_effect=rng.normal(rng.hash64(rng.stream_key(seed, _S_ATTR), ids, 1))
        - 0.12 * deprivation,
        tenure=tenure,
        phase=np.floor(rng.u16(h2, 1) * tenure).astype(np.int64),
        low_paid=rng.u16(h2, 2) < 0.16,
        works_late=rng.u16(h2, 3) < 0.2,
    )


def _kind(u: np.ndarray, deprivation: np.ndarray, age0: np.ndarray) -> np.ndarray:
    """Deprived places and younger adults have more churners; the old more inactive."""
    p_churn = 0.105 * np.exp(0.7 * deprivation) * np.where(age0 < 35, 1.25, 0.9)
    p_inactive = 0.27 * np.exp(0.3 * deprivation) * np.where(age0 >= 60, 1.3, 1.0)
    kind = np.full(len(u), WORKER, dtype=np.int8)
    kind[u < p_churn + p_inactive] = INACTIVE
    kind[u < p_churn] = CHURNER
    return kind
