"""`labour-trust bench --latency`: how long a department's correction takes to reach the
published tables in the running daemon.

Seeds a small home, starts `labour-trust up`, waits until every month is materialised, then
republishes one month of PAYE (`labour-trust republish`) and polls the instance until every
published table of that month has been materialised after the correction's Delta commit.
Reports each table's seconds from the commit, the compute (the wall time of the runs the
correction caused) and the rest — sensor and automation intervals, queueing, run start-up —
against the target: compute + 60 s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

from labour_trust.benchmarks.demo import bench_env, running_up, wait_until_settled
from labour_trust.months import last_complete_months, month_range

LATENCY_SLACK_SECONDS = 60.0  # beyond compute: sensor, automation, queue, run start-up
POLL_SECONDS = 2.0
CORRECTED_FEED = "hmrc/paye_rti"


def run_latency_bench(
    scale: float = 0.002, months: int = 3, workdir: Path | None = None, timeout: float = 1200.0
) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="latency-bench-", dir=workdir))
    home = base / "home"
    # The last complete months, as the demo: partitions run to the last complete month.
    span = last_complete_months(months)
    corrected = month_range(span)[months // 2]
    _cli(home, "seed", "--scale", str(scale), "--months", span)
    with running_up(home, base / "up.log", timeout):
        settled, summary = wait_until_settled(home, timeout)
        if not settled:
            raise RuntimeError(f"the home did not settle before the correction:\n{summary}")
        _cli(home, "republish", CORRECTED_FEED, corrected)
        result = _wait_for_publication(home, corrected, timeout)
    print(format_latency(result))
    shutil.rmtree(base, ignore_errors=True)
    return result


def _cli(home: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "labour_trust.cli", "--home", str(home), *args],
        check=True,
        capture_output=True,
        env=bench_env(home),
    )


def _wait_for_publication(home: Path, month: str, timeout: float) -> dict[str, object]:
    """Seconds from the correction's Delta commit to each published table's month, read
    from the instance in a child (it needs the home's own partitions)."""
    watch = subprocess.run(
        [sys.executable, "-m", "labour_trust.benchmarks.latency", str(home), month, str(timeout)],
        capture_output=True,
        text=True,
        env=bench_env(home),
    )
    if watch.returncode:
        raise RuntimeError(f"latency watcher failed:\n{watch.stderr[-3000:]}")
    return json.loads(watch.stdout.strip().splitlines()[-1])


def _watch(home: Path, month: str, timeout: float) -> dict[str, object]:
    import dagster as dg
    from deltalake import DeltaTable

    from labour_trust.defs.published import published_key
    from labour_trust.defs.resources import ShareStore, shares_root
    from labour_trust.feeds.departments import FEEDS_BY_NAME
    from labour_trust.publishing.tables import PUBLISHED

    share = ShareStore(root=shares_root(home))
    spec = FEEDS_BY_NAME[CORRECTED_FEED]
    history = DeltaTable(share.uri(spec), storage_options=share.storage_options()).history(1)
    committed = history[0]["timestamp"] / 1000  # the correction's commit (ms since epoch)
    instance = dg.DagsterInstance.get()
    seconds: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seconds) < len(PUBLISHED) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        for name in PUBLISHED:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=published_key(name),
                    asset_partitions=[month],
                    after_timestamp=committed,
                ),
                limit=1,
            ).records
            if records and name not in seconds:
                seconds[name] = round(records[0].timestamp - committed, 1)
    until = committed + max(seconds.values(), default=0.0)
    runs = [
        (r.start_time, min(r.end_time or until, until))
        for r in instance.get_run_records(dg.RunsFilter(created_after=_utc(committed)))
        if r.start_time and r.start_time < until
    ]
    return {
        "month": month,
        "seconds": seconds,
        "complete": len(seconds) == len(PUBLISHED),
        "compute_seconds": round(busy_seconds(runs), 1),
        "runs": len(runs),
    }


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds during which at least one of the spans was running (overlaps once)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def _utc(timestamp: float):
    from datetime import datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


def format_latency(result: dict[str, object]) -> str:
    seconds: dict[str, float] = result["seconds"]  # type: ignore[assignment]
    compute = float(result["compute_seconds"])  # type: ignore[arg-type]
    lines = [f"bench --latency: a correction of {CORRECTED_FEED} {result['month']}"]
    lines += [f"  {name:<22} published {s:7.1f} s after the commit" for name, s in seconds.items()]
    latest = max(seconds.values(), default=float("nan"))
    waiting = latest - compute
    target = compute + LATENCY_SLACK_SECONDS
    verdict = "ok" if result["complete"] and latest <= target else "MISSES the target"
    lines += [
        f"  compute (time any of the {result['runs']} runs it caused ran) {compute:7.1f} s",
        f"  the rest (sensor, automation, queue, start-up)   {waiting:7.1f} s",
        f"  latest table {latest:.1f} s (target compute + {LATENCY_SLACK_SECONDS:.0f} s = "
        f"{target:.1f} s): {verdict}",
        f"latency month={result['month']} seconds={latest:.1f} compute={compute:.1f} "
        f"waiting={waiting:.1f}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(_watch(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]))))
