"""The effect-by-horizon picture shows exactly the published estimates and intervals."""

from __future__ import annotations

import base64

import pyarrow as pa

from labour_trust.evaluation.plot import effect_figure, effect_plot_png, markdown_image
from labour_trust.evaluation.publish import PUBLISHED_SCHEMA


def _row(outcome, horizon, estimator, status, estimate=None, low=None, high=None):
    return {
        "month": "2024-04",
        "outcome": outcome,
        "horizon": horizon,
        "estimator": estimator,
        "estimate": estimate,
        "ci_low": low,
        "ci_high": high,
        "unit": "percentage points",
        "status": status,
        "reason": None if status == "published" else "cells below threshold",
    }


PUBLISHED = pa.Table.from_pylist(
    [
        _row("employed", 3, "matched", "published", 4.0, 1.0, 7.0),
        _row("employed", 3, "naive", "published", 9.0, 6.0, 12.0),
        _row("employed", 6, "matched", "suppressed"),
        _row("employed", 6, "naive", "suppressed"),
        _row("on_uc", 3, "matched", "published", -2.0, -5.0, 1.0),
        _row("on_uc", 3, "naive", "provisional"),
    ],
    schema=PUBLISHED_SCHEMA,
)


def _plotted(ax) -> dict[str, list[tuple[float, float, float]]]:
    """(y, low, high) per estimator, read back from the drawn error bars."""
    out = {}
    for container in ax.containers:
        line, _caps, (bars,) = container.lines
        ys = line.get_ydata()
        segments = bars.get_segments()
        out[container.get_label()] = [
            (float(y), float(s[0][1]), float(s[1][1])) for y, s in zip(ys, segments, strict=True)
        ]
    return out


def test_only_published_estimates_are_drawn_with_their_intervals():
    fig = effect_figure(PUBLISHED, "test")
    employed, on_uc = fig.axes
    assert employed.get_title() == "employed" and on_uc.get_title() == "on_uc"
    assert _plotted(employed) == {"matched": [(4.0, 1.0, 7.0)], "naive": [(9.0, 6.0, 12.0)]}
    assert _plotted(on_uc) == {"matched": [(-2.0, -5.0, 1.0)]}
    marks = {t.get_text() for t in employed.texts}
    assert marks == {"suppressed"}  # the m+6 horizon is marked, not drawn


def test_png_and_markdown_for_the_ui():
    png = effect_plot_png(PUBLISHED, "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    md = markdown_image(png, "effect")
    assert md.startswith("![effect](data:image/png;base64,")
    assert base64.b64decode(md.split(",", 1)[1].rstrip(")")) == png
