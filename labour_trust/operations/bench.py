"""`labour-trust bench`: generation and contract-check speed and memory, per feed.

Each phase runs in a fresh process so that its peak RSS is its own.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from labour_trust.feeds.spec import FeedSpec

CHECK_TARGET_SECONDS = 15.0  # a national PAYE month, 2 cores
RSS_TARGET_GB = 3.0


def run_feed_bench(
    specs: list[FeedSpec], *, scale: float, months: int, workdir: Path | None = None
) -> list[dict]:
    month_list = [f"2024-{m:02d}" for m in range(1, months + 1)]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = str(Path(tmp) / "shares")
        print(f"bench: scale {scale}, {months} month(s), shares under {root}")
        print(f"{'feed':28} {'phase':9} {'rows':>12} {'seconds':>8} {'rows/s':>12} {'peak RSS':>9}")
        results = []
        for spec in specs:
            for phase, fn in (("generate", _generate), ("check", _check)):
                r = _in_child(fn, spec.name, root, month_list, scale)
                r.update(feed=spec.name, phase=phase)
                results.append(r)
                print(
                    f"{spec.name:28} {phase:9} {r['rows']:>12,} {r['seconds']:>8.2f} "
                    f"{r['rows'] / max(r['seconds'], 1e-9):>12,.0f} {r['peak_rss_gb']:>7.2f}GB"
                )
        _print_targets(results, scale)
        return results


def _print_targets(results: list[dict], scale: float) -> None:
    paye = [r for r in results if r["feed"] == "hmrc/paye_rti" and r["phase"] == "check"]
    if paye:
        seconds = paye[0]["seconds"]
        ratio = seconds / CHECK_TARGET_SECONDS
        print(
            f"\nPAYE contract check: {seconds:.2f} s at scale {scale} "
            f"(target {CHECK_TARGET_SECONDS:.0f} s at 1.0: ratio {ratio:.2f})"
        )
    peak = max(r["peak_rss_gb"] for r in results)
    print(
        f"Peak RSS of any phase: {peak:.2f} GB (target {RSS_TARGET_GB:.0f} GB: "
        f"ratio {peak / RSS_TARGET_GB:.2f})"
    )


def _in_child(fn: Callable, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_measured, (fn, *args))


def _measured(fn: Callable, *args) -> dict:
    start = time.perf_counter()
    rows = fn(*args)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "seconds": seconds, "peak_rss_gb": peak_kb / 1024 / 1024}


def _generate(share: str, root: str, months: list[str], scale: float) -> int:
    from labour_trust.feeds.departments import FEEDS_BY_NAME
    from labour_trust.synthetic import seed_shares
    from labour_trust.trust.linkage import LinkageKey

    spec = FEEDS_BY_NAME[share]
    seed_shares(
        root, months, scale=scale, seed=1, key=LinkageKey(b"bench-only-key!!"), feeds=[spec]
    )
    return _rows(spec, root, months)


def _check(share: str, root: str, months: list[str], scale: float) -> int:
    from labour_trust.feeds.contract import check_share_month
    from labour_trust.feeds.departments import FEEDS_BY_NAME
    from labour_trust.resources import ShareStore

    spec = FEEDS_BY_NAME[share]
    table = ShareStore(root=root).open(spec)
    rows = 0
    for month in months:
        report = check_share_month(spec, table, month)
        if not report.passed:
            raise RuntimeError(report.summary())
        rows += report.rows
    return rows


def _rows(spec: FeedSpec, root: str, months: list[str]) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    from labour_trust.resources import ShareStore

    actions = pa.table(ShareStore(root=root).open(spec).get_add_actions(flatten=True))
    in_months = actions.filter(pc.is_in(actions["partition.month"], pa.array(months)))
    return int(pc.sum(in_months["num_records"]).as_py() or 0)
