"""`labour-trust`: seed demo shares, run the trust headless or with the Dagster UI, report."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from labour_trust.feeds.departments import FEEDS, FEEDS_BY_NAME

DEMO_MONTHS = "2024-01:2024-12"
DEMO_SCALE = 0.01
DEMO_SEED = 20240101


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ["LABOUR_TRUST_HOME"] = str(args.home)  # one home for this process and its runs
    return args.func(args) or 0


def _parser() -> argparse.ArgumentParser:
    from labour_trust.governance.cli import add_commands as add_governance_commands
    from labour_trust.resources import trust_home

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
    republish.add_argument("--scale", type=float, default=DEMO_SCALE)
    republish.add_argument("--seed", type=int, default=DEMO_SEED)
    republish.set_defaults(func=cmd_republish)

    up = sub.add_parser("up", help="seed a demo if none, start the Dagster UI and daemon")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000)
    up.add_argument("--s3", action="store_true", help="keep the shares in a local S3 (moto)")
    up.set_defaults(func=cmd_up)

    refresh = sub.add_parser("refresh", help="materialise missing or stale months, headless")
    refresh.set_defaults(func=cmd_refresh)

    status = sub.add_parser("status", help="shares, assets and failing checks")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    bench = sub.add_parser("bench", help="speed and memory figures")
    bench.add_argument("--scale", type=float, default=1.0)
    bench.add_argument("--months", type=int, default=1)
    bench.add_argument("--feeds", nargs="*", choices=sorted(FEEDS_BY_NAME), metavar="FEED")
    bench.add_argument("--workdir", type=Path, help="where generated shares go (temp folder)")
    bench.add_argument("--sensor", action="store_true", help="share-sensor tick time")
    bench.add_argument("--trust", action="store_true", help="trust datasets vs one SQL script")
    bench.add_argument("--sdc", action="store_true", help="disclosure control and audit")
    bench.set_defaults(func=cmd_bench)

    add_governance_commands(sub)
    return parser


def cmd_seed(args: argparse.Namespace) -> int:
    from labour_trust.resources import shares_root
    from labour_trust.synthetic import month_range, seed_shares
    from labour_trust.trust.linkage import load_linkage_key

    root = args.target or shares_root(args.home)
    key = load_linkage_key(args.home, create=True)
    months = month_range(args.months)
    versions = seed_shares(root, months, scale=args.scale, seed=args.seed, key=key)
    for share, version in versions.items():
        print(f"{share}: {len(months)} month(s) published at {root}, version {version}")
    return 0


def cmd_republish(args: argparse.Namespace) -> int:
    from labour_trust.resources import ShareStore, shares_root
    from labour_trust.synthetic import republish_month
    from labour_trust.trust.linkage import load_linkage_key

    spec = FEEDS_BY_NAME[args.feed]
    shares = ShareStore(root=shares_root(args.home))
    revision = shares.open(spec).version() + 1  # each correction differs from the last
    version = republish_month(
        shares.root,
        spec,
        args.month,
        scale=args.scale,
        seed=args.seed,
        key=load_linkage_key(args.home, create=True),
        revision=revision,
        storage_options=shares.storage_options(),
    )
    print(f"{spec.name} {args.month} republished: version {version}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from labour_trust.operations.instance import dagster_home

    env = dict(os.environ, DAGSTER_HOME=str(dagster_home(args.home)))
    s3 = None
    if args.s3:
        from labour_trust.operations.demo_s3 import start_demo_s3

        s3, s3_env = start_demo_s3()
        env.update(s3_env)
        os.environ.update(s3_env)
    try:
        return _seed_and_serve(args, env)
    finally:
        if s3 is not None:
            s3.stop()


def _seed_and_serve(args: argparse.Namespace, env: dict[str, str]) -> int:
    from labour_trust.resources import ShareStore, shares_root

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
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "labour_trust.definitions",
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    return subprocess.call(command, env=env)


def _share_exists(shares) -> bool:
    from labour_trust.shares.pinned import ShareReadError

    try:
        shares.open(FEEDS[0])
    except ShareReadError:
        return False
    return True


def cmd_refresh(args: argparse.Namespace) -> int:
    from labour_trust.definitions import build_definitions
    from labour_trust.operations.instance import embedded_instance
    from labour_trust.operations.refresh import plan_refresh, run_refresh

    defs = build_definitions(args.home)
    resources = defs.resources
    plan = plan_refresh(list(FEEDS), resources["shares"], resources["pointer_io_manager"])
    for share, months in plan.outside_partitions.items():
        print(f"warning: {share} has months outside the partitions: {', '.join(months)}")
    if plan.empty:
        print("Everything is up to date.")
        return 0
    for month, specs in sorted(plan.months.items()):
        print(f"{month}: {', '.join(s.name for s in specs)}")
    outcome = run_refresh(defs, plan, embedded_instance(args.home))
    if outcome.failures:
        print(f"\n{len(outcome.failures)} blocking check(s) failed:", file=sys.stderr)
        for failure in outcome.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(f"Refreshed {outcome.runs} month(s).")
    return 0


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
    print(f"\n{'asset':36} {'partitions':>10}  last materialisation        failing checks")
    for a in report["assets"]:
        failing = ", ".join(a["failing_checks"] + [f"{w} (warning)" for w in a["warnings"]])
        failing = failing or "-"
        print(
            f"{a['asset']:36} {a['partitions_materialized']:>10}  "
            f"{a['last_materialization'] or 'never':26}  {failing}"
        )
    print(f"\n{'agreement (not live or expiring within 30 days)':50} {'expires':10}  status")
    for g in report["agreements"]:
        print(f"{g['id']:50} {g['expires']:10}  {g['status']} ({g['days_left']} days left)")


def cmd_bench(args: argparse.Namespace) -> int:
    from labour_trust.operations import bench

    if args.sensor:
        bench.run_sensor_bench()
    elif args.trust:
        bench.run_trust_bench(args.scale, max(args.months, 7), workdir=args.workdir)
    elif args.sdc:
        bench.run_sdc_bench(args.scale)
    else:
        specs = [FEEDS_BY_NAME[n] for n in args.feeds] if args.feeds else list(FEEDS)
        bench.run_feed_bench(specs, scale=args.scale, months=args.months, workdir=args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
