"""Partitions, defined once: one partition per data month ('YYYY-MM', as in the shares).

Time-window partitions (not dynamic ones) so that look-ahead outcomes (m+3, m+6) can be
expressed as partition mappings. A month m is published by departments during m+1, so
the newest partition is the last complete month; the first is the home's first data month
(`labour_trust.settings.first_month`).
"""

import dagster as dg

from labour_trust.settings import first_month


def monthly_partitions(first: str) -> dg.MonthlyPartitionsDefinition:
    return dg.MonthlyPartitionsDefinition(start_date=first, fmt="%Y-%m", end_offset=0)


MONTHLY = monthly_partitions(first_month())
