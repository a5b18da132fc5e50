"""`labour-trust bench --demo`: how long the demo takes to settle under the real daemon.

Starts `labour-trust up` on a fresh home (it seeds the demo: the last twelve complete months
at scale 0.01), waits for the UI, then polls the Dagster instance until every month of every
asset is materialised — or a month fails and nothing is left running. Reports both times.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEMO_TARGET_SECONDS = 300.0  # from the UI coming up to everything materialised, 2 cores
POLL_SECONDS = 5.0


def run_demo_bench(workdir: Path | None = None, timeout: float = 1800.0) -> dict[str, float]:
    base = Path(tempfile.mkdtemp(prefix="demo-bench-", dir=workdir))
    home = base / "home"
    started = time.perf_counter()
    with running_up(home, base / "up.log", timeout):
        ui_seconds = time.perf_counter() - started
        print(f"bench --demo: UI up after {ui_seconds:.1f} s (seeding included); home {home}")
        settled, summary = wait_until_settled(home, timeout)
        seconds = time.perf_counter() - started - ui_seconds
    print(summary)
    ratio = seconds / DEMO_TARGET_SECONDS
    verdict = "settled" if settled else "DID NOT SETTLE (a month failed or timed out)"
    print(
        f"demo {verdict}: {seconds:.1f} s from the UI coming up "
        f"(target {DEMO_TARGET_SECONDS:.0f} s: ratio {ratio:.2f})"
    )
    shutil.rmtree(base, ignore_errors=True)
    return {"ui_seconds": ui_seconds, "settle_seconds": seconds, "settled": float(settled)}


@contextmanager
def running_up(home: Path, log: Path, timeout: float) -> Iterator[None]:
    """`labour-trust up` on ``home`` until the block ends, from when its UI answers."""
    port = _free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "labour_trust.cli", "--home", str(home), "up", "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=bench_env(home),
    )
    # `up` runs in its own session: a SIGTERM to the bench must still stop it (below).
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        _wait_for_ui(port, up, timeout)
        yield
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(60)
        signal.signal(signal.SIGTERM, previous)


def bench_env(home: Path) -> dict[str, str]:
    """The environment of the bench's children: the bench's own home, and its Dagster
    instance inside it (a DAGSTER_HOME set around the bench would send `up` elsewhere)."""
    return {**os.environ, "LABOUR_TRUST_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_ui(port: int, up: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise RuntimeError(f"labour-trust up exited with {up.returncode} before the UI")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError("the Dagster UI did not come up")


def wait_until_settled(home: Path, timeout: float) -> tuple[bool, str]:
    """Watch the instance from one child process (it must load the home's own partitions);
    it prints the outcome when every month is materialised, a month failed with nothing left
    running, or time ran out."""
    watch = subprocess.run(
        [sys.executable, "-m", "labour_trust.benchmarks.demo", str(home), str(timeout)],
        capture_output=True,
        text=True,
        env=bench_env(home),
    )
    lines = watch.stdout.strip().splitlines() or ["timed out", watch.stderr[-2000:]]
    return lines[0] == "settled", "\n".join(lines[1:])


def _watch(home: Path, timeout: float) -> None:
    """Print 'settled', 'stuck' or 'timed out', then one line per asset. Polls cheaply (the
    partition status Dagster keeps), so the watcher does not compete with the runs."""
    import dagster as dg
    from dagster._core.storage.partition_status_cache import AssetPartitionStatus

    from labour_trust.definitions import build_definitions
    from labour_trust.defs.partitions import MONTHLY  # the home's own (LABOUR_TRUST_HOME is set)
    from labour_trust.operations.state import partition_states

    instance = dg.DagsterInstance.get()
    defs = build_definitions(home)
    graph = defs.resolve_asset_graph()
    months = MONTHLY.get_partition_keys()
    active = dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED])
    deadline, idle_since, outcome = time.monotonic() + timeout, None, "timed out"
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        statuses = [
            instance.get_status_by_partition(key, months, graph.get(key).partitions_def) or {}
            for key in graph.materializable_asset_keys
        ]
        values = [s.get(m) for s in statuses for m in months]
        if all(v == AssetPartitionStatus.MATERIALIZED for v in values):
            outcome = "settled"
            break
        failed = AssetPartitionStatus.FAILED in values
        if failed and not instance.get_runs_count(active):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= 90:  # failed months and nothing running
                outcome = "stuck"
                break
        else:
            idle_since = None
    print(outcome)
    for s in partition_states(instance, defs, months):
        print(f"  {s.asset:36} {s.materialized:>3}/{s.expected}  failed {sorted(s.failed)}")
    print(run_summary(instance))


def run_summary(instance) -> str:
    """Where the time went: runs per trigger, how long they queued and ran, when each kind
    of run finished (seconds from the first run's creation)."""
    from statistics import median

    from labour_trust.defs.sensors import SHARE_TAG

    records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    if not records:
        return "  no runs"
    t0 = records[0].create_timestamp.timestamp()
    kinds: dict[str, list] = {}
    for r in records:
        kinds.setdefault("share" if SHARE_TAG in r.dagster_run.tags else "derived", []).append(r)
    lines = []
    for kind, runs in kinds.items():
        done = [r for r in runs if r.start_time and r.end_time]
        waits = [r.start_time - r.create_timestamp.timestamp() for r in done]
        spans = [r.end_time - r.start_time for r in done]
        last = max((r.end_time - t0 for r in done), default=0.0)
        lines.append(
            f"  {kind} runs: {len(runs)}, median queued {median(waits or [0]):.1f} s, "
            f"median run {median(spans or [0]):.1f} s, last ended at {last:.0f} s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    _watch(Path(sys.argv[1]), float(sys.argv[2]))
