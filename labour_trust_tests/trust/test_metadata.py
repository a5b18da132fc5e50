"""Catalog metadata of the trust datasets: columns, lineage, contributors, schemas."""

from __future__ import annotations

import re

import pytest

from labour_trust.feeds.departments import FEEDS, FEEDS_BY_NAME
from labour_trust.months import param_offset
from labour_trust.trust.datasets import TRUST_DATASETS, VIEW_NAMES, compute
from labour_trust_tests.trust import test_datasets_handmade as handmade
from labour_trust_tests.trust.feeds_fixture import connect

DATASETS = list(TRUST_DATASETS.values())
TOKEN_COLUMNS = {c for f in FEEDS for c in f.token_columns}


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_every_column_is_described_and_derived_from_real_feed_columns(ds):
    assert ds.description and ds.dimensions[0] == "month"
    assert set(ds.dimensions) <= set(ds.columns)
    for column in ds.column_specs:
        assert column.description, column.name
        if column.kind != "dimension" or column.name != "month":
            assert column.lineage, column.name
        for share, feed_column in column.lineage:
            assert share in ds.month_offsets, (column.name, share)
            assert feed_column in FEEDS_BY_NAME[share].schema.names, (column.name, feed_column)
    assert set(ds.lineage) <= set(ds.columns)


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_counts_and_magnitudes_name_their_contributor_columns(ds):
    columns = {c.name: c for c in ds.column_specs}
    for name in (*ds.counts, *ds.magnitudes):
        contributor = ds.contributor_columns[name]
        assert contributor in columns
        assert contributor == name or columns[contributor].kind == "contributors"
    for name in ds.magnitudes:
        assert ds.contributor_columns[name] == f"{name}_contributors"
    assert set(ds.contributor_sql) <= set(ds.magnitudes)


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_month_offsets_match_the_sql(ds):
    used = set(re.findall(r"\$(month\w*)", ds.sql))
    assert {param_offset(p) for p in used} == {
        o for offs in ds.month_offsets.values() for o in offs
    }
    for share in ds.month_offsets:
        assert re.search(rf"\b{VIEW_NAMES[share]}\b", ds.sql), share


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_output_has_the_declared_schema_and_no_tokens(ds):
    table = compute(connect(handmade.FEEDS), ds, "2024-03")  # provisional month: nulls
    assert table.schema == ds.schema
    assert not TOKEN_COLUMNS & set(table.column_names)
    hexes = re.compile(r"^[0-9a-f]{64}$")
    for column in table.columns:
        if str(column.type) == "string":
            assert not any(hexes.match(v or "") for v in column.to_pylist())
    for column in ds.column_specs:
        if not column.nullable:
            assert table[column.name].null_count == 0, column.name
    key = [tuple(r[d] for d in ds.dimensions) for r in table.to_pylist()]
    assert len(key) == len(set(key))  # one row per cell


def test_lineage_reads_without_dagster_plus():
    """A steward sees column ← feed columns as a table in the open-source UI, for every
    trust and published column, and each trust month names the Delta versions it read."""
    import dagster as dg

    from labour_trust.definitions import defs
    from labour_trust.defs.trust import lineage_markdown
    from labour_trust.shares.pinned import SharePointer

    graph = defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        if key.path[0] not in ("trust", "published"):
            continue
        metadata = graph.get(key).metadata
        text = metadata["lineage"].value
        rows = {line.split(" | ")[0].strip("| ") for line in text.splitlines()[2:]}
        columns = {c.name for c in metadata["dagster/column_schema"].columns}
        assert columns <= rows, (key, columns - rows)
        assert "| uc_claimants | trust/local_labour_market.uc_claimants | dwp/uc_claimants." in (
            graph.get(dg.AssetKey(["published", "local_labour_market"])).metadata["lineage"].value
        )

    paye = SharePointer.pinned("hmrc/paye_rti", "s3://b/paye", "2024-03", 7)
    text = lineage_markdown(TRUST_DATASETS["sector_view"], {paye.share: {paye.month: 7}})
    assert "| hmrc/paye_rti | 2024-03 | 7 |" in text
