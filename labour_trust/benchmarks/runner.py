"""`labour-trust bench`: generation and contract-check speed and memory, per feed.

Each phase runs in a fresh process so that its peak RSS is its own.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from labour_trust.feeds.spec import FeedSpec

CHECK_TARGET_SECONDS = 15.0  # a national PAYE month, 2 cores
RSS_TARGET_GB = 3.0
TRUST_TARGET_SECONDS = 60.0  # all four datasets, one national month
TRUST_RSS_TARGET_GB = 6.0
TRUST_RATIO_TARGET = 1.5
SDC_TARGET_SECONDS = 10.0
PUBLISHED_SDC_TARGET_SECONDS = 30.0  # all four published tables of a national month
SENSOR_TARGET_MS = 200.0


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


def run_sensor_bench() -> None:
    """Tick time on shares with 1,000 commits of history and one new commit, at two table
    sizes 10x apart (local folder)."""
    from labour_trust.benchmarks.sensor import bench_sensor_tick, format_bench

    results = bench_sensor_tick(root=None, commits=1000, rows_per_commit=(100, 1000))
    print(format_bench(results))
    small, large = sorted(results, key=lambda r: r.table_rows)[:2]
    worst = max(r.tick_ms for r in results)
    print(
        f"\nworst tick {worst:.1f} ms (target {SENSOR_TARGET_MS:.0f} ms: ratio "
        f"{worst / SENSOR_TARGET_MS:.2f}); growth with 10x table size: "
        f"{large.tick_ms / small.tick_ms:.2f}x"
    )


def run_sdc_bench(scale: float) -> None:
    """Suppression and audit of a national local_labour_market month."""
    from labour_trust.benchmarks.sdc import bench_sdc

    r = bench_sdc(scale)
    print(f"SDC on local_labour_market at scale {scale}: {r['rows']} rows, {r['cells']} cells")
    print(
        f"  suppression {r['suppress_s']:.2f} s (primary {r['primary_s']:.2f}, secondary "
        f"{r['secondary_s']:.2f}), ratio to {SDC_TARGET_SECONDS:.0f} s target "
        f"{r['suppress_s'] / SDC_TARGET_SECONDS:.2f}"
    )
    print(
        f"  audit {r['audit_s']:.2f} s ({r['audit_lps']} LPs), passed: {r['audit_passed']}, "
        f"ratio {r['audit_s'] / SDC_TARGET_SECONDS:.2f}"
    )
    print(
        f"  cells suppressed: {r['primary']} primary, {r['secondary']} secondary; "
        f"value suppressed {r['suppressed_value_share']:.4%}"
    )


def run_published_sdc_bench(home: Path, month: str) -> None:
    """Disclosure control of a refreshed home's month, the four tables as one problem."""
    from labour_trust.benchmarks.sdc import bench_published_month

    r = bench_published_month(home, month)
    print(f"SDC of the published tables of {month} ({home}), as the publication step does:")
    for step, seconds in r["seconds"].items():
        print(f"  {step:<10} {seconds:8.2f} s")
    for name, figures in r["loss"].items():
        engine, base = figures["engine"], figures["baseline"]
        print(
            f"  {name:<20} {engine['cells']:>7} cells, suppressed {engine['suppressed']:>6} "
            f"({engine['suppressed_value_share']:.2%} of value); partner baseline "
            f"{base['suppressed']:>6} ({base['suppressed_value_share']:.2%})"
        )
    # The publication step computes the baseline too (its loss goes in the metadata).
    total = sum(r["seconds"].values())
    target = PUBLISHED_SDC_TARGET_SECONDS
    verdict = "ok" if total <= target else "MISSES the target"
    print(f"  total {total:.2f} s (target {target:.0f} s): {verdict}")
    print(f"  joint audit: {r['audit_cells_attacked']} cells attacked, passed {r['audit_passed']}")
    cells = sum(f["engine"]["cells"] for f in r["loss"].values())
    suppressed = sum(f["engine"]["suppressed"] for f in r["loss"].values())
    print(f"sdc month={month} seconds={total:.2f} cells={cells} suppressed={suppressed}")


def run_trust_bench(scale: float, months: int, workdir: Path | None = None) -> None:
    """All four trust datasets for the first month (look-ahead needs m+6: months >= 7)
    against one hand-written DuckDB script on the same Arrow scans of the same files."""
    from labour_trust.feeds.departments import FEEDS

    month_list = [f"2024-{m:02d}" for m in range(1, months + 1)]
    with _shares_dir(workdir, f"trust-{scale}-{months}") as root:
        print(f"bench --trust: scale {scale}, {months} month(s), shares under {root}")
        for spec in FEEDS:
            if Path(root, spec.department, spec.table).exists():
                continue  # kept from an earlier run with the same --workdir
            r = _in_child(_generate, spec.name, root, month_list, scale)
            print(f"  generated {spec.name:26} {r['rows']:>12,} rows in {r['seconds']:.1f} s")
        r = _in_child(_trust, root, month_list[0])
        print(r["report"])
        total = r["datasets_total"]
        print(
            f"all four datasets {total:.1f} s (target {TRUST_TARGET_SECONDS:.0f} s: ratio "
            f"{total / TRUST_TARGET_SECONDS:.2f}); against the hand-written script "
            f"{r['ratio']:.2f} (target {TRUST_RATIO_TARGET}); peak RSS "
            f"{r['peak_rss_gb']:.2f} GB (target {TRUST_RSS_TARGET_GB:.0f} GB)"
        )


@contextmanager
def _shares_dir(workdir: Path | None, name: str) -> Iterator[str]:
    """Shares under --workdir are kept for the next run (generation takes minutes at
    national scale); without it they go in a temporary folder."""
    if workdir is not None:
        yield str(workdir / name / "shares")
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield str(Path(tmp) / "shares")


def feed_connection(root: str):
    """DuckDB over the shares under `root` as the pipeline reads them (Arrow datasets of
    the Delta tables), under the view names the trust SQL uses."""
    import duckdb

    from labour_trust.defs.resources import ShareStore
    from labour_trust.feeds.departments import FEEDS
    from labour_trust.reference import lad_table
    from labour_trust.trust.datasets import LAD_LOOKUP_VIEW, VIEW_NAMES

    store = ShareStore(root=root)
    con = duckdb.connect()
    for spec in FEEDS:
        con.register(VIEW_NAMES[spec.name], store.open(spec).to_pyarrow_dataset())
    con.register(LAD_LOOKUP_VIEW, lad_table())
    return con


def _trust(root: str, month: str) -> dict:
    from labour_trust.benchmarks.trust import bench, format_bench

    result = bench(feed_connection(root), month)
    return {
        "report": format_bench(result),
        "datasets_total": result.datasets_total,
        "ratio": result.ratio,
    }


def _in_child(fn: Callable, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_measured, (fn, *args))


def _measured(fn: Callable, *args) -> dict:
    """Run `fn` (returning a row count or a dict of figures) with its time and peak RSS."""
    start = time.perf_counter()
    out = fn(*args)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = out if isinstance(out, dict) else {"rows": out}
    return {**figures, "seconds": seconds, "peak_rss_gb": peak_kb / 1024 / 1024}


def _generate(share: str, root: str, months: list[str], scale: float) -> int:
    from labour_trust.feeds.departments import FEEDS_BY_NAME
    from labour_trust.feeds.linkage import LinkageKey
    from labour_trust.synthetic import seed_shares

    spec = FEEDS_BY_NAME[share]
    seed_shares(
        root, months, scale=scale, seed=1, key=LinkageKey(b"bench-only-key!!"), feeds=[spec]
    )
    return _rows(spec, root, months)


def _check(share: str, root: str, months: list[str], scale: float) -> int:
    from labour_trust.defs.resources import ShareStore
    from labour_trust.feeds.contract import check_share_month
    from labour_trust.feeds.departments import FEEDS_BY_NAME

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
    from labour_trust.defs.resources import ShareStore
    from labour_trust.shares.pinned import month_fingerprints

    fingerprints = month_fingerprints(ShareStore(root=root).open(spec))
    return sum(fingerprints[m].rows for m in months if m in fingerprints)
