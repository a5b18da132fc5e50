"""Synthetic geography: how many people live and work in each LAD, and how deprived it is.

Sizes are plausible rather than official: hand-listed anchors (approximate mid-2022
resident populations, thousands) for the large and the very small districts, and a
heavy-tailed draw around a typical size for each kind of district elsewhere. The small
anchors (Isles of Scilly, City of London, Orkney...) make small cells occur naturally.
The geography does not depend on the seed: every simulation shares one map.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from labour_trust.reference.geography import lads
from labour_trust.synthetic import rng

_GEO_STREAM = rng.stream_key(20230401, 1)

POPULATION_ANCHORS: dict[str, float] = {
    # large
    "E08000025": 1145,
    "E08000035": 812,
    "S12000049": 632,
    "E06000065": 618,
    "E06000066": 572,
    "E06000052": 570,
    "E08000019": 556,
    "E06000060": 553,
    "E08000003": 552,
    "E08000032": 546,
    "E06000047": 522,
    "S12000036": 514,
    "E06000054": 510,
    "E08000012": 486,
    "E06000023": 472,
    "E08000034": 433,
    "E06000062": 425,
    "E06000058": 400,
    "E06000049": 398,
    "E09000008": 390,
    "E09000003": 389,
    "E06000059": 379,
    "S12000047": 374,
    "E06000016": 368,
    "E09000009": 367,
    "W06000015": 362,
    "E06000061": 359,
    "E08000036": 353,
    "E09000025": 351,
    "E08000026": 345,
    "N09000003": 345,
    "E06000011": 342,
    "E08000028": 341,
    "S12000050": 341,
    "E09000005": 339,
    "E08000010": 330,
    "E06000018": 323,
    "E06000051": 323,
    "E08000027": 323,
    "S12000029": 322,
    "E08000015": 320,
    "E06000057": 320,
    "E09000022": 317,
    "E09000030": 310,
    "E09000028": 307,
    "E08000001": 296,
    "E06000056": 294,
    "E06000042": 287,
    "E08000030": 284,
    "E06000043": 277,
    "E06000063": 274,
    "E06000010": 267,
    # small
    "E06000053": 2.1,
    "E09000001": 8.6,
    "S12000023": 22,
    "S12000027": 23,
    "S12000013": 26,
    "E06000017": 41,
    "S12000005": 51,
    "E07000133": 52,
    "E07000047": 56,
    "E07000135": 58,
    "W06000024": 59,
    "E07000124": 62,
    "E07000223": 64,
    "E07000074": 66,
    "W06000019": 67,
    "E07000046": 68,
    "W06000001": 69,
    "W06000008": 71,
    "E07000035": 72,
    "E07000199": 78,
    "S12000018": 78,
    "E07000208": 80,
    "E07000088": 82,
    "S12000035": 86,
    "E07000210": 87,
    "E07000214": 90,
    "E07000077": 92,
    "W06000020": 92,
}

# Workplace pull relative to residents: commuters flow into city centres.
JOB_DENSITY_ANCHORS: dict[str, float] = {
    "E09000001": 60.0,
    "E09000033": 4.0,
    "E09000007": 2.5,
    "E09000019": 1.6,
    "E09000030": 1.5,
    "E09000028": 1.3,
    "E08000003": 1.5,
    "E08000035": 1.3,
    "E08000025": 1.2,
    "S12000036": 1.4,
    "S12000049": 1.4,
    "S12000033": 1.4,
    "W06000015": 1.3,
    "E06000023": 1.3,
    "N09000003": 1.5,
    "E08000021": 1.5,
    "E06000018": 1.4,
    "E07000008": 1.6,
    "E07000178": 1.5,
    "E06000038": 1.4,
    "E06000042": 1.3,
    "E06000039": 1.3,
}

# Deprivation index in [-1, 1]: raises claimant and churn rates, lowers pay.
DEPRIVATION_ANCHORS: dict[str, float] = {
    "E06000009": 1.0,
    "E06000002": 0.9,
    "E08000011": 0.9,
    "E06000010": 0.85,
    "E08000012": 0.8,
    "E06000001": 0.8,
    "W06000019": 0.8,
    "E08000003": 0.75,
    "S12000049": 0.75,
    "W06000024": 0.75,
    "E07000117": 0.75,
    "E08000025": 0.7,
    "E08000028": 0.7,
    "E06000021": 0.7,
    "E09000002": 0.7,
    "S12000018": 0.7,
    "E08000032": 0.65,
    "S12000042": 0.65,
    "E09000030": 0.6,
    "E07000062": 0.6,
    "E07000145": 0.6,
    "E08000005": 0.6,
    "E08000004": 0.6,
    "E08000031": 0.6,
    "E06000018": 0.6,
    "E07000076": 0.55,
    "E07000114": 0.55,
    "E09000012": 0.55,
    "E09000025": 0.55,
    "N09000003": 0.5,
    "E06000041": -0.9,
    "E07000089": -0.9,
    "E07000214": -0.8,
    "E07000207": -0.8,
    "E07000208": -0.8,
    "E07000216": -0.8,
    "E07000012": -0.75,
    "E07000210": -0.75,
    "E07000077": -0.75,
    "E09000027": -0.7,
    "E06000017": -0.7,
    "E07000240": -0.7,
    "S12000011": -0.7,
    "E06000040": -0.65,
    "E07000131": -0.6,
    "E07000176": -0.6,
    "S12000045": -0.6,
    "S12000027": -0.6,
    "S12000023": -0.6,
    "E06000053": -0.6,
    "W06000021": -0.5,
    "S12000034": -0.5,
    "E09000001": -0.5,
}

# Typical resident population (thousands) of a district by the kind its code names.
_TYPICAL_SIZE = {
    "E06": 220.0,
    "E07": 105.0,
    "E08": 300.0,
    "E09": 260.0,
    "W06": 110.0,
    "S12": 120.0,
    "N09": 150.0,
}
_REGION_DEPRIVATION = {
    "TLC": 0.35,
    "TLD": 0.2,
    "TLE": 0.2,
    "TLF": 0.05,
    "TLG": 0.15,
    "TLH": -0.15,
    "TLI": 0.05,
    "TLJ": -0.25,
    "TLK": -0.15,
    "TLL": 0.2,
    "TLM": 0.1,
    "TLN": 0.1,
}


@dataclass(frozen=True)
class Places:
    codes: tuple[str, ...]  # LAD codes in reference order (regions are contiguous)
    population: np.ndarray  # resident weight per LAD (sums to 1)
    jobs: np.ndarray  # workplace weight per LAD (sums to 1)
    deprivation: np.ndarray  # [-1, 1]
    region: np.ndarray  # ITL1 index per LAD
    region_bounds: np.ndarray  # (regions, 2): [first LAD, last LAD + 1)

    @property
    def size(self) -> int:
        return len(self.codes)


@cache
def places() -> Places:
    all_lads = lads()
    n = len(all_lads)
    idx = np.arange(n)
    h = rng.hash64(_GEO_STREAM, idx)
    codes = tuple(lad.code for lad in all_lads)
    typical = np.array([_TYPICAL_SIZE.get(c[:3], 130.0) for c in codes])
    # Heavy-ish tail around the typical size; anchors override.
    drawn = typical * np.exp(0.35 * rng.normal(h))
    population = np.array([POPULATION_ANCHORS.get(c, d) for c, d in zip(codes, drawn, strict=True)])
    density = np.array(
        [
            JOB_DENSITY_ANCHORS.get(c, 0.85 + 0.3 * u)
            for c, u in zip(codes, rng.u16(rng.hash64(_GEO_STREAM, idx, 2), 0), strict=True)
        ]
    )
    noise = (rng.u16(rng.hash64(_GEO_STREAM, idx, 3), 0) - 0.5) * 0.6
    deprivation = np.array(
        [
            DEPRIVATION_ANCHORS.get(
                c, float(np.clip(_REGION_DEPRIVATION[lad.itl1_code] + e, -1, 1))
            )
            for c, lad, e in zip(codes, all_lads, noise, strict=True)
        ]
    )
    region_codes = list(dict.fromkeys(lad.itl1_code for lad in all_lads))
    region = np.array([region_codes.index(lad.itl1_code) for lad in all_lads])
    bounds = np.array(
        [
            [np.argmax(region == r), n - np.argmax(region[::-1] == r)]
            for r in range(len(region_codes))
        ]
    )
    jobs = population * density
    return Places(
        codes, population / population.sum(), jobs / jobs.sum(), deprivation, region, bounds
    )
