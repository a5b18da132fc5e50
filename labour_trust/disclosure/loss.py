"""Information loss of a publication, against a simple baseline on the same table.

What did disclosure control cost — suppressed cells and the suppressed share of the total
value — and was the LP engine worth it? The baseline is the "hide the smallest partner"
rule of hypercube-style methods (``apply_policy(method="partner")``): from the primaries,
wherever a hidden cell is alone in an equation, hide its cheapest published partner, until
no equation gives a hidden cell away by subtraction. It is a yardstick, not audited: cheap
enough for every publication's metadata and ``labour-trust bench --sdc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from labour_trust.disclosure.description import TableDescription
from labour_trust.disclosure.engine import (
    NOT_APPLICABLE,
    PRIMARY,
    PUBLISHED,
    ROUNDED,
    SECONDARY,
    SUPPRESSED,
    InformationLoss,
    SdcResult,
    apply_policy,
)
from labour_trust.disclosure.policy import DisclosurePolicy


def loss_figures(loss: InformationLoss) -> dict[str, float]:
    """The headline figures of a loss summary."""
    return {
        "cells": loss.cells,
        "suppressed": loss.suppressed,
        "primary": loss.primary,
        "secondary": loss.secondary,
        "suppressed_value_share": round(float(loss.suppressed_value_share), 6),
    }


def compare_with_baseline(
    table: pa.Table,
    description: TableDescription,
    policy: DisclosurePolicy | None = None,
    *,
    contributors: pa.Table | Mapping[str, pa.Table] | None = None,
    result: SdcResult | None = None,
) -> dict[str, dict[str, float]]:
    """``{"engine": figures, "baseline": figures}`` for ``table`` (``result``: the
    engine's result when already computed)."""
    policy = policy or DisclosurePolicy()
    engine = result or apply_policy(table, description, policy, contributors=contributors)
    baseline = apply_policy(table, description, policy, contributors=contributors, method="partner")
    return {
        "engine": loss_figures(engine.loss) | {"audit_passed": engine.audit_passed},
        "baseline": loss_figures(baseline.loss),
    }


def loss_from_status(
    status: pa.Table, values: pa.Table, dims: Sequence[str], additive: Sequence[str]
) -> InformationLoss:
    """An information-loss summary from a status table (one row per cell) and the true
    values (``values``: rows keyed by ``dims``), e.g. for a table merged from views."""
    truth: dict[tuple, dict[str, float]] = {}
    for row in values.select([*dims, *additive]).to_pylist():
        truth[tuple(row[d] for d in dims)] = row
    tally = dict.fromkeys((PUBLISHED, ROUNDED, PRIMARY, SECONDARY, NOT_APPLICABLE), 0)
    by_column: dict[str, dict[str, float]] = {}
    hidden_total = value_total = 0.0
    for row in status.to_pylist():
        column, state = row["column"], row["status"]
        tally[state] += 1
        stats = by_column.setdefault(column, {s: 0.0 for s in tally})
        stats[state] += 1
        if column in additive:
            value = truth.get(tuple(row[d] for d in dims), {}).get(column)
            value = 0.0 if value is None or np.isnan(float(value)) else float(value)
            stats["_total"] = stats.get("_total", 0.0) + value
            stats["_hidden"] = stats.get("_hidden", 0.0) + (value if state in SUPPRESSED else 0)
    for stats in by_column.values():
        if "_total" in stats:
            total, hidden = stats.pop("_total"), stats.pop("_hidden")
            hidden_total += hidden
            value_total += total
            stats["suppressed_value_share"] = hidden / total if total else 0.0
    return InformationLoss.from_tally(tally, hidden_total, value_total, by_column)
