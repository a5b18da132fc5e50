"""Reference data shipped with the package: ONS LAD (Dec 2023) → ITL1 lookup (OGL v3.0)."""

from labour_trust.reference.geography import (
    UK_CODE,
    UK_NAME,
    Lad,
    itl1_of,
    lad_codes,
    lad_table,
    lads,
)

__all__ = ["UK_CODE", "UK_NAME", "Lad", "itl1_of", "lad_codes", "lad_table", "lads"]
