"""Trust datasets as Dagster assets: DuckDB SQL over Arrow scans of the pinned feed versions.

Each dataset reads the feed months its SQL needs (look-ahead and look-back are partition
mappings), computes in an in-memory DuckDB over the shares read in place, then replaces its
month of the Delta table `tables/trust/<name>` in the store (`TrustTables`). Writers of one
table queue for the write only, so months compute in parallel. The same step summarises the
contributors behind its magnitudes (`tables/contributors/<name>`, trust/contributors.py):
the publication step applies the dominance rules to them without reading a feed.
"""

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.dataset as pds

from labour_trust.defs.automation import follow_upstream
from labour_trust.defs.feed_offsets import by_month, feed_inputs, gather
from labour_trust.defs.partitions import MONTHLY
from labour_trust.defs.resources import ShareStore, TrustStages, TrustTables
from labour_trust.feeds.departments import FEEDS_BY_NAME
from labour_trust.feeds.linkage_check import linkage_key_conflict
from labour_trust.feeds.scan import bounded_connection, register_feed
from labour_trust.months import shift_month
from labour_trust.reference import lad_table
from labour_trust.shares.pinned import SharePointer, month_fingerprints, open_share
from labour_trust.trust.contributors import summarise
from labour_trust.trust.datasets import LAD_LOOKUP_VIEW, VIEW_NAMES, compute
from labour_trust.trust.spec import TrustDataset
from labour_trust.trust.stages import STAGE_FEEDS, materialise_stages, stage_key

TRUST_CLASSIFICATION = "OFFICIAL-SENSITIVE"
TRUST_OWNERS = ["team:labour-trust"]


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


def lineage_markdown(
    dataset: TrustDataset, versions: Mapping[str, Mapping[str, int]] | None = None
) -> str:
    """ "column ← feed columns" as a markdown table a steward can read in the open-source UI
    (which does not draw `dagster/column_lineage`); with `versions` (share → month → pinned
    Delta version), each feed also names the versions this month read."""
    lines = ["| column | from feed columns |", "|---|---|"]
    for column, deps in dataset.lineage.items():
        sources = ", ".join(f"{share}.{feed_column}" for share, feed_column in deps)
        lines.append(f"| {column} | {sources} |")
    if versions:
        lines += ["", "| share | month | pinned Delta version |", "|---|---|---|"]
        for share, months in sorted(versions.items()):
            lines += [f"| {share} | {m} | {v} |" for m, v in sorted(months.items())]
    return "\n".join(lines)


def trust_column_schema(dataset: TrustDataset) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, str(c.type), description=c.description)
            for c in dataset.column_specs
        ]
    )


def build_trust_asset(
    dataset: TrustDataset, stage_peers: frozenset[str] = frozenset()
) -> dg.AssetsDefinition:
    ins = feed_inputs(dataset.month_offsets)

    @dg.asset(
        key=["trust", dataset.name],
        # Lineage in the description too: the UI shows it on the asset page (see published).
        description=f"{dataset.description}\n\n**Lineage**\n\n{lineage_markdown(dataset)}",
        group_name="trust",
        partitions_def=MONTHLY,
        ins=ins,
        owners=TRUST_OWNERS,
        kinds={"duckdb", "sql", "delta"},
        tags={"classification": TRUST_CLASSIFICATION},
        metadata={
            "dagster/column_schema": trust_column_schema(dataset),
            "dagster/column_lineage": column_lineage(dataset),
            "lineage": dg.MetadataValue.md(lineage_markdown(dataset)),
            "dagster/table_name": f"trust.{dataset.name}",
            "dimensions": ", ".join(dataset.dimensions),
        },
        automation_condition=trust_automation(dataset),
        code_version=code_version(dataset),
        # A month a department has not published yet is skipped, not failed (see below).
        output_required=False,
    )
    def trust_dataset(
        context: dg.AssetExecutionContext,
        shares: ShareStore,
        trust_tables: TrustTables,
        trust_stages: TrustStages,
        **feeds: SharePointer | dict[str, SharePointer],
    ) -> Iterator[dg.MaterializeResult]:
        month = context.partition_key
        feeds = gather(feeds, dataset.month_offsets)
        if unchecked := [view for view, p in feeds.items() if p is None]:
            yield from _skip_unpublished(context, dataset, shares, unchecked)
            return
        pinned = {view: by_month(p) for view, p in feeds.items()}
        conflict = linkage_key_conflict(
            [p for months in pinned.values() for p in months.values()], linked_as=month
        )
        if conflict:  # tokens of two keys never match: linking them would lose everyone
            raise dg.Failure(description=f"trust/{dataset.name} {conflict}")
        database = _stage_database(context, dataset, pinned, trust_stages, stage_peers)
        try:
            with pinned_connection(
                dataset, month, feeds, shares.storage_options(), database
            ) as con:
                # Stages as tables: computed once for the summary, the dataset and the run's
                # other datasets, and of known size to the planner (a rare-row stage then
                # builds the hash join, not 30 M jobs).
                stages = materialise_stages(con, dataset.stages, month)
                summary = summarise(con, dataset, month, stages)
                table = compute(con, dataset, month, stages)
        finally:
            if database is not None:
                trust_stages.shared.done(dataset.name)
        # The summary first: a trust month is never newer than its contributors.
        if summary is not None:
            trust_tables.write_month("contributors", dataset.name, month, summary)
        version = trust_tables.write_month("trust", dataset.name, month, table)
        metadata = _result_metadata(dataset, month, table, pinned)
        metadata["delta_uri"] = dg.MetadataValue.path(trust_tables.uri("trust", dataset.name))
        yield dg.MaterializeResult(metadata={**metadata, "delta_version": version})

    return trust_dataset


def _stage_database(
    context: dg.AssetExecutionContext,
    dataset: TrustDataset,
    pinned: Mapping[str, Mapping[str, SharePointer]],
    trust_stages: TrustStages,
    peers: frozenset[str],
) -> duckdb.DuckDBPyConnection | None:
    """The run's database of stage tables for this month's pinned feeds (None: the dataset
    reads no stage), kept for the ``peers`` that run in the same run."""
    if not dataset.stages:
        return None
    month = context.partition_key
    versions = {
        f"{p.uri}@{p.month}": p.version
        for view in STAGE_FEEDS
        for p in pinned.get(view, {}).values()
        if p.month == month
    }
    selected = context.run.asset_selection
    readers = {p for p in peers if selected is None or dg.AssetKey(["trust", p]) in selected}
    return trust_stages.shared.database(stage_key(month, versions), readers)


def _skip_unpublished(
    context: dg.AssetExecutionContext,
    dataset: TrustDataset,
    shares: ShareStore,
    views: list[str],
) -> Iterator[dg.MaterializeResult]:
    """A same-month feed never checked: if its department has not published the month
    (a backfill's look-back reaching past the newest data), nothing is materialised and
    nothing fails; if it has, the month must be checked first — a clear failure."""
    month = context.partition_key
    by_view = {VIEW_NAMES[share]: FEEDS_BY_NAME[share] for share in dataset.month_offsets}
    published = [v for v in views if month in month_fingerprints(shares.open(by_view[v]))]
    if published:
        names = ", ".join(by_view[v].name for v in published)
        raise dg.Failure(
            f"trust/{dataset.name} {month}: {names} published {month} but it has not been "
            "checked yet: materialise the feed month first (or include it in the backfill)"
        )
    names = ", ".join(by_view[v].name for v in views)
    context.log.info(
        f"trust/{dataset.name} {month}: not published yet by {names}; skipped (a backfill "
        "lists this month as not completed until the department publishes it)"
    )
    yield from ()


def code_version(dataset: TrustDataset) -> str:
    """Changes when the dataset's SQL changes, so its months show as unsynced and rerun."""
    text = "\n".join([dataset.sql, *sorted(dataset.contributor_sql.values())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def trust_automation(dataset: TrustDataset) -> dg.AutomationCondition:
    other_months = [
        dg.AssetKey(FEEDS_BY_NAME[share].asset_key_path)
        for share, offsets in dataset.month_offsets.items()
        if 0 not in offsets
    ]
    return follow_upstream(other_months)


@contextmanager
def pinned_connection(
    dataset: TrustDataset,
    month: str,
    feeds: Mapping[str, SharePointer | Mapping[str, SharePointer]],
    storage_options: dict | None,
    database: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB (bounded, spilling; a cursor of ``database`` if given) with each
    feed's needed months registered, read in place at their pinned versions, under the view
    names the dataset SQL uses."""
    con = database.cursor() if database is not None else bounded_connection()
    try:
        for share, offsets in dataset.month_offsets.items():
            view = VIEW_NAMES[share]
            months = {shift_month(month, o) for o in offsets}
            pinned = by_month(feeds[view]) if view in feeds else {}
            pointers = [p for m, p in pinned.items() if m in months]
            register_feed(con, view, _feed_dataset(share, pointers, storage_options))
        con.register(LAD_LOOKUP_VIEW, lad_table())
        yield con
    finally:
        con.close()


def _feed_dataset(
    share: str, pointers: list[SharePointer], storage_options: dict | None
) -> pds.Dataset:
    """One dataset over the files of every pinned month (each at its own pinned version).

    Not a union of filtered datasets: pyarrow refuses to union filtered datasets, which is
    what a look-ahead input with two months present (m+3 and m+6) needs."""
    spec = FEEDS_BY_NAME[share]
    paths: list[str] = []
    partitions: list[pds.Expression] = []
    first: pds.FileSystemDataset | None = None
    for pointer in sorted(pointers, key=lambda p: p.month):
        dataset = open_share(share, pointer.uri, pointer.version, storage_options)
        dataset = dataset.to_pyarrow_dataset()
        first = first or dataset
        for fragment in dataset.get_fragments(filter=pds.field("month") == pointer.month):
            paths.append(fragment.path)
            partitions.append(fragment.partition_expression)
    if first is None or not paths:  # e.g. m+6 not published yet: an empty feed
        return pds.dataset(spec.schema.empty_table())
    return pds.FileSystemDataset.from_paths(
        paths,
        schema=first.schema,
        format=first.format,
        filesystem=first.filesystem,
        partitions=partitions,
    )


def _result_metadata(
    dataset: TrustDataset,
    month: str,
    table: pa.Table,
    pinned: Mapping[str, Mapping[str, SharePointer]],
) -> dict[str, object]:
    sources = {
        f"{p.share}@{m}": p.version for view in pinned.values() for m, p in sorted(view.items())
    }
    versions: dict[str, dict[str, int]] = {}
    for view in pinned.values():
        for m, p in view.items():
            versions.setdefault(p.share, {})[m] = p.version
    metadata: dict[str, object] = {
        "dagster/row_count": table.num_rows,
        "month": month,
        "source_versions": dg.MetadataValue.json(sources),
        "lineage": dg.MetadataValue.md(lineage_markdown(dataset, versions)),
        "dagster/table_name": f"trust.{dataset.name}",
    }
    if "provisional" in table.column_names:
        metadata["provisional"] = bool(pa.compute.any(table["provisional"]).as_py())
    return metadata


def build_trust_assets(datasets: Mapping[str, TrustDataset]) -> list[dg.AssetsDefinition]:
    return [build_trust_asset(d, _stage_peers(d, datasets)) for d in datasets.values()]


def _stage_peers(dataset: TrustDataset, datasets: Mapping[str, TrustDataset]) -> frozenset[str]:
    """The datasets reading a stage ``dataset`` reads (itself included)."""
    return frozenset(o.name for o in datasets.values() if set(o.stages) & set(dataset.stages))
