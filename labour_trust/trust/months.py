"""Month arithmetic on 'YYYY-MM' partition keys and the SQL parameters derived from them.

Dataset SQL names the months it reads as named parameters: ``$month`` (the partition month
m), ``$month_minus_1`` (m−1), ``$month_plus_3`` (m+3), and so on. Passing month strings (not
expressions) keeps the ``month = $param`` filters constant, so DuckDB pushes them down into
the Arrow scans of the feeds and reads only the partitions it needs.
"""

from __future__ import annotations

import re

MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_PARAM = re.compile(r"\$(month(?:_(?:plus|minus)_\d+)?)\b")


def check_month(month: str) -> str:
    if not isinstance(month, str) or not MONTH_PATTERN.match(month):
        raise ValueError(f"month must be 'YYYY-MM', got {month!r}")
    return month


def shift_month(month: str, offset: int) -> str:
    """'2024-11' shifted by 3 → '2025-02'."""
    match = MONTH_PATTERN.match(check_month(month))
    assert match is not None
    index = int(match.group(1)) * 12 + int(match.group(2)) - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


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
