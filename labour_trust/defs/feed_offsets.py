"""Feed months an asset reads relative to its own month, as dependencies Dagster can plan.

An asset of month m reads each feed at some offsets: a look-back window (m-12 … m), outcome
horizons (m+3, m+6, m+12). Dagster's time-window partition mappings are contiguous (and the
daemon plans with built-in mappings only), so one mapping over (3, 6, 12) would make month m
depend on every feed month from m+3 to m+12: a correction to m+4 would re-run it though
nothing reads m+4. So an asset reads one contiguous run of offsets directly (the run holding
m, else the first), and every other offset k through `<feed>/m_plus_<k>`: a tiny asset of
month m holding the pointer of feed month m+k (never data), shared by every reader. A
correction then re-runs exactly the months that read the corrected month.
"""

import warnings
from collections.abc import Iterable, Mapping

import dagster as dg

from labour_trust.defs.automation import follow_upstream
from labour_trust.defs.feeds import FEED_CLASSIFICATION, column_schema
from labour_trust.defs.partitions import MONTHLY
from labour_trust.feeds.departments import FEEDS_BY_NAME
from labour_trust.months import shift_month
from labour_trust.shares.pinned import SharePointer

# What an asset reads: feed share name → the month offsets it reads, e.g.
# {"hmrc/paye_rti": (3, 6)}.
FeedReads = Mapping[str, tuple[int, ...]]
# A loaded feed input: one month's pointer (None: never checked) or pointers by month.
Pointers = SharePointer | Mapping[str, SharePointer] | None


def by_month(pointers: SharePointer | Mapping[str, SharePointer]) -> Mapping[str, SharePointer]:
    """A loaded input (one month's pointer, or pointers by month) as pointers by month."""
    return {pointers.month: pointers} if isinstance(pointers, SharePointer) else pointers


def feed_partition_mapping(offsets: tuple[int, ...]) -> dg.PartitionMapping:
    """Month m reads feed months m+min(offsets) … m+max(offsets)."""
    if offsets == (0,):
        return dg.IdentityPartitionMapping()
    with warnings.catch_warnings():  # allow_nonexistent_upstream_partitions is "beta"
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=min(offsets),
            end_offset=max(offsets),
            # m+6 beyond the last partition: the reader is provisional, not an error.
            allow_nonexistent_upstream_partitions=True,
        )


def direct_offsets(offsets: Iterable[int]) -> tuple[int, ...]:
    """The contiguous run of offsets read through one mapping: the run holding 0, else the
    first."""
    runs: list[list[int]] = []
    for o in sorted(set(offsets)):
        if runs and o == runs[-1][-1] + 1:
            runs[-1].append(o)
        else:
            runs.append([o])
    return tuple(next((r for r in runs if 0 in r), runs[0]))


def distant_offsets(offsets: Iterable[int]) -> tuple[int, ...]:
    """The offsets read through `<feed>/m_plus_<k>` assets."""
    return tuple(sorted(set(offsets) - set(direct_offsets(offsets))))


def _suffix(offset: int) -> str:
    return f"m_plus_{offset}" if offset > 0 else f"m_minus_{-offset}"


def offset_key(share: str, offset: int) -> dg.AssetKey:
    return dg.AssetKey([*FEEDS_BY_NAME[share].asset_key_path, _suffix(offset)])


def _offset_input(share: str, offset: int) -> str:
    return f"{FEEDS_BY_NAME[share].table}_{_suffix(offset)}"


def feed_inputs(reads: FeedReads) -> dict[str, dg.AssetIn]:
    """The asset's inputs: each feed's direct run under the feed's table name (the SQL view
    name), and one input per distant offset."""
    ins = {}
    for share, offsets in reads.items():
        feed = FEEDS_BY_NAME[share]
        ins[feed.table] = dg.AssetIn(
            key=feed.asset_key_path,
            partition_mapping=feed_partition_mapping(direct_offsets(offsets)),
        )
        for k in distant_offsets(offsets):
            ins[_offset_input(share, k)] = dg.AssetIn(key=offset_key(share, k))
    return ins


def gather(inputs: Mapping[str, Pointers], reads: FeedReads) -> dict[str, Pointers]:
    """The loaded inputs by feed table: each direct input with its distant months added
    (a distant month not published yet adds nothing). A same-month input never checked
    stays None, so the reader can say so."""
    out: dict[str, Pointers] = {}
    for share, offsets in reads.items():
        table = FEEDS_BY_NAME[share].table
        direct = inputs[table]
        distant = [inputs[_offset_input(share, k)] for k in distant_offsets(offsets)]
        distant = [p for p in distant if p is not None]
        if direct is None or not distant:
            out[table] = direct
            continue
        out[table] = {**by_month(direct), **{p.month: p for p in distant}}
    return out


def build_offset_asset(
    share: str, offset: int, month_needs: frozenset[str] = frozenset()
) -> dg.AssetsDefinition:
    """`<feed>/m_plus_<offset>`, computed for a month once the feeds ``month_needs`` (share
    names: what its readers all need at their own month) have it; its own feed by default."""
    feed = FEEDS_BY_NAME[share]
    key = offset_key(share, offset)
    needs = month_needs or frozenset({share})

    @dg.asset(
        key=key,
        description=(
            f"The checked {share} month {_suffix(offset).replace('_', ' ')} as read from "
            f"month m: its pinned version, never data. Readers of month m depend on it "
            f"instead of on every {share} month between, so a correction re-runs exactly "
            "the months that read it."
        ),
        group_name=feed.department,
        partitions_def=MONTHLY,
        # The feed's own catalogue entry: readers see the feed month's columns through it.
        owners=list(feed.owners),
        tags={"classification": FEED_CLASSIFICATION, "department": feed.department},
        metadata={"dagster/column_schema": column_schema(feed), "share": share},
        ins={
            "pointers": dg.AssetIn(
                key=feed.asset_key_path, partition_mapping=feed_partition_mapping((offset,))
            )
        },
        io_manager_key="pointer_io_manager",
        kinds={"delta"},
        # Computed with its readers, in their run; a month whose m+k is not published yet
        # holds "absent" until it is.
        automation_condition=follow_upstream(
            other_months=[dg.AssetKey(feed.asset_key_path)],
            month_of=[dg.AssetKey(FEEDS_BY_NAME[s].asset_key_path) for s in needs],
        ),
    )
    def feed_at_offset(
        context: dg.AssetExecutionContext, pointers: Mapping[str, SharePointer]
    ) -> dg.Output:
        target = shift_month(context.partition_key, offset)
        pointer = pointers.get(target)
        metadata: dict[str, object] = {
            "share": share,
            "month": target,
            "published": pointer is not None,
        }
        if pointer is not None:
            metadata |= {"pinned_version": pointer.version, "content_hash": pointer.content_hash}
        with warnings.catch_warnings():  # data_version is beta, stable in the pinned Dagster
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.Output(
                pointer,
                metadata=metadata,
                # The feed month's own version: re-checking unchanged data re-runs nothing.
                data_version=dg.DataVersion(pointer.content_hash if pointer else "absent"),
            )

    return feed_at_offset


def build_offset_assets(reads: Iterable[FeedReads]) -> list[dg.AssetsDefinition]:
    """One `<feed>/m_plus_<k>` asset per distant offset any reader needs."""
    needs: dict[tuple[str, int], frozenset[str]] = {}
    for r in reads:
        same_month = frozenset(s for s, offsets in r.items() if 0 in offsets)
        for share, offsets in r.items():
            for k in distant_offsets(offsets):
                needs[share, k] = needs.get((share, k), same_month) & same_month
    return [build_offset_asset(share, k, needs[share, k]) for share, k in sorted(needs)]
