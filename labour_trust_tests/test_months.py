from __future__ import annotations

import datetime as dt

import pytest

from labour_trust.months import (
    days_in_month,
    last_complete_months,
    month_index,
    month_label,
    month_of,
    month_params,
    month_range,
    param_name,
    param_offset,
    shift_month,
)


@pytest.mark.parametrize(
    ("month", "offset", "expected"),
    [
        ("2024-02", 0, "2024-02"),
        ("2024-11", 3, "2025-02"),
        ("2024-01", -1, "2023-12"),
        ("2024-07", 6, "2025-01"),
        ("2000-12", 1, "2001-01"),
    ],
)
def test_shift_month(month, offset, expected):
    assert shift_month(month, offset) == expected


@pytest.mark.parametrize("bad", ["2024-13", "2024-1", "24-01", "2024-00", "2024/01", ""])
def test_bad_months_are_rejected(bad):
    with pytest.raises(ValueError):
        shift_month(bad, 1)


def test_param_names_round_trip():
    for offset in (-1, 0, 3, 6):
        assert param_offset(param_name(offset)) == offset


def test_month_params_only_those_used():
    sql = "SELECT 1 WHERE a = $month_plus_6 AND b = $month OR c = $month_minus_1"
    assert month_params(sql, "2024-08") == {
        "month": "2024-08",
        "month_plus_6": "2025-02",
        "month_minus_1": "2024-07",
    }
    assert month_params("SELECT 1", "2024-08") == {}


def test_month_index_and_label_are_inverse():
    assert month_index("2024-03") == 2024 * 12 + 2
    for month in ("2000-01", "2023-12", "2024-02"):
        assert month_label(month_index(month)) == month
    assert days_in_month(month_index("2024-02")) == 29
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_index("2024-13")


def test_ranges_and_dates():
    assert month_range("2023-11:2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert month_range(" 2024-03 ") == ["2024-03"]
    with pytest.raises(ValueError, match="Empty month range"):
        month_range("2024-03:2024-01")
    assert month_of(dt.date(2025, 1, 31)) == "2025-01"
    assert last_complete_months(12, dt.date(2026, 1, 5)) == "2025-01:2025-12"
