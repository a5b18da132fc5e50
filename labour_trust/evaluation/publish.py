"""Evaluation results for publication, under the trust's disclosure-control policy.

Every count (cohort and comparison sizes, people with the outcome and without it) is a cell:
published rounded to the policy's base (5) and only when at least the threshold (10); an
estimate is published only when every cell it is computed from passes, otherwise it is
suppressed with the reason. Mean pay needs at least the threshold of contributors (people
paid) in each group. Shares are published in percentage points to the policy's rounding,
mean pay to its earnings rounding; pay impacts to the pound (an impact of a few pounds
would vanish at £100).
"""

from __future__ import annotations

import math

import pyarrow as pa

from labour_trust.disclosure.policy import DisclosurePolicy

PUBLISHED_SCHEMA = pa.schema(
    [
        ("month", pa.string()),
        ("outcome", pa.string()),
        ("horizon", pa.int32()),
        ("estimator", pa.string()),
        ("treated_n", pa.int64()),
        ("comparison_n", pa.int64()),
        ("treated_positive", pa.int64()),
        ("comparison_positive", pa.int64()),
        ("treated_mean", pa.float64()),
        ("comparison_mean", pa.float64()),
        ("estimate", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("unit", pa.string()),
        ("status", pa.string()),  # published | suppressed | provisional
        ("reason", pa.string()),
    ]
)

_BINARY = {"employed", "on_uc"}


def _round_half_up(value: float, base: float) -> float:
    return math.floor(value / base + 0.5) * base


def _round_count(n: int, base: int) -> int:
    return int(_round_half_up(n, base))


def publish_estimates(estimates: pa.Table, policy: DisclosurePolicy) -> pa.Table:
    """The estimates table (`estimate.ESTIMATE_SCHEMA`) made safe to publish."""
    threshold, base = policy.threshold, policy.count_rounding_base
    out = []
    for row in estimates.to_pylist():
        binary = row["outcome"] in _BINARY
        label = f"{row['outcome']} at m+{row['horizon']}"
        published = {k: row[k] for k in ("month", "outcome", "horizon", "estimator")}
        published["unit"] = "percentage points" if binary else "£ a month"
        if not row["available"]:
            out.append(
                published
                | {
                    "status": "provisional",
                    "reason": f"month m+{row['horizon']} is not yet in the shares",
                    "treated_n": _cell(row["treated_n"], threshold, base),
                    "comparison_n": _cell(row["comparison_n"], threshold, base),
                }
            )
            continue
        cells = {
            "treated": row["treated_n"],
            "comparison": row["comparison_n"],
            f"treated with {label}": row["treated_positive"],
            f"comparison with {label}": row["comparison_positive"],
        }
        if binary:  # the complement discloses as much as the count
            cells[f"treated without {label}"] = row["treated_n"] - row["treated_positive"]
            cells[f"comparison without {label}"] = row["comparison_n"] - row["comparison_positive"]
        failing = [f"{name}: {n} < {threshold}" for name, n in cells.items() if n < threshold]
        counts = {
            "treated_n": _cell(row["treated_n"], threshold, base),
            "comparison_n": _cell(row["comparison_n"], threshold, base),
            "treated_positive": _cell(row["treated_positive"], threshold, base),
            "comparison_positive": _cell(row["comparison_positive"], threshold, base),
        }
        if failing:
            out.append(
                published
                | counts
                | {"status": "suppressed", "reason": "cells below threshold: " + "; ".join(failing)}
            )
            continue
        if binary:
            scale, step = 100.0, policy.percentage_rounding
            means_step = step
        else:
            scale, step, means_step = 1.0, 1.0, policy.earnings_rounding
        figures = {
            "estimate": _round_half_up(row["estimate"] * scale, step),
            "ci_low": _round_half_up(row["ci_low"] * scale, step),
            "ci_high": _round_half_up(row["ci_high"] * scale, step),
            "treated_mean": _round_half_up(row["treated_mean"] * scale, means_step),
            "comparison_mean": _round_half_up(row["comparison_mean"] * scale, means_step),
        }
        out.append(published | counts | figures | {"status": "published", "reason": None})
    return pa.Table.from_pylist(out, schema=PUBLISHED_SCHEMA)


def _cell(n: int | None, threshold: int, base: int) -> int | None:
    """A count as published: rounded to the base, or None (suppressed) under the threshold."""
    if n is None or n < threshold:
        return None
    return _round_count(n, base)


def to_markdown(table: pa.Table) -> str:
    """A small markdown table (for Dagster metadata and the CLI)."""
    columns = [
        "outcome",
        "horizon",
        "estimator",
        "estimate",
        "ci_low",
        "ci_high",
        "treated_n",
        "comparison_n",
        "status",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table.to_pylist():
        cells = []
        for c in columns:
            v = row.get(c)
            cells.append("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
