"""`labour-trust bench --evaluation`: one cohort month built, matched and estimated.

Seeds UC, PAYE and FE shares for the months one cohort month reads (look-back, m, every
horizon; not the months between horizons), in a temporary folder or in `--workdir`, where a
later run generates only the months still missing (16 national months of UC and PAYE and
13 of FE take hours: an interrupted seeding resumes). Then times, in a fresh process so
that its peak RSS is its own: building the analysis sample (DuckDB over the shares in
place), the propensity model and matching, and the estimates.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labour_trust.evaluation.spec import EvaluationSpec, load_evaluations

BENCH_EVALUATION = "employability_course_claimants"


def _months(spec: EvaluationSpec) -> tuple[str, dict[str, list[str]]]:
    """The cohort month (the first with a whole look-back after 2024-01) and, per feed
    share, the months it reads: each month is generated on its own, so nothing between
    the horizons is seeded."""
    from labour_trust.defs.evaluations import feed_reads
    from labour_trust.months import month_index, month_label, shift_month

    cohort = month_label(month_index("2024-01") + spec.lookback_months)
    reads = feed_reads(spec)
    return cohort, {
        share: sorted(shift_month(cohort, o) for o in set(o)) for share, o in reads.items()
    }


def _measure(root: str, spec_json: str, month: str, out) -> None:
    from labour_trust.evaluation.cohort import build_sample, connect_shares
    from labour_trust.evaluation.estimate import evaluate

    spec = EvaluationSpec.model_validate_json(spec_json)
    started = time.perf_counter()
    sample = build_sample(connect_shares(root), spec, month)
    built = time.perf_counter()
    result = evaluate(sample.table, sample.available, spec, month)
    done = time.perf_counter()
    out.put(
        {
            "treated": result.treated,
            "pool": result.pool,
            "matched_treated": result.matched_treated,
            "sample_seconds": built - started,
            "estimate_seconds": done - built,
            "seconds": done - started,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
            "balanced": result.balanced,
        }
    )


@contextmanager
def _shares_folder(
    workdir: Path | None, scale: float, seed: int, uptake: float, months: str
) -> Iterator[str]:
    """A temporary folder, or one in `workdir` named by what is seeded in it: a later run
    (or one after an interrupted seeding) generates only the months still missing."""
    if workdir is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield str(Path(tmp) / "shares")
        return
    yield str(Path(workdir, f"evaluation-shares-s{scale}-seed{seed}-u{uptake}-{months}"))


def _missing(root: str, share: str, months: list[str]) -> list[str]:
    """The months not yet in the share (each month is one atomic Delta commit)."""
    from deltalake import DeltaTable

    from labour_trust.feeds.departments import FEEDS_BY_NAME
    from labour_trust.shares.pinned import month_fingerprints
    from labour_trust.shares.storage import share_uri

    feed = FEEDS_BY_NAME[share]
    uri = share_uri(root, feed.department, feed.table)
    if not DeltaTable.is_deltatable(uri):
        return months
    present = month_fingerprints(DeltaTable(uri))
    return [m for m in months if m not in present]


def bench_evaluation(
    scale: float,
    workdir: Path | None = None,
    *,
    spec: EvaluationSpec | None = None,
    seed: int = 20240101,
    uptake: float = 1.0,
    print_results: bool = True,
) -> dict[str, object]:
    """Seed the shares one cohort month needs at ``scale`` (``uptake``: the simulated
    programme's, raised for a usable cohort at a tiny scale), then time that month's
    evaluation (sample, match, estimate) and its peak RSS in a child process."""
    from labour_trust.feeds.departments import FEEDS_BY_NAME
    from labour_trust.feeds.linkage import LinkageKey
    from labour_trust.synthetic import SkillsProgramme, seed_shares

    spec = spec or load_evaluations()[BENCH_EVALUATION]
    month, months = _months(spec)
    feed_months = sum(len(m) for m in months.values())
    span = f"{min(min(m) for m in months.values())}-{max(max(m) for m in months.values())}"
    with _shares_folder(workdir, scale, seed, uptake, span) as root:
        started, generated = time.perf_counter(), 0
        for share, share_months in months.items():
            missing = _missing(root, share, share_months)
            generated += len(missing)
            seed_shares(
                root,
                missing,
                scale=scale,
                seed=seed,
                key=LinkageKey(b"bench-linkage-key-not-a-secret"),
                feeds=[FEEDS_BY_NAME[share]],
                skills=SkillsProgramme(uptake=uptake),
            )
        seeded = time.perf_counter() - started
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=_measure, args=(root, spec.model_dump_json(), month, queue))
        child.start()
        result = queue.get()
        child.join()
    result |= {
        "scale": scale,
        "month": month,
        "feed_months": feed_months,
        "months_seeded": generated,
        "seed_seconds": seeded,
    }
    if print_results:
        print(
            f"evaluation {spec.name}, cohort month {month}, scale {scale} "
            f"({feed_months} feed months read, {generated} of them seeded in {seeded:.1f} s)\n"
            f"  treated {result['treated']:,}, pool {result['pool']:,}, "
            f"matched {result['matched_treated']:,}\n"
            f"  sample {result['sample_seconds']:.2f} s, match and estimate "
            f"{result['estimate_seconds']:.2f} s, total {result['seconds']:.2f} s\n"
            f"  peak RSS {result['peak_rss_gb']:.2f} GB"
        )
    return result
