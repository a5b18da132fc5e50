"""`labour-trust`: seed demo shares, run the trust headless or with the Dagster UI, report."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labour_trust.feeds.departments import FEEDS, FEEDS_BY_NAME
from labour_trust.months import last_complete_months

DEMO_MONTHS = last_complete_months(12)  # so partitions are full and freshness passes
DEMO_SCALE = 0.01
DEMO_SEED = 20240101


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ["LABOUR_TRUST_HOME"] = str(args.home)  # one home for this process and its runs
    return args.func(args) or 0


def _parser() -> argparse.ArgumentParser:
    from labour_trust.defs.resources import trust_home
    from labour_trust.evaluation.cli import add_commands as add_evaluation_commands
    from labour_trust.governance.cli import add_commands as add_governance_commands

    parser = argparse.ArgumentParser(prog="labour-trust", description=__doc__)
    parser.add_argument(
        "--home", type=Path, default=trust_home(), help="LABOUR_TRUST_HOME (./.labour_trust)"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    seed = sub.add_parser("seed", help="publish synthetic department shares")
    seed.add_argument("--scale", type=float, default=DEMO_SCALE, help="1.0 = national volumes")
    seed.add_argument("--months", default=DEMO_MONTHS, help="YYYY-MM or YYYY-MM:YYYY-MM")
    seed.add_argument("--target", help="folder or s3://bucket[/prefix] (default HOME/shares)")
    seed.add_argument("--seed", type=int, default=DEMO_SEED)
    seed.set_defaults(func=cmd_seed)

    republish = sub.add_parser("republish", help="a department corrects one month")
    republish.add_argument("feed", choices=sorted(FEEDS_BY_NAME), metavar="FEED")
    republish.add_argument("month", metavar="MONTH")
    republish.add_argument(
        "--scale", type=float, default=None, help="default: the scale the share was seeded at"
    )
    republish.add_argument(
        "--seed", type=int, default=None, help="default: the seed the share was seeded at"
    )
    republish.set_defaults(func=cmd_republish)

    up = sub.add_parser("up", help="seed a demo if none, start the Dagster UI and daemon")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000)
    up.add_argument("--s3", action="store_true", help="keep the shares in a local S3 (moto)")
    up.set_defaults(func=cmd_up)

    refresh = sub.add_parser("refresh", help="materialise missing or stale months, headless")
    refresh.add_argument(
        "--months",
        help="backfill: re-run these months (YYYY-MM or YYYY-MM:YYYY-MM) even if up to date",
    )
    refresh.add_argument(
        "--select",
        default="*",
        help="with --months: a Dagster asset selection, e.g. 'group:trust' (default: all)",
    )
    refresh.add_argument(
        "--no-follow",
        action="store_true",
        help="with --months: run only the selection; dependents are left to automation "
        "(the daemon, or the next refresh): a worker in a cluster",
    )
    refresh.set_defaults(func=cmd_refresh)

    status = sub.add_parser("status", help="shares, assets and failing checks")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    lineage = sub.add_parser(
        "lineage", help="a column's sources: trust column, feed columns, pinned share versions"
    )
    lineage.add_argument("asset", metavar="ASSET", help="published/NAME, trust/NAME or NAME")
    lineage.add_argument("column", metavar="COLUMN", nargs="?", help="default: every column")
    lineage.add_argument("--month", help="YYYY-MM (default: the newest month computed)")
    lineage.add_argument("--json", action="store_true")
    lineage.set_defaults(func=cmd_lineage)

    warehouse = sub.add_parser(
        "warehouse", help="rebuild the analysts' DuckDB warehouse from the store's tables"
    )
    warehouse.add_argument(
        "--database", type=Path, help="where to build it (default: HOME/warehouse.duckdb)"
    )
    warehouse.set_defaults(func=cmd_warehouse)

    bench = sub.add_parser("bench", help="speed and memory figures")
    bench.add_argument("--scale", type=float, default=1.0)
    bench.add_argument("--months", type=int, default=1)
    bench.add_argument("--feeds", nargs="*", choices=sorted(FEEDS_BY_NAME), metavar="FEED")
    bench.add_argument("--workdir", type=Path, help="where generated shares go (temp folder)")
    bench.add_argument("--sensor", action="store_true", help="share-sensor tick time")
    bench.add_argument("--trust", action="store_true", help="trust datasets vs one SQL script")
    bench.add_argument("--sdc", action="store_true", help="disclosure control and audit")
    bench.add_argument(
        "--month", help="with --sdc: the home's published tables of this month (refreshed)"
    )
    bench.add_argument("--demo", action="store_true", help="time for the demo to settle")
    bench.add_argument(
        "--e2e", action="store_true", help="seed, then refresh: seconds per step and peak RSS"
    )
    bench.add_argument("--evaluation", action="store_true", help="one evaluation cohort month")
    bench.add_argument(
        "--latency", action="store_true", help="a correction to the published tables, under up"
    )
    bench.add_argument("--report", action="store_true", help="render a national insight report")
    bench.add_argument(
        "--scale-out",
        action="store_true",
        help="the same months (4 unless --months) on one worker and on --workers, "
        "Postgres + S3; use a small --scale",
    )
    bench.add_argument("--workers", type=int, default=2, help="with --scale-out")
    bench.set_defaults(func=cmd_bench)

    add_governance_commands(sub)
    add_evaluation_commands(sub)
    return parser


def cmd_seed(args: argparse.Namespace) -> int:
    from labour_trust.defs.resources import shares_root
    from labour_trust.feeds.linkage import load_linkage_key
    from labour_trust.synthetic import month_range, seed_shares

    root = args.target or shares_root(args.home)
    key = load_linkage_key(args.home, create=True)
    months = month_range(args.months)
    versions = seed_shares(root, months, scale=args.scale, seed=args.seed, key=key)
    for share, version in versions.items():
        print(f"{share}: {len(months)} month(s) published at {root}, version {version}")
    if root == shares_root(args.home):  # the home's own shares: its partitions follow
        _record_first_month(args.home, months[0])
    return 0


def _record_first_month(home: Path, month: str) -> None:
    """Partitions start at the home's first data month, so a demo has no empty years."""
    from labour_trust.settings import read_settings, write_settings

    recorded = read_settings(home).get("first_month")
    if recorded is None or month < recorded:
        write_settings(home, first_month=month)
        print(f"Partitions start at {month} (settings.yaml in {home})")


def cmd_republish(args: argparse.Namespace) -> int:
    from labour_trust.defs.resources import ShareStore, shares_root
    from labour_trust.feeds.linkage import load_linkage_key
    from labour_trust.synthetic import republish_month
    from labour_trust.synthetic.publish import published_settings

    spec = FEEDS_BY_NAME[args.feed]
    shares = ShareStore(root=shares_root(args.home))
    revision = shares.open(spec).version() + 1  # each correction differs from the last
    # A correction must have the volume of the months around it, or the volume rule fails:
    # regenerate at the scale (and seed) the share's commits record, unless told otherwise.
    recorded_scale, recorded_seed = published_settings(shares.uri(spec), shares.storage_options())
    scale, scale_from = _setting(args.scale, recorded_scale, DEMO_SCALE)
    seed_value, seed_from = _setting(args.seed, recorded_seed, DEMO_SEED)
    seed = int(seed_value)
    print(f"{spec.name} {args.month}: scale {scale:g} ({scale_from}), seed {seed} ({seed_from})")
    version = republish_month(
        shares.root,
        spec,
        args.month,
        scale=scale,
        seed=seed,
        key=load_linkage_key(args.home, create=True),
        revision=revision,
        storage_options=shares.storage_options(),
    )
    print(f"{spec.name} {args.month} republished: version {version}")
    return 0


def _setting(given: float | None, recorded: float | None, default: float) -> tuple[float, str]:
    """The value to use and where it came from (for the operator's one-line report)."""
    if given is not None:
        return given, "given"
    if recorded is not None:
        return recorded, "recorded in the share"
    return default, "default: the share records none"


STOP_GRACE_SECONDS = 20.0  # SIGTERM to the UI/daemon group, then SIGKILL after this long


class _Stopped(Exception):
    """Raised in the main thread by `up`'s SIGINT/SIGTERM handler (not KeyboardInterrupt,
    which would print a traceback wherever it lands)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _StopSignals:
    """SIGINT and SIGTERM both mean "stop everything `up` started". The first one raises
    `_Stopped` (unless deferred); a second one while stopping SIGKILLs the Dagster group."""

    def __init__(self) -> None:
        import signal

        self.signum: int | None = None
        self.group: int | None = None  # process group of `dg dev` once started
        self.deferred = False
        stops = (signal.SIGINT, signal.SIGTERM)
        self._previous = {s: signal.signal(s, self._handle) for s in stops}

    def _handle(self, signum: int, _frame: object) -> None:
        import signal

        if self.signum is not None:  # impatient operator: stop now, not in 20 s
            if self.group is not None:
                _signal_group(self.group, signal.SIGKILL)
            return
        self.signum = signum
        if not self.deferred:
            raise _Stopped(signum)

    def check(self) -> None:
        """Raise a stop that arrived while deferred."""
        if self.signum is not None:
            raise _Stopped(self.signum)

    def restore(self) -> None:
        import signal

        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def cmd_up(args: argparse.Namespace) -> int:
    import signal

    from labour_trust.operations.instance import dagster_home

    env = dict(os.environ, DAGSTER_HOME=str(dagster_home(args.home)))
    stop = _StopSignals()
    s3 = None
    try:
        if args.s3:
            from labour_trust.demo.s3 import start_demo_s3

            stop.deferred = True  # a stop while moto starts must not orphan it
            try:
                s3, s3_env = start_demo_s3()
            finally:
                stop.deferred = False
            stop.check()
            env.update(s3_env)
            os.environ.update(s3_env)
        return _seed_and_serve(args, env, stop)
    except _Stopped as stopped:
        signum = stopped.signum
    finally:
        if s3 is not None:
            stop.deferred = True  # moto's stop waits on its process: let it finish
            s3.stop()
        stop.restore()
    stopped = ["the Dagster UI and daemon"] if stop.group is not None else []
    stopped += ["the demo S3"] if s3 is not None else []
    what = f"stopped {' and '.join(stopped)}" if stopped else "nothing was running yet"
    print(f"labour-trust up: {signal.Signals(signum).name} received, {what}.")
    return 0


def _seed_and_serve(
    args: argparse.Namespace, env: dict[str, str], stop: _StopSignals | None = None
) -> int:
    from labour_trust.defs.resources import ShareStore, shares_root

    shares = ShareStore(root=shares_root(args.home))
    if not _share_exists(shares):
        print(f"No shares at {shares.root}: seeding a demo (scale {DEMO_SCALE}, {DEMO_MONTHS})")
        cmd_seed(
            argparse.Namespace(
                home=args.home,
                target=shares.root,
                scale=DEMO_SCALE,
                months=DEMO_MONTHS,
                seed=DEMO_SEED,
            )
        )
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']})")
    # `dg dev` with an explicit target: Dagster's current command, the same from a checkout
    # (where pyproject's [tool.dg] names the same module) and from an installed wheel.
    command = [
        sys.executable,
        "-m",
        "dagster_dg_cli.cli",
        "dev",
        "-m",
        "labour_trust.definitions",
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    sys.stdout.flush()  # our lines before dagster's, which share the terminal
    # Its own session and process group: `dg dev` starts the webserver, the daemon and
    # code servers as children; one signal to the group reaches all of them, and a
    # terminal's Ctrl-C reaches only us, so that we decide how they stop.
    process = subprocess.Popen(command, env=env, start_new_session=True)
    if stop is not None:
        stop.group = process.pid
    watcher = _spec_watcher(args)
    try:
        return process.wait()
    finally:
        watcher.stopped.set()
        # Also after a normal exit: a child that outlived `dg dev` is still ours.
        _stop_group(process, STOP_GRACE_SECONDS)


def _spec_watcher(args: argparse.Namespace):
    """Reload the definitions when evaluations.yaml changes (see operations/reload.py)."""
    from labour_trust.operations.reload import SpecWatcher

    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    watcher = SpecWatcher(args.home, f"http://{host}:{args.port}/graphql")
    watcher.start()
    return watcher


def _signal_group(pgid: int, signum: int) -> None:
    import contextlib

    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still runs (zombies do not count: they hold no
    port and no file, and whoever adopted them reaps them)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs (macOS): zombies count, at worst we wait longer
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while we looked
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """Stop `process` and its whole process group (its own session): SIGTERM, at most
    `grace` seconds for every member to exit, then SIGKILL what is left."""
    import signal
    import time
    from collections.abc import Callable

    pgid = process.pid  # a session leader's pid is its group id
    deadline = time.monotonic() + grace

    def wait_until(done: Callable[[], bool], until: float) -> bool:
        while time.monotonic() < until:
            process.poll()  # reap our own child: a zombie leader would keep the group
            if done():
                return True
            time.sleep(0.2)
        return done()

    def group_gone() -> bool:
        return process.returncode is not None and not _group_alive(pgid)

    # SIGTERM to `dg dev` first, then to the group: dev stops the webserver and the
    # daemon and only then the code server they query; the whole group at once kills the
    # code server under a running sensor tick, and the daemon logs tracebacks.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: process.returncode is not None, deadline)
    _signal_group(pgid, signal.SIGTERM)  # whatever outlived dev (or dev itself, if stuck)
    if not wait_until(group_gone, max(deadline, time.monotonic() + 2.0)):
        _signal_group(pgid, signal.SIGKILL)
        wait_until(group_gone, time.monotonic() + 5.0)


def _share_exists(shares) -> bool:
    from labour_trust.shares.pinned import ShareReadError

    try:
        shares.open(FEEDS[0])
    except ShareReadError:
        return False
    return True


def cmd_refresh(args: argparse.Namespace) -> int:
    import dagster as dg

    from labour_trust.definitions import build_definitions
    from labour_trust.months import month_range
    from labour_trust.operations.instance import embedded_instance
    from labour_trust.operations.refresh import RunOutcome, backfill, refresh

    log_path = args.home / "logs" / "refresh.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def progress(outcome: RunOutcome, n: int) -> None:
        state = "ok" if outcome.success else "FAILED"
        print(
            f"[{n:3}] {outcome.month}  {state:6} {outcome.seconds:6.1f} s  "
            f"{', '.join(outcome.assets)}",
            flush=True,
        )

    defs = build_definitions(args.home)
    with _quiet_dagster(log_path):
        if args.months:
            selection = dg.AssetSelection.from_string(args.select)
            months = month_range(args.months)
            instance = embedded_instance(args.home)
            follow = not args.no_follow
            report = backfill(defs, instance, months, selection, progress, follow=follow)
        else:
            report = refresh(defs, embedded_instance(args.home), progress)
    return _print_refresh_summary(report, log_path)


def _print_refresh_summary(report, log_path: Path) -> int:
    for fault in report.share_faults:
        print(f"share not read: {fault}", file=sys.stderr)
    if report.not_published:
        print(
            f"not requested, no department has published them yet: {_months(report.not_published)}"
        )
    if report.failed_checks:
        print(f"\n{len(report.failed_checks)} blocking check(s) failed:", file=sys.stderr)
        for failure in report.failed_checks:
            print(f"  - {failure}", file=sys.stderr)
    if report.failed_steps:
        print(f"\n{len(report.failed_steps)} step(s) failed:", file=sys.stderr)
        for failure in report.failed_steps:
            print(f"  - {failure}", file=sys.stderr)
    if not report.runs and report.ok and not report.not_published:
        print("Everything is up to date: no month is missing, unsynced or failed.")
        return 0
    failed = sum(not r.success for r in report.runs)
    print(f"{len(report.runs)} run(s), {failed} failed. Dagster's events: {log_path}")
    return 0 if report.ok else 1


@contextmanager
def _quiet_dagster(log_path: Path) -> Iterator[None]:
    """Dagster's events and warnings go to the log file, not the operator's terminal."""
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("dagster")
    logger.addHandler(handler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.captureWarnings(True)
        try:
            yield
        finally:
            logging.captureWarnings(False)
            logger.removeHandler(handler)
            handler.close()


def cmd_status(args: argparse.Namespace) -> int:
    from labour_trust.definitions import build_definitions
    from labour_trust.operations.instance import embedded_instance
    from labour_trust.operations.status import status_report

    defs = build_definitions(args.home)
    resources = defs.resources
    report = status_report(list(FEEDS), resources, embedded_instance(args.home), defs)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(report)
    return 0


def _print_status(report: dict[str, list[dict]]) -> None:
    print(f"{'share':28} {'version':>7} {'months':>6} {'stale':>5}  last change")
    for s in report["shares"]:
        if s["error"]:
            print(f"{s['share']:28} error: {s['error']}")
            continue
        print(
            f"{s['share']:28} {s['version']:>7} {len(s['months']):>6} "
            f"{len(s['stale_months']):>5}  {s['last_change']}"
        )
    width = max([36, *(len(a["asset"]) for a in report["assets"])])  # evaluation names vary
    print(f"\n{'asset':{width}} {'months':>7}  failed / unsynced / missing / failing checks")
    for a in report["assets"]:
        problems = [f"failed {m}: {why}" for m, why in a["failed"].items()]
        problems += [f"unsynced {m}: {why}" for m, why in a["stale"].items()]
        if a["missing"]:
            problems.append(f"missing {_months(a['missing'])}")
        if a["in_progress"]:
            problems.append(f"in progress {_months(a['in_progress'])}")
        problems += [f"check {c} failed" for c in a["failing_checks"]]
        problems += [f"check {w} warns" for w in a["warnings"]]
        first = problems[0] if problems else "-"
        print(f"{a['asset']:{width}} {a['materialized']:>3}/{a['expected']:<3}  {first}")
        for problem in problems[1:]:
            print(f"{'':{width + 13}}{problem}")
    print(f"\n{'agreement (not live or expiring within 30 days)':50} {'expires':10}  status")
    for g in report["agreements"]:
        print(f"{g['id']:50} {g['expires']:10}  {g['status']} ({g['days_left']} days left)")


def _months(months: list[str]) -> str:
    return ", ".join(months) if len(months) <= 3 else f"{months[0]}..{months[-1]} ({len(months)})"


def cmd_lineage(args: argparse.Namespace) -> int:
    from labour_trust.defs.resources import ShareStore, shares_root
    from labour_trust.operations.instance import embedded_instance
    from labour_trust.operations.lineage import LineageError, format_lineage, lineage

    shares = ShareStore(root=shares_root(args.home))
    try:
        chain = lineage(embedded_instance(args.home), shares, args.asset, args.column, args.month)
    except LineageError as e:
        print(f"labour-trust lineage: {e}", file=sys.stderr)
        return 2
    print(json.dumps(chain, indent=2) if args.json else format_lineage(chain))
    return 0


def cmd_warehouse(args: argparse.Namespace) -> int:
    from labour_trust.defs.resources import warehouse_path
    from labour_trust.settings import store_root
    from labour_trust.store import Store
    from labour_trust.warehouse import rebuild_warehouse, snapshot_path

    database = args.database or warehouse_path(args.home)
    counts = rebuild_warehouse(Store(store_root(args.home)).uri("tables"), database)
    for table, rows in sorted(counts.items()):
        print(f"{table}: {rows:,} rows")
    print(f"built {database}; analysts open {snapshot_path(database)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from labour_trust.benchmarks import runner as bench

    if args.e2e:
        from labour_trust.benchmarks.e2e import run_e2e_bench

        run_e2e_bench(args.scale, args.months, args.workdir)
    elif args.latency:
        from labour_trust.benchmarks.latency import run_latency_bench

        run_latency_bench(workdir=args.workdir)
    elif args.demo:
        from labour_trust.benchmarks.demo import run_demo_bench

        run_demo_bench(workdir=args.workdir)
    elif args.evaluation:
        from labour_trust.benchmarks.evaluation import bench_evaluation

        bench_evaluation(args.scale, args.workdir)
    elif args.scale_out:
        from labour_trust.benchmarks.scale_out import run_scale_out_bench
        from labour_trust.months import month_index, month_label

        last = month_label(month_index("2024-01") + (args.months if args.months > 1 else 4) - 1)
        return run_scale_out_bench(args.scale, f"2024-01:{last}", args.workers, args.workdir)
    elif args.report:
        from labour_trust.benchmarks.report import run_report_bench

        run_report_bench()
    elif args.sensor:
        bench.run_sensor_bench()
    elif args.trust:
        bench.run_trust_bench(args.scale, max(args.months, 7), workdir=args.workdir)
    elif args.sdc and args.month:
        bench.run_published_sdc_bench(args.home, args.month)
    elif args.sdc:
        bench.run_sdc_bench(args.scale)
    else:
        specs = [FEEDS_BY_NAME[n] for n in args.feeds] if args.feeds else list(FEEDS)
        bench.run_feed_bench(specs, scale=args.scale, months=args.months, workdir=args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
