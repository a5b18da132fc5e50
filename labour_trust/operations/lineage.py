"""`labour-trust lineage`: where a published or trust number comes from, for one month.

published column ← trust column ← feed columns ← the share's URI at the Delta version the
trust month pinned (its materialisation's `source_versions`), from the same declarations
as `dagster/column_lineage` (`TrustDataset.lineage`), which the open-source UI does not draw.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from labour_trust.defs.published import published_columns
from labour_trust.defs.resources import ShareStore
from labour_trust.feeds.departments import FEEDS_BY_NAME
from labour_trust.publishing.tables import PUBLISHED
from labour_trust.trust.datasets import TRUST_DATASETS


class LineageError(ValueError):
    """An asset, column or month the lineage cannot be given for (the message says why)."""


def lineage(
    instance: dg.DagsterInstance,
    shares: ShareStore,
    asset: str,
    column: str | None = None,
    month: str | None = None,
) -> dict[str, Any]:
    """The chain for `asset` (`published/NAME`, `trust/NAME` or `NAME`: published), one
    column or all, in `month` (default: the newest month the trust dataset has)."""
    layer, name = _parse(asset)
    trust_key = dg.AssetKey(["trust", name])
    month = month or _newest_month(instance, trust_key)
    trust = _latest_metadata(instance, trust_key, month)
    pinned: dict[str, dict[str, int]] = {}
    for source, version in trust["source_versions"].value.items():
        share, source_month = source.split("@")
        pinned.setdefault(share, {})[source_month] = int(version)
    columns = _columns(layer, name)
    if column is not None:
        if column not in columns:
            raise LineageError(f"{layer}/{name} has no column {column!r}; it has: {columns}")
        columns = [column]
    out: dict[str, Any] = {"asset": f"{layer}/{name}", "month": month}
    if layer == "published":
        published = _latest_metadata(instance, dg.AssetKey(["published", name]), month)
        out["publication"] = {
            k: published[k].value for k in ("delta_version", "csv") if k in published
        }
    out["columns"] = [_column(layer, name, c, pinned, shares) for c in columns]
    return out


def format_lineage(chain: dict[str, Any]) -> str:
    """The chain as indented lines, one arrow per hop."""
    head = f"{chain['asset']}, month {chain['month']}"
    if "delta_version" in chain.get("publication", {}):
        head += f" (published Delta version {chain['publication']['delta_version']})"
    lines = [head]
    for c in chain["columns"]:
        lines.append(f"  {c['column']}")
        if c.get("trust_column"):
            lines.append(f"    ← {c['trust_column']}")
        for feed in c["feeds"]:
            versions = ", ".join(f"{m} @ version {v}" for m, v in sorted(feed["pinned"].items()))
            lines.append(
                f"    ← {feed['share']}.{', '.join(feed['columns'])}  ({feed['uri']}: {versions})"
            )
        if not c["feeds"]:
            lines.append("    ← no feed column (set by the trust, e.g. a label or a flag)")
    return "\n".join(lines)


def _parse(asset: str) -> tuple[str, str]:
    layer, _, name = asset.rpartition("/")
    layer = layer or "published"
    names = PUBLISHED if layer == "published" else TRUST_DATASETS if layer == "trust" else {}
    if name not in names:
        known = [f"{lay}/{n}" for lay in ("published", "trust") for n in sorted(TRUST_DATASETS)]
        raise LineageError(f"unknown asset {asset!r}; lineage is given for: {', '.join(known)}")
    return layer, name


def _columns(layer: str, name: str) -> list[str]:
    if layer == "published":
        return published_columns(PUBLISHED[name])
    return [c.name for c in TRUST_DATASETS[name].column_specs]


def _newest_month(instance: dg.DagsterInstance, key: dg.AssetKey) -> str:
    months = instance.get_materialized_partitions(key)
    if not months:
        raise LineageError(f"{key.to_user_string()} has no materialised month yet")
    return max(months)


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, month: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
    ).records
    if not records:
        raise LineageError(f"{key.to_user_string()} month {month} has not been materialised")
    return dict(records[0].asset_materialization.metadata)


def _column(
    layer: str, name: str, column: str, pinned: dict[str, dict[str, int]], shares: ShareStore
) -> dict[str, Any]:
    by_share: dict[str, list[str]] = {}
    for share, feed_column in TRUST_DATASETS[name].lineage.get(column, []):
        by_share.setdefault(share, []).append(feed_column)
    return {
        "column": column,
        "trust_column": f"trust/{name}.{column}" if layer == "published" else None,
        "feeds": [
            {
                "share": share,
                "columns": sorted(columns),
                "uri": shares.uri(FEEDS_BY_NAME[share]),
                "pinned": pinned.get(share, {}),
            }
            for share, columns in sorted(by_share.items())
        ],
    }
