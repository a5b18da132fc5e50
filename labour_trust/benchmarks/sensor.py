"""Benchmark: a sensor tick costs O(new commits), whatever the size of the share.

For each table size, builds a share with `commits` commits of history (each appends
`rows_per_commit` rows to one month, so sizes differ by rows, not by commits), reads it
once to get a cursor, publishes one more month, and times:

- `read_ms`: `read_changes` after the cursor (LIST + 1 GET + 1 HEAD on S3),
- `tick_ms`: the same through the Dagster sensor (build_sensor_context + invocation),
- `idle_ms`: a tick with no new commit,
- `full_read_ms`: the first read without a cursor (checkpoint + commits after it).

Target: tick ≤ 200 ms, and no growth from the small table to the 10× larger one.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from labour_trust.defs.sensors import SensorCursor, build_share_sensor
from labour_trust.demo.s3 import settings_for
from labour_trust.feeds.spec import FeedSpec
from labour_trust.shares import s3
from labour_trust.shares.commit_log import ShareCursor, read_changes
from labour_trust.shares.storage import S3Settings

TARGET_TICK_MS = 200.0
_MONTHS = tuple(f"2024-{m:02d}" for m in range(1, 13))
_SPEC = FeedSpec(
    department="bench",
    table="share",
    description="sensor benchmark share",
    schema=pa.schema([("person_token", pa.string()), ("month", pa.string())]),
    key_columns=("person_token",),
    owners=("team:bench",),
    rows_per_month=0,
)


@dataclass(frozen=True)
class TickBench:
    storage: str
    commits: int
    rows_per_commit: int
    table_rows: int
    table_bytes: int
    build_s: float
    full_read_ms: float
    read_ms: float
    tick_ms: float
    idle_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows(month: str, n: int, rng: np.random.Generator) -> pa.Table:
    tokens = rng.integers(0, 2**63, size=n, dtype=np.int64)
    return pa.table(
        {
            "person_token": pa.array([f"{t:064x}" for t in tokens]),
            "month": pa.array([month] * n),
            "amount": pa.array(rng.gamma(2.0, 900.0, size=n)),
        }
    )


def _build(uri: str, commits: int, rows: int, options: dict[str, str] | None) -> None:
    rng = np.random.default_rng(commits * 7919 + rows)
    for i in range(commits):
        month = _MONTHS[i % len(_MONTHS)]
        write_deltalake(
            uri,
            _rows(month, rows, rng),
            mode="append",
            partition_by=["month"],
            storage_options=options,
        )


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm: imports, client, page cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def _sensor_tick_ms(
    uri: str, settings: S3Settings | None, cursor: ShareCursor, repeats: int
) -> float:
    from labour_trust.defs.partitions import MONTHLY

    sensor = build_share_sensor(_SPEC, None, (uri, settings), partitions_def=MONTHLY)
    instance = dg.DagsterInstance.ephemeral()
    text = SensorCursor(share=cursor).to_json()

    def tick() -> None:
        result = sensor(dg.build_sensor_context(cursor=text, instance=instance))
        assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1

    return _median_ms(tick, repeats)


def bench_one(
    uri: str, commits: int, rows: int, settings: S3Settings | None = None, repeats: int = 7
) -> TickBench:
    options = settings.delta_storage_options() if settings else None
    t0 = time.perf_counter()
    _build(uri, commits, rows, options)
    build_s = time.perf_counter() - t0

    full_ms = _median_ms(lambda: read_changes(uri, None, settings), max(1, repeats // 3))
    cursor = read_changes(uri, None, settings).cursor
    rng = np.random.default_rng(1)
    write_deltalake(
        uri,
        _rows("2024-05", rows, rng),
        mode="overwrite",
        predicate="month = '2024-05'",
        partition_by=["month"],
        storage_options=options,
    )
    changes = read_changes(uri, cursor, settings)
    assert changes.months == {"2024-05"} and changes.commits_read == 1, changes
    read_ms = _median_ms(lambda: read_changes(uri, cursor, settings), repeats)
    idle_ms = _median_ms(lambda: read_changes(uri, changes.cursor, settings), repeats)
    tick_ms = _sensor_tick_ms(uri, settings, cursor, repeats)

    files = DeltaTable(uri, storage_options=options).get_add_actions(flatten=True)
    table = pa.table(files)
    return TickBench(
        storage="s3" if uri.startswith("s3://") else "local",
        commits=commits,
        rows_per_commit=rows,
        table_rows=int(pa.compute.sum(table["num_records"]).as_py()),
        table_bytes=int(pa.compute.sum(table["size_bytes"]).as_py()),
        build_s=round(build_s, 1),
        full_read_ms=full_ms,
        read_ms=read_ms,
        tick_ms=tick_ms,
        idle_ms=idle_ms,
    )


def bench_sensor_tick(
    root: str | Path | None = None,
    commits: int = 1000,
    rows_per_commit: Sequence[int] = (100, 1000),
    s3_endpoint: str | None = None,
    repeats: int = 7,
) -> list[TickBench]:
    """Tick times for shares of `commits` commits at each size, in a local folder (and on
    S3 at `s3_endpoint`, e.g. a `MotoServer().endpoint`, when given)."""
    results = []
    workdir = Path(root) if root else Path(tempfile.mkdtemp(prefix="labour-trust-bench-"))
    try:
        for rows in rows_per_commit:
            uri = str(workdir / f"share-{commits}x{rows}")
            results.append(bench_one(uri, commits, rows, None, repeats))
        if s3_endpoint:
            settings = settings_for(s3_endpoint)
            bucket = f"bench-{uuid.uuid4().hex[:10]}"
            s3.ensure_bucket(s3.client_for(settings), bucket, settings.region)
            for rows in rows_per_commit:
                uri = f"s3://{bucket}/share-{commits}x{rows}"
                results.append(bench_one(uri, commits, rows, settings, repeats))
    finally:
        if root is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def format_bench(results: Sequence[TickBench]) -> str:
    header = (
        f"{'storage':<8}{'commits':>8}{'rows/commit':>12}{'table rows':>12}"
        f"{'MB':>8}{'full ms':>9}{'read ms':>9}{'tick ms':>9}{'idle ms':>9}"
    )
    lines = [header]
    for r in results:
        lines.append(
            f"{r.storage:<8}{r.commits:>8}{r.rows_per_commit:>12}{r.table_rows:>12}"
            f"{r.table_bytes / 1e6:>8.1f}{r.full_read_ms:>9.1f}{r.read_ms:>9.1f}"
            f"{r.tick_ms:>9.1f}{r.idle_ms:>9.1f}"
        )
    worst = max((r.tick_ms for r in results), default=0.0)
    verdict = "OK" if worst <= TARGET_TICK_MS else "OVER TARGET"
    lines.append(f"worst tick {worst:.1f} ms (target <= {TARGET_TICK_MS:.0f} ms): {verdict}")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m labour_trust.benchmarks.sensor
    print(format_bench(bench_sensor_tick()))
