"""Enterprises: the employers behind PAYE employments and the BEIS business population.

An enterprise *slot* has a LAD, a SIC section and a size; micro-enterprise slots turn
over (one enterprise closes, another opens in its place) every few years, so each slot
hosts successive *generations*, each a distinct enterprise with its own reference.
PAYE ``employer_token`` and BEIS ``enterprise_token`` are tokens of the same enterprise
reference, so the trust can link employments to the employer's size band.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from labour_trust.feeds.vocabulary import SIC_SECTIONS, SIZE_BANDS
from labour_trust.synthetic import rng
from labour_trust.synthetic.places import places

ENTERPRISES_PER_SCALE = 2_700_000
NEVER = -(10**6)  # generation start of slots that never turn over

# SIC section mix (A..U, percent) of enterprises in each size band: micro businesses
# are mostly construction, trade and professional services; large employers are
# retailers, the NHS, councils, schools, banks and manufacturers.
SIC_BY_SIZE_BAND = np.array(
    [
        [
            5.5,
            0.1,
            5,
            0.3,
            0.4,
            14,
            13,
            4.8,
            5.5,
            7.5,
            2,
            3.8,
            16,
            8,
            0.1,
            1.3,
            2.8,
            2.6,
            4.3,
            0.1,
            0.01,
        ],
        [3, 0.2, 9, 0.3, 0.8, 11, 17, 5, 14, 5, 2, 3, 9, 8, 0.5, 3, 6, 2, 2, 0.05, 0.01],
        [1, 0.4, 13, 0.5, 1.5, 6, 11, 6, 6, 5, 3, 2, 7, 10, 2, 11, 12, 2, 1.5, 0.01, 0.01],
        [0.5, 0.5, 9, 1.5, 1, 3, 13, 5, 4, 4, 5, 1, 4, 8, 10, 11, 18, 1.5, 1, 0.01, 0.1],
    ]
)
# Annual turnover per employee, £ thousand.
SIC_PRODUCTIVITY = np.array(
    [
        120,
        800,
        200,
        800,
        150,
        150,
        250,
        150,
        45,
        180,
        300,
        250,
        120,
        70,
        60,
        40,
        50,
        70,
        60,
        30,
        100,
    ]
)
SIZE_BAND_SHARE = np.array([0.9495, 0.040, 0.008, 0.0025])  # micro, small, medium, large
SIZE_BAND_FLOOR = np.array([0, 10, 50, 250])

_S_ENT, _S_ENT2, _S_ENT_MONTH = 201, 202, 203


@dataclass(frozen=True)
class Enterprises:
    seed: int
    lad: np.ndarray  # int32 per slot
    sic: np.ndarray  # int8 per slot (index into SIC_SECTIONS)
    employment: np.ndarray  # int64 per slot (base size)
    lifetime: np.ndarray  # int64 months per generation (micro slots only; 0 = never)
    phase: np.ndarray  # int64
    block_start: np.ndarray  # per LAD: first slot
    block_stop: np.ndarray  # per LAD: last slot + 1
    weight_cum: np.ndarray  # float64, len slots + 1: cumulative employment (job draws)

    @property
    def size(self) -> int:
        return len(self.lad)

    def generation(self, slots: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(generation number, first month of that generation) of each slot at month t."""
        life = self.lifetime[slots]
        turns = life > 0
        safe = np.where(turns, life, 1)
        gen = np.where(turns, (t - self.phase[slots]) // safe, 0)
        start = np.where(turns, self.phase[slots] + gen * safe, NEVER)
        return gen, start

    def references(self, slots: np.ndarray, generations: np.ndarray) -> np.ndarray:
        """Enterprise reference numbers (11 digits) as a (n, 11) uint8 ASCII matrix."""
        value = slots.astype(np.int64) * 1000 + generations
        powers = 10 ** np.arange(10, -1, -1, dtype=np.int64)
        return ((value[:, None] // powers) % 10 + 48).astype(np.uint8)

    def choose(self, lads: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A slot in each given LAD, with probability proportional to its employment."""
        lo = self.weight_cum[self.block_start[lads]]
        hi = self.weight_cum[self.block_stop[lads]]
        idx = np.searchsorted(self.weight_cum, lo + u * (hi - lo), side="right") - 1
        return np.clip(idx, self.block_start[lads], self.block_stop[lads] - 1)

    def monthly(self, slots: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(employment, turnover £k) of slots in month t: small monthly wobble."""
        gen, _ = self.generation(slots, t)
        key = rng.stream_key(self.seed, _S_ENT_MONTH)
        wobble = rng.normal(rng.hash64(key, slots, t))
        base = self.employment[slots]
        employment = np.where(base >= 10, np.round(base * np.exp(0.03 * wobble)), base)
        level = rng.normal(rng.hash64(key, slots, gen, -1))
        productivity = SIC_PRODUCTIVITY[self.sic[slots]]
        turnover = np.where(
            employment > 0,
            employment * productivity * np.exp(0.5 * level + 0.05 * wobble),
            70.0 * np.exp(0.8 * level),
        )
        return employment.astype(np.int64), np.maximum(np.round(turnover), 1).astype(np.int64)


def size_band(employment: np.ndarray) -> np.ndarray:
    """Index into SIZE_BANDS."""
    return np.searchsorted(SIZE_BAND_FLOOR, employment, side="right") - 1


@lru_cache(maxsize=2)  # national scale holds ~100 MB of slot arrays
def enterprises(seed: int, scale: float) -> Enterprises:
    geo = places()
    start, stop = _blocks(geo.jobs, round(ENTERPRISES_PER_SCALE * scale))
    n = int(stop[-1])
    lad = np.repeat(np.arange(geo.size, dtype=np.int32), stop - start)
    slots = np.arange(n, dtype=np.int64)
    h = rng.hash64(rng.stream_key(seed, _S_ENT), slots)
    h2 = rng.hash64(rng.stream_key(seed, _S_ENT2), slots)
    band = rng.choice(rng.u32(h, 1), SIZE_BAND_SHARE).astype(np.int8)
    sic = _sic(rng.u32(h, 0), band)
    employment = _employment(band, rng.u16(h2, 0), rng.u16(h2, 1))
    employment[start] = np.maximum(employment[start], 1)  # every LAD has an employer
    lifetime = np.where(
        band == 0, 36 + np.minimum(np.floor(-120 * np.log(rng.u16(h2, 2))), 560), 0
    ).astype(np.int64)
    phase = np.floor(rng.u16(h2, 3) * np.maximum(lifetime, 1)).astype(np.int64)
    weight_cum = np.concatenate([[0.0], np.cumsum(employment, dtype=np.float64)])
    return Enterprises(seed, lad, sic, employment, lifetime, phase, start, stop, weight_cum)


def _blocks(weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous slot ranges per LAD, sized by workplace weight, at least two each."""
    sizes = np.maximum(2, np.floor(weights * n).astype(np.int64))
    stop = np.cumsum(sizes)
    return stop - sizes, stop


def _sic(u: np.ndarray, band: np.ndarray) -> np.ndarray:
    cum = np.cumsum(SIC_BY_SIZE_BAND, axis=1)
    cum /= cum[:, -1:]
    return np.minimum((u[:, None] > cum[band]).sum(axis=1), cum.shape[1] - 1).astype(np.int8)


def _employment(band: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    micro = np.where(v < 0.25, 0, 1 + np.floor(9 * u**2))
    small = 10 + np.floor(40 * u**1.5)
    medium = 50 + np.floor(200 * u**1.5)
    large = np.minimum(250 * u ** (-1 / 1.1), 80_000)
    return np.choose(band, [micro, small, medium, np.floor(large)]).astype(np.int64)


SIC_CODES = np.array(SIC_SECTIONS)
SIZE_BAND_LABELS = np.array(SIZE_BANDS)
