"""Department simulators publish and correct months in place, as Delta commits."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from labour_trust.feeds.departments import BUSINESS_POPULATION, FEEDS, PAYE_RTI, UC_CLAIMANTS
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.feeds.spec import FeedSpec
from labour_trust.shares.storage import share_uri
from labour_trust.synthetic import generate_month, publish_month, republish_month, seed_shares

KEY = LinkageKey(b"test-linkage-key-0123456789")
SCALE = 0.001
SEED = 5
MONTHS = ["2024-01", "2024-02", "2024-03"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("shares"))
    versions = seed_shares(root, MONTHS, scale=SCALE, seed=SEED, key=KEY)
    assert versions == {spec.name: len(MONTHS) - 1 for spec in FEEDS}
    return root


def read_month(uri: str, month: str, version: int | None = None, **kw) -> pa.Table:
    table = DeltaTable(uri, version=version, **kw)
    return table.to_pyarrow_dataset().to_table(filter=ds.field("month") == month)


def sort(table: pa.Table, spec: FeedSpec) -> pa.Table:
    return table.select(spec.schema.names).sort_by([(c, "ascending") for c in spec.key_columns])


def month_files(uri: str, version: int) -> dict[str, set[str]]:
    actions = pa.table(DeltaTable(uri, version=version).get_add_actions(flatten=True))
    files: dict[str, set[str]] = {}
    for path, month in zip(
        actions["path"].to_pylist(), actions["partition.month"].to_pylist(), strict=True
    ):
        files.setdefault(month, set()).add(path)
    return files


@pytest.mark.parametrize("spec", FEEDS, ids=lambda s: s.name)
def test_seeded_share_reads_back_as_generated(root: str, spec: FeedSpec) -> None:
    uri = share_uri(root, spec.department, spec.table)
    table = DeltaTable(uri)
    assert table.metadata().partition_columns == ["month"]
    schema = pa.schema(table.schema().to_arrow())
    for field in spec.schema:
        stored = schema.field(field.name)
        assert stored.type == field.type and stored.nullable == field.nullable, field.name
    assert set(month_files(uri, table.version())) == set(MONTHS)
    stored = read_month(uri, "2024-02", version=len(MONTHS) - 1)
    generated = pa.Table.from_batches(
        list(generate_month(spec, "2024-02", scale=SCALE, seed=SEED, key=KEY))
    )
    assert sort(stored, spec).equals(sort(generated, spec))


@pytest.mark.parametrize("spec", [UC_CLAIMANTS, PAYE_RTI], ids=lambda s: s.name)
def test_republish_is_one_commit_touching_only_that_month(root: str, spec: FeedSpec) -> None:
    uri = share_uri(root, spec.department, spec.table)
    before = DeltaTable(uri).version()
    version = republish_month(root, spec, "2024-02", scale=SCALE, seed=SEED, key=KEY, revision=1)
    assert version == before + 1 == DeltaTable(uri).version()

    # The commit's actions name the corrected month only.
    log = Path(uri) / "_delta_log" / f"{version:020d}.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    adds = [a["add"] for a in actions if "add" in a]
    removes = [a["remove"] for a in actions if "remove" in a]
    assert adds and removes
    assert {a["partitionValues"]["month"] for a in adds + removes} == {"2024-02"}
    assert not any("metaData" in a for a in actions)
    info = DeltaTable(uri).history(1)[0]
    assert info["operationParameters"]["predicate"] == "month = '2024-02'"
    assert info["labour_trust.revision"] == "1"

    # Other months keep their files; the corrected month differs by a few percent of rows.
    old, new = month_files(uri, before), month_files(uri, version)
    assert old["2024-01"] == new["2024-01"] and old["2024-03"] == new["2024-03"]
    assert old["2024-02"].isdisjoint(new["2024-02"])
    was, now = read_month(uri, "2024-02", before), read_month(uri, "2024-02")
    changed = _changed_rows(was, now, spec)
    assert 0.005 * was.num_rows <= changed <= 0.1 * was.num_rows, (changed, was.num_rows)
    assert read_month(uri, "2024-01", before).equals(read_month(uri, "2024-01"))


def _changed_rows(was: pa.Table, now: pa.Table, spec: FeedSpec) -> int:
    """Rows in either version that are not identical in the other."""

    def keyed(table: pa.Table) -> set[tuple]:
        return set(zip(*(table[c].to_pylist() for c in spec.schema.names), strict=True))

    return len(keyed(was) ^ keyed(now))


def test_correction_needs_a_revision(root: str) -> None:
    with pytest.raises(ValueError):
        republish_month(root, UC_CLAIMANTS, "2024-02", scale=SCALE, seed=SEED, key=KEY, revision=0)
    with pytest.raises(ValueError):
        publish_month(
            UC_CLAIMANTS,
            "2024-2",
            share_uri(root, "dwp", "uc_claimants"),
            scale=SCALE,
            seed=SEED,
            key=KEY,
        )


def test_publish_to_s3(tmp_path: Path) -> None:
    """A share on S3 (moto's standalone server): same commits, same content."""
    boto3 = pytest.importorskip("boto3")
    from labour_trust.demo.s3 import MotoServer

    with MotoServer() as server:
        settings = server.settings
        boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
        ).create_bucket(
            Bucket="dbt", CreateBucketConfiguration={"LocationConstraint": settings.region}
        )
        options = settings.delta_storage_options()
        root = "s3://dbt/shares"
        spec = BUSINESS_POPULATION
        versions = seed_shares(
            root,
            ["2024-01", "2024-02"],
            scale=SCALE,
            seed=SEED,
            key=KEY,
            feeds=[spec],
            storage_options=options,
        )
        assert versions == {spec.name: 1}
        assert (
            republish_month(
                root,
                spec,
                "2024-01",
                scale=SCALE,
                seed=SEED,
                key=KEY,
                revision=1,
                storage_options=options,
            )
            == 2
        )
        uri = share_uri(root, spec.department, spec.table)
        stored = read_month(uri, "2024-02", storage_options=options)
        generated = pa.Table.from_batches(
            list(generate_month(spec, "2024-02", scale=SCALE, seed=SEED, key=KEY))
        )
        assert sort(stored, spec).equals(sort(generated, spec))
