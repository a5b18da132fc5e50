"""Physically restricted copies for column- and region-limited grants."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from labour_trust.governance.agreements import AgreementRegister
from labour_trust.governance.restricted import (
    RestrictionError,
    materialise_restricted_tables,
    restricted_uri,
)
from labour_trust_tests.governance.conftest import (
    LONDON,
    agreement_entry,
    published_table,
    write_published,
    write_register,
)


def rows(uri: str) -> list[dict]:
    return DeltaTable(uri).to_pyarrow_table().to_pylist()


def test_restricted_copies_hold_only_permitted_rows_and_columns(sharing_home: Path) -> None:
    register = AgreementRegister.load(sharing_home / "agreements.yaml")
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")

    results = materialise_restricted_tables(published, register, restricted)

    assert sorted((r.agreement_id, r.table) for r in results) == [
        ("columns-only", "sector_view"),
        ("london-only", "local_labour_market"),
    ]
    london = rows(restricted_uri(restricted, "london-only", "local_labour_market"))
    # Two London LADs and the London region row, for three months; no UK or other regions.
    assert len(london) == 9
    assert {r["area_code"] for r in london} == LONDON
    columns = DeltaTable(restricted_uri(restricted, "columns-only", "sector_view"))
    assert columns.schema().to_arrow().names == ["month", "area_code", "area_level"]
    assert columns.metadata().partition_columns == ["month"]
    # The data files themselves hold nothing else (a consumer downloads whole files).
    for uri in columns.file_uris():
        assert pq.read_schema(uri).names == ["area_code", "area_level"]


def test_current_copies_are_left_alone_and_stale_ones_rebuilt(sharing_home: Path) -> None:
    register = AgreementRegister.load(sharing_home / "agreements.yaml")
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    materialise_restricted_tables(published, register, restricted)

    again = materialise_restricted_tables(published, register, restricted)
    assert [r.rebuilt for r in again] == [False, False]

    write_published(published, "local_labour_market", published_table(bump=1000))
    rebuilt = {r.table: r for r in materialise_restricted_tables(published, register, restricted)}
    assert rebuilt["local_labour_market"].rebuilt and rebuilt["local_labour_market"].rows == 9
    assert not rebuilt["sector_view"].rebuilt
    london = rows(restricted_uri(restricted, "london-only", "local_labour_market"))
    assert min(r["uc_claimants"] for r in london) >= 1000


def test_a_recreated_published_table_is_not_mistaken_for_the_old_one(
    sharing_home: Path,
) -> None:
    register = AgreementRegister.load(sharing_home / "agreements.yaml")
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    materialise_restricted_tables(published, register, restricted)
    shutil.rmtree(sharing_home / "published" / "local_labour_market")
    write_published(published, "local_labour_market", published_table(bump=7000))  # version 0

    rebuilt = {r.table: r for r in materialise_restricted_tables(published, register, restricted)}
    assert rebuilt["local_labour_market"].rebuilt
    london = rows(restricted_uri(restricted, "london-only", "local_labour_market"))
    assert min(r["uc_claimants"] for r in london) >= 7000


def test_a_changed_grant_rebuilds_the_copy(sharing_home: Path) -> None:
    path = sharing_home / "agreements.yaml"
    register = AgreementRegister.load(path)
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    materialise_restricted_tables(published, register, restricted)

    write_register(
        path,
        [agreement_entry("london-only", [{"name": "local_labour_market", "regions": ["TLC"]}])],
    )
    (result,) = materialise_restricted_tables(published, register, restricted)
    assert result.rebuilt
    codes = {r["area_code"] for r in rows(result.uri)}
    assert codes == {"E06000001", "TLC"}


def test_region_with_no_rows_gives_an_empty_table(sharing_home: Path) -> None:
    path = write_register(
        sharing_home / "agreements.yaml",
        [agreement_entry("scotland", [{"name": "local_labour_market", "regions": ["TLM"]}])],
    )
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    (result,) = materialise_restricted_tables(published, AgreementRegister.load(path), restricted)
    assert result.rows == 0
    assert rows(result.uri) == []


def test_unknown_column_in_grant_is_an_error(sharing_home: Path) -> None:
    path = write_register(
        sharing_home / "agreements.yaml",
        [agreement_entry("a", [{"name": "sector_view", "columns": ["area_code", "nino"]}])],
    )
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    with pytest.raises(RestrictionError, match=r"lacks: \['nino'\]"):
        materialise_restricted_tables(published, AgreementRegister.load(path), restricted)


def test_region_column_is_configurable(sharing_home: Path) -> None:
    table = published_table()
    table = table.rename_columns(
        [n if n != "parent_code" else "region" for n in table.column_names]
    )
    write_published(sharing_home / "published", "skills_outcomes", table)
    path = write_register(
        sharing_home / "agreements.yaml",
        [agreement_entry("wales", [{"name": "skills_outcomes", "regions": ["TLL"]}])],
    )
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    register = AgreementRegister.load(path)
    with pytest.raises(RestrictionError, match="no region column"):
        materialise_restricted_tables(published, register, restricted)

    (result,) = materialise_restricted_tables(
        published, register, restricted, region_columns={"skills_outcomes": "region"}
    )
    assert {r["area_code"] for r in rows(result.uri)} == {"W06000015", "TLL"}


def test_itl1_code_column_is_preferred_when_present(sharing_home: Path) -> None:
    # A table carrying each row's ITL1 region directly (the UK row has none).
    table = published_table()
    itl1 = [
        c if lvl == "itl1" else (p if lvl == "lad" else None)
        for c, lvl, p in zip(
            table.column("area_code").to_pylist(),
            table.column("area_level").to_pylist(),
            table.column("parent_code").to_pylist(),
            strict=True,
        )
    ]
    table = table.drop_columns(["parent_code"]).append_column("itl1_code", pa.array(itl1))
    write_published(sharing_home / "published", "sector_view", table, schema_mode="overwrite")
    path = write_register(
        sharing_home / "agreements.yaml",
        [agreement_entry("ne", [{"name": "sector_view", "regions": ["TLC"]}])],
    )
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    (result,) = materialise_restricted_tables(published, AgreementRegister.load(path), restricted)
    assert {r["area_code"] for r in rows(result.uri)} == {"E06000001", "TLC"}


def test_grant_level_region_column_overrides(sharing_home: Path) -> None:
    path = write_register(
        sharing_home / "agreements.yaml",
        [
            agreement_entry(
                "by-name",
                [{"name": "sector_view", "regions": ["TLC"], "region_column": "area_name"}],
            )
        ],
    )
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    # area_name never holds an ITL1 code: only the region's own row (by area_code) is kept.
    (result,) = materialise_restricted_tables(published, AgreementRegister.load(path), restricted)
    assert {r["area_code"] for r in rows(result.uri)} == {"TLC"}


def test_agreements_that_are_not_live_get_no_copy(sharing_home: Path) -> None:
    path = write_register(
        sharing_home / "agreements.yaml",
        [
            agreement_entry(
                "revoked-one",
                [{"name": "local_labour_market", "regions": ["TLI"]}],
                status="revoked",
            )
        ],
    )
    published, restricted = str(sharing_home / "published"), str(sharing_home / "restricted")
    assert materialise_restricted_tables(published, AgreementRegister.load(path), restricted) == []
