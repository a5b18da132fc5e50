"""The 361 local authority districts (2023) and their ITL1 regions."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa

UK_CODE = "K02000001"
UK_NAME = "United Kingdom"


@dataclass(frozen=True)
class Lad:
    code: str
    name: str
    itl1_code: str
    itl1_name: str


@cache
def lads() -> tuple[Lad, ...]:
    """All LADs in the reference lookup, in file order."""
    text = resources.files("labour_trust.reference").joinpath("lad23_itl1.csv").read_text()
    rows = csv.DictReader(text.splitlines())
    return tuple(Lad(r["LAD23CD"], r["LAD23NM"], r["ITL121CD"], r["ITL121NM"]) for r in rows)


@cache
def lad_codes() -> frozenset[str]:
    return frozenset(lad.code for lad in lads())


@cache
def itl1_of() -> dict[str, str]:
    """LAD code → ITL1 code."""
    return {lad.code: lad.itl1_code for lad in lads()}


def lad_table() -> pa.Table:
    """The lookup as an Arrow table (lad_code, lad_name, itl1_code, itl1_name)."""
    all_lads = lads()
    return pa.table(
        {
            "lad_code": [lad.code for lad in all_lads],
            "lad_name": [lad.name for lad in all_lads],
            "itl1_code": [lad.itl1_code for lad in all_lads],
            "itl1_name": [lad.itl1_name for lad in all_lads],
        }
    )
