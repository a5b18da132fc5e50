from __future__ import annotations

import pytest

from labour_trust.trust.months import month_params, param_name, param_offset, shift_month


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
