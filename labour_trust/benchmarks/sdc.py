"""Benchmark: disclosure control of one national local_labour_market-shaped month.

``synthetic_local_labour_market`` builds 361 LADs + 12 ITL1 regions + the UK with ten
count measures: Universal Credit claimants by the six conditionality regimes and by sex
(two column groups sharing ``claimants_total``) and FE starts. LAD sizes are log-normal
with the Isles of Scilly and the City of London tiny, regime shares vary by LAD, so small
LADs and rare regimes produce primary suppressions as they would in real data.
``bench_sdc`` times suppression and the independent audit on it, and compares the
information loss with the "partner" baseline (``loss.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from labour_trust.disclosure.audit import audit
from labour_trust.disclosure.description import ColumnGroup, Dimension, TableDescription
from labour_trust.disclosure.engine import apply_policy
from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.feeds.vocabulary import CONDITIONALITY_REGIMES
from labour_trust.reference.geography import UK_CODE, itl1_of, lads

NATIONAL_CLAIMANTS = 6_000_000
NATIONAL_FE_STARTS = 17_000  # a month of FE starts
REGIME_SHARES = np.array([0.40, 0.17, 0.30, 0.02, 0.03, 0.08])
TINY_LADS = {"E06000053": 0.01, "E09000001": 0.05}  # Isles of Scilly, City of London
MONTH = "2025-01"


def regime_column(regime: str) -> str:
    return "claimants_" + re.sub(r"[^a-z]+", "_", regime.lower()).strip("_")


REGIME_COLUMNS = tuple(regime_column(r) for r in CONDITIONALITY_REGIMES)
COUNT_COLUMNS = (
    *REGIME_COLUMNS,
    "claimants_female",
    "claimants_male",
    "claimants_total",
    "fe_starts",
)


def local_labour_market_description() -> TableDescription:
    """The bench table's description (the shape of the trust's local_labour_market)."""
    parent = dict(itl1_of())
    parent.update({region: UK_CODE for region in set(parent.values())})
    return TableDescription(
        name="local_labour_market",
        dimensions=(Dimension("month"), Dimension("area_code", parent=parent)),
        labels=("area_level",),
        counts=COUNT_COLUMNS,
        column_groups=(
            ColumnGroup.total("regime", "claimants_total", REGIME_COLUMNS, attribute=True),
            ColumnGroup.total(
                "sex", "claimants_total", ["claimants_female", "claimants_male"], attribute=True
            ),
        ),
    )


def synthetic_local_labour_market(scale: float = 1.0, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    codes = [lad.code for lad in lads()]
    size = rng.lognormal(mean=0.0, sigma=0.6, size=len(codes))
    for i, code in enumerate(codes):
        size[i] *= TINY_LADS.get(code, 1.0)
    weight = size / size.sum()
    claimants = rng.poisson(weight * NATIONAL_CLAIMANTS * scale)
    shares = rng.dirichlet(REGIME_SHARES * 200, size=len(codes))
    regimes = np.array([rng.multinomial(n, s) for n, s in zip(claimants, shares, strict=True)])
    female = rng.binomial(claimants, 0.52)
    fe = rng.poisson(weight * NATIONAL_FE_STARTS * scale)
    leaf = np.column_stack([regimes, female, claimants - female, claimants, fe])
    return _with_margins(codes, leaf)


def _with_margins(codes: list[str], leaf: np.ndarray) -> pa.Table:
    """Append the ITL1 and UK rows as sums of their LADs."""
    region_of = itl1_of()
    regions = sorted(set(region_of.values()))
    region_rows = np.array(
        [leaf[[i for i, c in enumerate(codes) if region_of[c] == r]].sum(axis=0) for r in regions]
    )
    values = np.vstack([leaf, region_rows, leaf.sum(axis=0, keepdims=True)])
    areas = [*codes, *regions, UK_CODE]
    levels = ["lad"] * len(codes) + ["itl1"] * len(regions) + ["uk"]
    columns: dict[str, Any] = {
        "month": [MONTH] * len(areas),
        "area_code": areas,
        "area_level": levels,
    }
    for j, name in enumerate(COUNT_COLUMNS):
        columns[name] = pa.array(values[:, j], type=pa.int64())
    return pa.table(columns)


def bench_sdc(
    scale: float = 1.0,
    seed: int = 0,
    policy: DisclosurePolicy | None = None,
    *,
    baseline: bool = True,
) -> dict[str, Any]:
    """Time suppression and audit on a national month; return timings and loss figures
    (with ``baseline``: the same figures for the "partner" baseline)."""
    policy = policy or DisclosurePolicy()
    description = local_labour_market_description()
    table = synthetic_local_labour_market(scale, seed)
    started = time.perf_counter()
    result = apply_policy(table, description, policy)
    suppress_s = time.perf_counter() - started
    report = audit(result.table, description, policy)
    loss = result.loss
    extra: dict[str, Any] = {}
    if baseline:
        started = time.perf_counter()
        base = apply_policy(table, description, policy, method="partner")
        extra = {
            "baseline_secondary": base.loss.secondary,
            "baseline_suppressed_value_share": round(float(base.loss.suppressed_value_share), 6),
            "baseline_s": round(time.perf_counter() - started, 3),
        }
    return {
        "scale": scale,
        "rows": table.num_rows,
        "cells": loss.cells,
        "primary": loss.primary,
        "secondary": loss.secondary,
        "suppressed_value_share": round(float(loss.suppressed_value_share), 6),
        "suppress_s": round(suppress_s, 3),
        "primary_s": round(result.timings["primary_s"], 3),
        "secondary_s": round(result.timings["secondary_s"], 3),
        "engine_lps": result.lp_count,
        "cleanup_complete": result.cleanup_complete,
        "audit_s": round(report.seconds, 3),
        "audit_lps": report.lp_count,
        "audit_passed": report.passed,
        "audits": result.audits,
        **extra,
    }


def bench_published_month(home: Path, month: str) -> dict[str, Any]:
    """The publication step's disclosure control on a refreshed home's month, all four
    tables: joint protection, joint audit, the blocking checks, and the information loss of
    the "partner" baseline protecting each table on its own (as the step reports it)."""
    from labour_trust.defs.published import month_inputs
    from labour_trust.defs.resources import build_resources
    from labour_trust.publishing.joint import audit_month, month_loss, protect_month
    from labour_trust.publishing.protect import verify
    from labour_trust.publishing.tables import PUBLISHED

    resources = build_resources(home)
    policy = resources["publications"].policy()
    timer = _Timer()
    with timer("read"):
        rows, contributors = month_inputs(resources["trust_tables"], month)
    with timer("protect"):
        results = protect_month(rows, policy, contributors)
    with timer("audit"):
        joint = audit_month({n: r.table for n, r in results.items()}, policy)
    with timer("checks"):
        failed = [
            c.check
            for name, table in PUBLISHED.items()
            for c in verify(results[name], table, policy, contributors[name])
            if not c.passed
        ]
    with timer("baseline"):
        loss = month_loss(rows, results, policy, contributors)
    return {
        "month": month,
        "seconds": timer.seconds,
        "loss": loss,
        "audit_cells_attacked": joint.cells_attacked,
        "audit_passed": joint.passed and not failed,
    }


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)


if __name__ == "__main__":
    for s in (1.0, 0.1):
        print(bench_sdc(s))
