"""Small feed tables for the trust dataset tests, and a connection laid out like the lead's."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import defaultdict

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads

from labour_trust.feeds.departments import FEEDS
from labour_trust.feeds.vocabulary import (
    AGE_BANDS,
    CONDITIONALITY_REGIMES,
    DURATION_BANDS,
    FE_LEVELS,
    FE_OUTCOMES,
    FE_PROGRAMMES,
    SEXES,
    SIC_SECTIONS,
    SIZE_BANDS,
    SSA_TIER1,
)
from labour_trust.reference.geography import lad_table, lads

KEY_VERSION = "0123abcd"
TABLES = {f.table: f for f in FEEDS}


def token(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def feed_table(table: str, rows: list[dict]) -> pa.Table:
    """Rows (without key_version) → an Arrow table in the feed's contract schema."""
    schema = TABLES[table].schema
    full = [{"key_version": KEY_VERSION, **r} for r in rows]
    return pa.Table.from_pylist(full, schema=schema)


def connect(feeds: dict[str, list[dict]], *, as_dataset: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection with the four feed views (all months) and lad_lookup registered."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for table in TABLES:
        arrow = feed_table(table, feeds.get(table, []))
        con.register(table, pads.dataset(arrow) if as_dataset else arrow)
    con.register("lad_lookup", lad_table())
    return con


# ------------------------------------------------------------------------ random feeds


def random_feeds(
    seed: int, months: list[str], persons: int = 1500, lad_count: int = 24
) -> dict[str, list[dict]]:
    """numpy-generated feeds over ``months``: overlapping people, multiple jobs, a few
    persons whose job rows disagree on residence, FE events and enterprises. Keys are
    unique as the contracts require."""
    rng = np.random.default_rng(seed)
    all_lads = [lad.code for lad in lads()]
    chosen = list(rng.choice(all_lads, size=lad_count, replace=False))
    people = [token(f"random-{seed}-{i}") for i in range(persons)]
    home = {p: chosen[int(rng.integers(lad_count))] for p in people}
    attrs = {
        p: (
            AGE_BANDS[int(rng.integers(len(AGE_BANDS)))],
            SEXES[int(rng.integers(2))],
            bool(rng.random() < 0.25),
        )
        for p in people
    }
    feeds: dict[str, list[dict]] = defaultdict(list)
    for month in months:
        first = dt.date(int(month[:4]), int(month[5:]), 1)
        for p in people:
            _uc_row(feeds, rng, month, p, home[p], attrs[p])
            _paye_rows(feeds, rng, month, first, p, home[p], chosen)
            _fe_rows(feeds, rng, month, p, home[p])
        for e in range(200):
            if rng.random() < 0.9:
                _bp_row(feeds, rng, month, f"{seed}-{e}", chosen)
    return dict(feeds)


def _uc_row(feeds, rng, month, p, lad, attrs) -> None:
    if rng.random() >= 0.3:
        return
    # Half the claimants search for work, so the cohorts are not tiny.
    regime = (
        CONDITIONALITY_REGIMES[0]
        if rng.random() < 0.5
        else CONDITIONALITY_REGIMES[int(rng.integers(len(CONDITIONALITY_REGIMES)))]
    )
    age, sex, disabled = attrs
    feeds["uc_claimants"].append(
        dict(
            person_token=p,
            month=month,
            lad_code=lad,
            age_band=age,
            sex=sex,
            disability=disabled,
            conditionality_regime=regime,
            duration_band=DURATION_BANDS[int(rng.integers(len(DURATION_BANDS)))],
        )
    )


def _paye_rows(feeds, rng, month, first, p, lad, chosen) -> None:
    if rng.random() >= 0.55:
        return
    jobs = 1 + int(rng.random() < 0.2) + int(rng.random() < 0.05)
    for j in range(jobs):
        # Rarely, an employer holds another address: residence then disagrees by row.
        row_lad = chosen[int(rng.integers(len(chosen)))] if rng.random() < 0.03 else lad
        # Start dates: mostly long ago, some in this very month (new hires), some on the
        # first day of this month or (paid in advance) of the next.
        start = first - dt.timedelta(days=int(rng.integers(-27, 800)))
        edge = rng.random()
        if edge < 0.05:
            start = first
        elif edge < 0.07:
            start = (first + dt.timedelta(days=31)).replace(day=1)
        feeds["paye_rti"].append(
            dict(
                person_token=p,
                employer_token=token(f"{p}-{j}-{int(rng.integers(3))}"),
                month=month,
                lad_code=row_lad,
                sic_section=SIC_SECTIONS[int(rng.integers(len(SIC_SECTIONS)))],
                # Round pay to pennies; sometimes equal values, to exercise median ties.
                gross_pay_month=float(round(math.exp(rng.normal(7.5, 0.6)), 2))
                if rng.random() > 0.05
                else 1500.0,
                start_date=start,
            )
        )


def _fe_rows(feeds, rng, month, p, lad) -> None:
    if rng.random() >= 0.08:
        return
    seen = set()
    for _ in range(1 + int(rng.random() < 0.3)):
        key = (
            SSA_TIER1[int(rng.integers(4))],  # few subjects, so cells have several people
            FE_LEVELS[int(rng.integers(len(FE_LEVELS)))],
            FE_PROGRAMMES[int(rng.integers(len(FE_PROGRAMMES)))],
            FE_OUTCOMES[int(rng.choice(3, p=[0.4, 0.5, 0.1]))],
        )
        if key in seen:
            continue
        seen.add(key)
        feeds["fe_learners"].append(
            dict(
                person_token=p,
                month=month,
                lad_code=lad,
                ssa_tier1=key[0],
                level=key[1],
                programme=key[2],
                outcome=key[3],
            )
        )


def _bp_row(feeds, rng, month, enterprise, chosen) -> None:
    band = int(rng.integers(len(SIZE_BANDS)))
    low, high = ((0, 9), (10, 49), (50, 249), (250, 5000))[band]
    feeds["business_population"].append(
        dict(
            enterprise_token=token(f"enterprise-{enterprise}"),
            month=month,
            lad_code=chosen[int(rng.integers(len(chosen)))],
            sic_section=SIC_SECTIONS[int(rng.integers(len(SIC_SECTIONS)))],
            size_band=SIZE_BANDS[band],
            employment=int(rng.integers(low, high + 1)),
            turnover=int(rng.integers(0, 100_000)),
        )
    )
