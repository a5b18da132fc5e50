"""FeedSpec: everything the factory needs to turn one department share into Dagster objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


# eq=False: specs are singletons, hashed by identity (so they can key caches).
@dataclass(frozen=True, eq=False)
class FeedSpec:
    department: str  # "dwp"; also the asset group
    table: str  # "uc_claimants"
    description: str
    schema: pa.Schema  # the contract: columns, types, nullability (month is the partition)
    key_columns: tuple[str, ...]  # unique within a month
    owners: tuple[str, ...]
    rows_per_month: int  # at scale 1.0 (national volumes)
    token_columns: tuple[str, ...] = ()
    non_negative_columns: tuple[str, ...] = ()
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    publication_day: int = 10  # the department publishes month m by this day of m+1
    volume_tolerance: float = 0.5  # allowed relative deviation from the trailing median
    # Plausible upper bound of each numeric column (the contract rejects values above it
    # and every non-finite float): a 1e308 passes `non_negative` but overflows any SUM.
    upper_bounds: dict[str, float] = field(default_factory=dict)
    # Columns whose month median must stay within `magnitude_factor` (×/÷) of the trailing
    # months' median: well-typed but wrong data, e.g. pay published in pence.
    magnitude_columns: tuple[str, ...] = ()
    magnitude_factor: float = 3.0
    # What each column means, for the catalog (every schema column has one: a test checks).
    column_descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Share name and asset key path, e.g. "dwp/uc_claimants"."""
        return f"{self.department}/{self.table}"

    @property
    def asset_key_path(self) -> list[str]:
        return [self.department, self.table]

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.schema if not f.nullable]
