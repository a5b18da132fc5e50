"""Freshness: each department publishes month m by a set day of month m+1.

Read from the share itself, not from Dagster's freshness tools: `FreshnessPolicy` judges
when an asset was last materialised (a correction of an old month would count as fresh),
and `build_time_partition_freshness_checks` is superseded in Dagster 1.13. The question a
steward asks is whether the department's month m arrived by its publication day.
"""

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
