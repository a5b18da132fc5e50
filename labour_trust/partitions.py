"""Partitions, defined once: one partition per data month ('YYYY-MM', as in the shares).

Time-window partitions (not dynamic ones) so that look-ahead outcomes (m+3, m+6) can be
expressed as partition mappings. A month m is published by departments during m+1, so
the newest partition is the last complete month.
"""

import dagster as dg

FIRST_MONTH = "2024-01"

MONTHLY = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, fmt="%Y-%m", end_offset=0)
