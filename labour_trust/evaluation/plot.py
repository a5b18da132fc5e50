"""The picture of an evaluation month: effect by horizon with its 95% interval, per outcome.

Drawn from the published (disclosure-controlled) table only, so the picture never shows
more than the table does: suppressed and provisional horizons are marked, not plotted.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: rendered inside runs and the CLI

import matplotlib.pyplot as plt
import pyarrow as pa
from matplotlib.figure import Figure

_STYLE = {"matched": ("tab:blue", "o", -0.15), "naive": ("tab:grey", "s", 0.15)}


def effect_plot_png(published: pa.Table, title: str) -> bytes:
    """A PNG with one panel per outcome: estimate and interval for each estimator."""
    fig = effect_figure(published, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def effect_figure(published: pa.Table, title: str) -> Figure:
    rows = published.to_pylist()
    outcomes = sorted({r["outcome"] for r in rows})
    fig, axes = plt.subplots(
        1, len(outcomes), figsize=(4.2 * len(outcomes), 3.4), squeeze=False, dpi=90
    )
    for ax, outcome in zip(axes[0], outcomes, strict=True):
        _panel(ax, [r for r in rows if r["outcome"] == outcome], outcome)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _panel(ax, rows: list[dict], outcome: str) -> None:
    horizons = sorted({r["horizon"] for r in rows})
    for estimator, (colour, marker, shift) in _STYLE.items():
        shown = [r for r in rows if r["estimator"] == estimator and r["status"] == "published"]
        if shown:
            x = [horizons.index(r["horizon"]) + shift for r in shown]
            y = [r["estimate"] for r in shown]
            err = [
                [r["estimate"] - r["ci_low"] for r in shown],
                [r["ci_high"] - r["estimate"] for r in shown],
            ]
            ax.errorbar(x, y, yerr=err, fmt=marker, color=colour, capsize=3, label=estimator)
    for r in rows:
        if r["status"] != "published" and r["estimator"] == "matched":
            ax.annotate(
                r["status"],
                (horizons.index(r["horizon"]), 0),
                ha="center",
                va="bottom",
                fontsize=8,
                color="tab:red",
            )
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(horizons)), [f"m+{h}" for h in horizons])
    unit = rows[0]["unit"] if rows else ""
    ax.set_title(outcome, fontsize=9)
    ax.set_ylabel(f"effect ({unit})", fontsize=8)
    ax.legend(fontsize=7)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown the Dagster UI renders inline (a data URI: no file server needed)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


__all__ = ["effect_figure", "effect_plot_png", "markdown_image"]
