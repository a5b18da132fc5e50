"""Small Delta shares for tests, published the way a department does (overwrite a month)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from labour_trust.shares import s3
from labour_trust.shares.storage import S3Settings

MONTHS = tuple(f"2024-{m:02d}" for m in range(1, 13))


def month_table(month: str, rows: int = 4, seed: int = 0, **extra: list[Any]) -> pa.Table:
    columns: dict[str, Any] = {
        "person_token": [f"{seed:04d}{i:060d}" for i in range(rows)],
        "month": [month] * rows,
        "amount": [float(seed + i) for i in range(rows)],
    }
    columns.update(extra)
    return pa.table(columns)


def publish(
    uri: str,
    month: str,
    settings: S3Settings | None = None,
    rows: int = 4,
    seed: int = 0,
) -> None:
    """Publish (or re-publish) one month: one Delta commit replacing that month only."""
    write_deltalake(
        uri,
        month_table(month, rows, seed),
        mode="overwrite",
        predicate=f"month = '{month}'",
        partition_by=["month"],
        storage_options=settings.delta_storage_options() if settings else None,
    )


def publish_year(
    uri: str, settings: S3Settings | None = None, months: tuple[str, ...] = MONTHS
) -> None:
    for month in months:
        publish(uri, month, settings)


def commit_name(version: int) -> str:
    return f"{version:020d}.json"


def read_commit(uri: str, version: int, settings: S3Settings | None = None) -> list[dict]:
    if uri.startswith("s3://"):
        bucket, prefix = s3.split_s3_uri(uri)
        client = s3.client_for(settings)
        data = s3.get_small_object(client, bucket, f"{prefix}/_delta_log/{commit_name(version)}")
        assert data is not None
    else:
        data = (Path(uri) / "_delta_log" / commit_name(version)).read_bytes()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def added_files(uri: str, version: int, settings: S3Settings | None = None) -> list[str]:
    return [a["add"]["path"] for a in read_commit(uri, version, settings) if "add" in a]
