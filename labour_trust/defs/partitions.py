"""Partitions, defined once: one partition per data month ('YYYY-MM', as in the shares).

Time-window partitions (not dynamic ones) so that look-ahead outcomes (m+3, m+6) can be
expressed as partition mappings. A month m is published by departments during m+1, so
the newest partition is the last complete month; the first is the home's first data month
(`labour_trust.settings.first_month`).
"""

import warnings

import dagster as dg

from labour_trust.settings import first_month


def monthly_partitions(first: str) -> dg.MonthlyPartitionsDefinition:
    return dg.MonthlyPartitionsDefinition(start_date=first, fmt="%Y-%m", end_offset=0)


MONTHLY = monthly_partitions(first_month())


def monthly_check(name: str, asset: dg.AssetKey, description: str) -> dg.AssetCheckSpec:
    """A blocking check whose results carry the month they checked (the UI shows it, and
    automation holds back only the months whose checks failed)."""
    # Partitioned checks are a Dagster preview: pyproject pins the minor version tested.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name, asset=asset, description=description, blocking=True, partitions_def=MONTHLY
        )
