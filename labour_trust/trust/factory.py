"""Trust datasets as Dagster assets: DuckDB SQL over Arrow scans of the pinned feed versions.

Each dataset reads the feed months its SQL needs (look-ahead and look-back are partition
mappings), computes in an in-memory DuckDB over the shares read in place, then replaces its
month in the warehouse table `trust.<name>` — the warehouse file has one writer at a time
(the `trust_warehouse` pool), and it is held only for that short write.
"""

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.dataset as pds
from dagster_duckdb import DuckDBResource

from labour_trust.automation import follow_upstream
from labour_trust.feeds.departments import FEEDS_BY_NAME
from labour_trust.partitions import MONTHLY
from labour_trust.reference import lad_table
from labour_trust.resources import ShareStore
from labour_trust.shares.pinned import SharePointer, month_dataset, open_share
from labour_trust.trust.datasets import LAD_LOOKUP_VIEW, VIEW_NAMES, compute
from labour_trust.trust.months import shift_month
from labour_trust.trust.spec import TrustDataset

TRUST_CLASSIFICATION = "OFFICIAL-SENSITIVE"
WAREHOUSE_POOL = "trust_warehouse"
TRUST_OWNERS = ["team:labour-trust"]


def feed_partition_mapping(offsets: tuple[int, ...]) -> dg.PartitionMapping:
    """Month m reads feed months m+min(offsets) … m+max(offsets)."""
    if offsets == (0,):
        return dg.IdentityPartitionMapping()
    with warnings.catch_warnings():  # allow_nonexistent_upstream_partitions is "beta"
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=min(offsets),
            end_offset=max(offsets),
            # m+6 beyond the last partition: the dataset is provisional, not an error.
            allow_nonexistent_upstream_partitions=True,
        )


def column_lineage(dataset: TrustDataset) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(
                    asset_key=dg.AssetKey(FEEDS_BY_NAME[share].asset_key_path),
                    column_name=feed_column,
                )
                for share, feed_column in deps
            ]
            for column, deps in dataset.lineage.items()
        }
    )


def trust_column_schema(dataset: TrustDataset) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, str(c.type), description=c.description)
            for c in dataset.column_specs
        ]
    )


def feed_inputs(dataset: TrustDataset) -> dict[str, dg.AssetIn]:
    """The feed pointers of the months the dataset reads, named as its SQL views."""
    return {
        VIEW_NAMES[share]: dg.AssetIn(
            key=FEEDS_BY_NAME[share].asset_key_path,
            partition_mapping=feed_partition_mapping(offsets),
        )
        for share, offsets in dataset.month_offsets.items()
    }


def build_trust_asset(dataset: TrustDataset) -> dg.AssetsDefinition:
    ins = feed_inputs(dataset)

    @dg.asset(
        key=["trust", dataset.name],
        description=dataset.description,
        group_name="trust",
        partitions_def=MONTHLY,
        ins=ins,
        owners=TRUST_OWNERS,
        kinds={"duckdb", "sql"},
        tags={"classification": TRUST_CLASSIFICATION},
        pool=WAREHOUSE_POOL,
        metadata={
            "dagster/column_schema": trust_column_schema(dataset),
            "dagster/column_lineage": column_lineage(dataset),
            "dagster/table_name": f"trust.{dataset.name}",
            "dimensions": ", ".join(dataset.dimensions),
        },
        automation_condition=trust_automation(dataset),
    )
    def trust_dataset(
        context: dg.AssetExecutionContext,
        shares: ShareStore,
        warehouse: DuckDBResource,
        **feeds: SharePointer | dict[str, SharePointer],
    ) -> dg.MaterializeResult:
        month = context.partition_key
        with pinned_connection(dataset, month, feeds, shares.storage_options()) as con:
            table = compute(con, dataset, month)
        write_month(warehouse, "trust", dataset.name, month, table)
        pinned = {view: _by_month(p) for view, p in feeds.items()}
        return dg.MaterializeResult(metadata=_result_metadata(dataset, month, table, pinned))

    return trust_dataset


def trust_automation(dataset: TrustDataset) -> dg.AutomationCondition:
    other_months = [
        dg.AssetKey(FEEDS_BY_NAME[share].asset_key_path)
        for share, offsets in dataset.month_offsets.items()
        if 0 not in offsets
    ]
    return follow_upstream(dg.AssetSelection.assets(*other_months))


def _by_month(
    pointers: SharePointer | Mapping[str, SharePointer],
) -> Mapping[str, SharePointer]:
    return {pointers.month: pointers} if isinstance(pointers, SharePointer) else pointers


@contextmanager
def pinned_connection(
    dataset: TrustDataset,
    month: str,
    feeds: Mapping[str, SharePointer | Mapping[str, SharePointer]],
    storage_options: dict | None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with each feed's needed months registered, read in place at
    their pinned versions, under the view names the dataset SQL uses."""
    con = duckdb.connect()
    try:
        for share, offsets in dataset.month_offsets.items():
            view = VIEW_NAMES[share]
            months = {shift_month(month, o) for o in offsets}
            pinned = _by_month(feeds[view]) if view in feeds else {}
            pointers = [p for m, p in pinned.items() if m in months]
            con.register(view, _feed_dataset(share, pointers, storage_options))
        con.register(LAD_LOOKUP_VIEW, lad_table())
        yield con
    finally:
        con.close()


def _feed_dataset(
    share: str, pointers: list[SharePointer], storage_options: dict | None
) -> pds.Dataset:
    spec = FEEDS_BY_NAME[share]
    parts = [
        month_dataset(open_share(share, p.uri, p.version, storage_options), p.month)
        for p in sorted(pointers, key=lambda p: p.month)
    ]
    if not parts:  # e.g. m+6 not published yet: an empty feed of the right shape
        return pds.dataset(spec.schema.empty_table())
    return pds.dataset(parts) if len(parts) > 1 else parts[0]


def write_month(
    warehouse: DuckDBResource, schema: str, name: str, month: str, table: pa.Table
) -> None:
    """Replace one month of `schema.name` in the warehouse, atomically."""
    with warehouse.get_connection() as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.register("month_rows", table)
        con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{name} AS FROM month_rows LIMIT 0")
        con.execute("BEGIN TRANSACTION")
        con.execute(f"DELETE FROM {schema}.{name} WHERE month = ?", [month])
        con.execute(f"INSERT INTO {schema}.{name} BY NAME FROM month_rows")
        con.execute("COMMIT")
        con.unregister("month_rows")


def _result_metadata(
    dataset: TrustDataset,
    month: str,
    table: pa.Table,
    pinned: Mapping[str, Mapping[str, SharePointer]],
) -> dict[str, object]:
    sources = {
        f"{p.share}@{m}": p.version for view in pinned.values() for m, p in sorted(view.items())
    }
    metadata: dict[str, object] = {
        "dagster/row_count": table.num_rows,
        "month": month,
        "source_versions": dg.MetadataValue.json(sources),
        "dagster/table_name": f"trust.{dataset.name}",
    }
    if "provisional" in table.column_names:
        metadata["provisional"] = bool(pa.compute.any(table["provisional"]).as_py())
    return metadata


def build_trust_assets(datasets: Mapping[str, TrustDataset]) -> list[dg.AssetsDefinition]:
    return [build_trust_asset(d) for d in datasets.values()]
