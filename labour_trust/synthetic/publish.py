"""Publishing months the way a department does: Delta overwrites of one month partition.

Each publication is one atomic Delta commit that replaces only the ``month`` partition
it names (``mode="overwrite"`` with a ``predicate``), so the commit's add/remove actions
touch that month alone and readers pinned to older versions are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake

from labour_trust.feeds.departments import FEEDS
from labour_trust.feeds.spec import FeedSpec
from labour_trust.shares.storage import share_uri, storage_options_for
from labour_trust.synthetic.feeds import generate_month
from labour_trust.synthetic.months import month_index
from labour_trust.trust.linkage import LinkageKey

# Tokens are random hex: zstd halves them where snappy cannot.
WRITER_PROPERTIES = WriterProperties(compression="ZSTD", compression_level=1)


def publish_month(
    spec: FeedSpec,
    month: str,
    uri: str,
    *,
    scale: float,
    seed: int,
    key: LinkageKey,
    revision: int = 0,
    storage_options: dict[str, str] | None = None,
) -> int:
    """Generate one month of ``spec`` and commit it to the share at ``uri``; returns the
    new Delta version. Re-publishing a month replaces that month only."""
    month_index(month)  # validates the label before it goes into a predicate
    options = storage_options if storage_options is not None else storage_options_for(uri)
    batches = generate_month(spec, month, scale=scale, seed=seed, key=key, revision=revision)
    exists = DeltaTable.is_deltatable(uri, storage_options=options)
    write_deltalake(
        uri,
        pa.RecordBatchReader.from_batches(spec.schema, batches),
        mode="overwrite",
        predicate=f"month = '{month}'",
        partition_by=["month"],
        storage_options=options,
        writer_properties=WRITER_PROPERTIES,
        commit_properties=CommitProperties(
            custom_metadata={
                "labour_trust.publisher": spec.department,
                "labour_trust.month": month,
                "labour_trust.revision": str(revision),
                "labour_trust.key_version": key.version,
            }
        ),
        # Table name and description go in the first commit only, so that later commits
        # carry no metadata action and read as pure data changes.
        **({} if exists else {"name": spec.name, "description": spec.description}),
    )
    return DeltaTable(uri, storage_options=options).version()


def seed_shares(
    root: str,
    months: Iterable[str],
    *,
    scale: float,
    seed: int,
    key: LinkageKey,
    feeds: Iterable[FeedSpec] = FEEDS,
    storage_options: dict[str, str] | None = None,
) -> dict[str, int]:
    """Publish revision 0 of every month of every feed under ``root``; returns each share's
    latest version."""
    months = list(months)
    versions: dict[str, int] = {}
    for spec in feeds:
        uri = share_uri(root, spec.department, spec.table)
        for month in months:
            versions[spec.name] = publish_month(
                spec, month, uri, scale=scale, seed=seed, key=key, storage_options=storage_options
            )
    return versions


def republish_month(
    root: str,
    spec: FeedSpec,
    month: str,
    *,
    scale: float,
    seed: int,
    key: LinkageKey,
    revision: int,
    storage_options: dict[str, str] | None = None,
) -> int:
    """A department's correction of one month: revision ≥ 1 changes a few percent of rows.
    Returns the new Delta version."""
    if revision < 1:
        raise ValueError(f"A correction has revision >= 1, not {revision}")
    uri = share_uri(root, spec.department, spec.table)
    return publish_month(
        spec,
        month,
        uri,
        scale=scale,
        seed=seed,
        key=key,
        revision=revision,
        storage_options=storage_options,
    )
