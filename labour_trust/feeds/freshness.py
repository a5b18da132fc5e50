"""Freshness: each department publishes month m by a set day of month m+1."""

from __future__ import annotations

import datetime as dt

from labour_trust.feeds.spec import FeedSpec
from labour_trust.months import month_of, shift_month


def expected_month(spec: FeedSpec, today: dt.date) -> str:
    """The newest month the department should have published by `today`."""
    months_back = 1 if today.day >= spec.publication_day else 2
    return shift_month(month_of(today), -months_back)


def freshness_problem(spec: FeedSpec, months: list[str], today: dt.date) -> str | None:
    """Why the share is late, or None when it is up to date."""
    expected = expected_month(spec, today)
    latest = max(months, default=None)
    if latest is not None and latest >= expected:
        return None
    return (
        f"{spec.name} is late: newest month is {latest or 'none'}, but {expected} was due by "
        f"day {spec.publication_day} of the following month"
    )
