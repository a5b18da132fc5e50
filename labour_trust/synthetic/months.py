"""Month labels ('YYYY-MM') and the absolute month index the simulator runs on."""

from __future__ import annotations

import calendar
import datetime as dt
import re

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_index(month: str) -> int:
    """'2024-03' → 2024 * 12 + 2: months since year 0, so windows are calendar years."""
    m = _MONTH.match(month)
    if not m:
        raise ValueError(f"Not a month (YYYY-MM): {month!r}")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def days_in_month(index: int) -> int:
    return calendar.monthrange(index // 12, index % 12 + 1)[1]


def month_range(spec: str) -> list[str]:
    """'2024-01:2024-12' → the 12 months inclusive; '2024-03' → ['2024-03']."""
    first, sep, last = spec.strip().partition(":")
    start = month_index(first.strip())
    end = month_index(last.strip()) if sep else start
    if end < start:
        raise ValueError(f"Empty month range: {spec!r}")
    return [month_label(i) for i in range(start, end + 1)]


def last_complete_months(count: int, today: dt.date | None = None) -> str:
    """The ``count`` months before the current one, as a range: '2025-11:2026-10'."""
    today = today or dt.date.today()
    current = today.year * 12 + today.month - 1
    return f"{month_label(current - count)}:{month_label(current - 1)}"
