import datetime as dt

from labour_trust.feeds.departments import PAYE_RTI, UC_CLAIMANTS
from labour_trust.feeds.freshness import expected_month, freshness_problem


def test_month_is_due_on_the_publication_day_of_the_next_month():
    assert PAYE_RTI.publication_day == 20
    assert expected_month(PAYE_RTI, dt.date(2024, 4, 19)) == "2024-02"
    assert expected_month(PAYE_RTI, dt.date(2024, 4, 20)) == "2024-03"
    assert expected_month(PAYE_RTI, dt.date(2024, 1, 25)) == "2023-12"


def test_a_late_share_is_named_with_what_was_due():
    months = ["2024-01", "2024-02"]
    assert freshness_problem(UC_CLAIMANTS, months, dt.date(2024, 3, 15)) is None
    problem = freshness_problem(UC_CLAIMANTS, months, dt.date(2024, 4, 16))
    assert problem == (
        "dwp/uc_claimants is late: newest month is 2024-02, but 2024-03 was due by day 15 "
        "of the following month"
    )
    assert "newest month is none" in freshness_problem(UC_CLAIMANTS, [], dt.date(2024, 4, 16))
