"""Month arithmetic on 'YYYY-MM' partition keys, and the SQL parameters derived from them.

The one source of month arithmetic: partition keys, the simulator's month index, the
feeds' due months.

Dataset SQL names the months it reads as named parameters: ``$month`` (the partition month
m), ``$month_minus_1`` (m−1), ``$month_plus_3`` (m+3), and so on. Passing month strings (not
expressions) keeps the ``month = $param`` filters constant, so DuckDB pushes them down into
the Arrow scans of the feeds and reads only the partitions it needs.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_PARAM = re.compile(r"\$(month(?:_(?:plus|minus)_\d+)?)\b")


def check_month(month: str) -> str:
    if not isinstance(month, str) or not MONTH_PATTERN.match(month):
        raise ValueError(f"month must be 'YYYY-MM', got {month!r}")
    return month


def month_index(month: str) -> int:
    """'2024-03' → 2024 * 12 + 2: months since year 0, so windows are calendar years."""
    match = MONTH_PATTERN.match(check_month(month))
    assert match is not None
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_label(index: int) -> str:
    """The inverse of ``month_index``: 24290 → '2024-03'."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_of(day: dt.date) -> str:
    """The month a date falls in: 2025-02-14 → '2025-02'."""
    return month_label(day.year * 12 + day.month - 1)


def shift_month(month: str, offset: int) -> str:
    """'2024-11' shifted by 3 → '2025-02'."""
    return month_label(month_index(month) + offset)


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
    current = month_of(today or dt.date.today())
    return f"{shift_month(current, -count)}:{shift_month(current, -1)}"


def param_name(offset: int) -> str:
    """The SQL parameter naming month m+offset: 0 → 'month', -1 → 'month_minus_1'."""
    if offset == 0:
        return "month"
    return f"month_{'plus' if offset > 0 else 'minus'}_{abs(offset)}"


def param_offset(name: str) -> int:
    if name == "month":
        return 0
    _, direction, amount = name.split("_")
    return int(amount) if direction == "plus" else -int(amount)


def month_params(sql: str, month: str) -> dict[str, str]:
    """Values for exactly the month parameters that ``sql`` uses (DuckDB rejects extras)."""
    check_month(month)
    return {name: shift_month(month, param_offset(name)) for name in set(_PARAM.findall(sql))}
