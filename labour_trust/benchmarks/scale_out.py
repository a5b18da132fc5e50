"""`labour-trust bench --scale-out`: the same months on one worker and on several.

A cluster as a platform team would run it, on one machine: Dagster's instance on a real
PostgreSQL server (the production profile, `dagster.production.yaml`), every piece of
trust state in object storage (`LABOUR_TRUST_STORE` on a `moto_server` S3), and the
department shares on that S3 too. A worker is a `labour-trust refresh --months
--no-follow` process (a run pod: automation is the daemon's) with an empty home and a
DAGSTER_HOME of its own (no shared disk), given a contiguous run of the months: first
their feeds, then, once every worker's feeds are in, everything derived (see `_phases`).
Each run gets its own Dagster database and store prefix.

`Cluster.run` also gathers what must not depend on how many workers there were: every
month's exported tables, the latest publication of each table and month in the audit
chain (content hash, agreements), and whether the chain verifies. The production tests
compare them between one worker and two.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from labour_trust.months import month_range

PROFILE = "dagster.production.yaml"
DEFAULT_MONTHS = "2024-01:2024-04"
BENCH_KEY = "scale-out-bench-linkage-key-not-a-secret"  # synthetic shares only


@dataclass
class ClusterRun:
    workers: int
    seconds: float
    store: str
    database: str
    failures: list[str] = field(default_factory=list)  # a worker's exit and output tail
    exports: dict[str, str] = field(default_factory=dict)  # exports/<table>/<file>: text
    publications: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = field(
        default_factory=dict
    )  # (table, month) → (content sha256, agreements) of the latest publication
    audit_ok: bool = False
    homes_left: list[str] = field(default_factory=list)  # state a worker left on its disk


def production_profile() -> Path:
    """The shipped production profile: beside the package in a checkout."""
    path = Path(__file__).resolve().parents[2] / PROFILE
    if not path.is_file():
        raise FileNotFoundError(f"{PROFILE} not found at {path} (run from a checkout)")
    return path


def split_months(months: list[str], workers: int) -> list[list[str]]:
    """Contiguous runs of months, as even as can be, one per worker (none empty)."""
    workers = max(1, min(workers, len(months)))
    size, extra = divmod(len(months), workers)
    groups, at = [], 0
    for i in range(workers):
        n = size + (i < extra)
        groups.append(months[at : at + n])
        at += n
    return groups


class Cluster:
    """PostgreSQL, an S3 (moto) with the seeded shares, and worker processes."""

    def __init__(self, workdir: Path, scale: float, months: list[str], seed: int = 7) -> None:
        self.workdir = Path(workdir)
        self.scale = scale
        self.months = months
        self.seed = seed
        self._stack = ExitStack()
        self.env: dict[str, str] = {}

    def __enter__(self) -> Cluster:
        from labour_trust.demo.postgres import PostgresServer
        from labour_trust.demo.s3 import DUMMY_KEY, MotoServer
        from labour_trust.shares.s3 import client_for, ensure_bucket

        try:
            self.postgres = self._stack.enter_context(PostgresServer())
            self.moto = self._stack.enter_context(MotoServer())
            settings = self.moto.settings
            self.bucket = "trust-cluster"
            ensure_bucket(client_for(settings), self.bucket, settings.region)
            self.env = {
                "AWS_ENDPOINT_URL": self.moto.endpoint,
                "AWS_ACCESS_KEY_ID": DUMMY_KEY,
                "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
                "AWS_REGION": settings.region,
                "LABOUR_TRUST_SHARES": f"s3://{self.bucket}/departments",
                "LABOUR_TRUST_LINKAGE_KEY": BENCH_KEY,
            }
            self._seed()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _seed(self) -> None:
        seeding = self.workdir / "seeding"
        seeding.mkdir(parents=True, exist_ok=True)
        span = f"{self.months[0]}:{self.months[-1]}"
        argv = ["seed", "--scale", str(self.scale), "--months", span, "--seed", str(self.seed)]
        argv += ["--target", self.env["LABOUR_TRUST_SHARES"]]
        if _cli(seeding, argv, self._base_env(), "seed.log").wait() != 0:
            raise RuntimeError(f"seeding the shares failed:\n{_tail(seeding / 'seed.log')}")

    def _base_env(self) -> dict[str, str]:
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LABOUR_TRUST_", "DAGSTER_", "AWS_"))
        }
        return keep | self.env

    def run(self, workers: int) -> ClusterRun:
        """The months on `workers` concurrent worker processes, from an empty store."""
        name = f"workers-{workers}-{int(time.time() * 1000)}"
        database = name.replace("-", "_")
        self.postgres.create_database(database)
        env = self._base_env() | self.postgres.env(database)
        env["LABOUR_TRUST_STORE"] = f"s3://{self.bucket}/{name}"
        env["LABOUR_TRUST_FIRST_MONTH"] = self.months[0]  # the store has no settings yet
        folder = self.workdir / name
        _migrate(folder / "migrate", env)  # the schema once, as a deployment's migrate job
        groups = split_months(self.months, workers)
        started = time.perf_counter()
        failures: list[str] = []
        homes = [folder / f"worker-{i}" for i in range(len(groups))]
        for phase, selection in enumerate(_phases()):
            procs = []
            for home, group in zip(homes, groups, strict=True):
                months = f"{group[0]}:{group[-1]}"
                argv = ["refresh", "--months", months, "--select", selection, "--no-follow"]
                procs.append((home, _cli(home, argv, env, f"phase-{phase}.log")))
            for home, proc in procs:
                if (code := proc.wait()) != 0:
                    log = _tail(home / f"phase-{phase}.log")
                    failures.append(f"{home.name} phase {phase} exited {code}:\n{log}")
        seconds = time.perf_counter() - started
        run = ClusterRun(workers, seconds, env["LABOUR_TRUST_STORE"], database, failures)
        # State a worker left on its own disk; `logs/` is the command's log of what it ran
        # (diagnostics, as a pod's stdout), not state another worker would need.
        run.homes_left = [
            str(p.relative_to(folder))
            for home in homes
            for p in (home / "home").rglob("*")
            if p.is_file() and p.relative_to(home / "home").parts[0] != "logs"
        ]
        self._outcome(run)
        return run

    def _outcome(self, run: ClusterRun) -> None:
        from labour_trust.governance.audit_log import ObjectAuditLog
        from labour_trust.store import Store

        with _environ(self.env):
            store = Store(run.store)
            for table in store.folders("exports"):
                for file in store.names("exports", table):
                    run.exports[f"{table}/{file}"] = store.read_text("exports", table, file) or ""
            audit = ObjectAuditLog(store, "audit")
            run.audit_ok = audit.verify().ok
            for entry in audit.entries():
                if entry.get("event") == "publication":
                    d = entry["details"]
                    run.publications[(d["table"], d["month"])] = (
                        d["content_sha256"],
                        tuple(d.get("agreements") or ()),
                    )


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker_env(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """A DAGSTER_HOME holding the production profile and an empty home, both its own."""
    dagster_home = folder / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(production_profile(), dagster_home / "dagster.yaml")
    (folder / "home").mkdir(exist_ok=True)
    return env | {"DAGSTER_HOME": str(dagster_home), "LABOUR_TRUST_HOME": str(folder / "home")}


def _phases() -> tuple[str, str]:
    """Asset selections run one after the other, every worker its months in each: the feeds,
    then everything derived. Dagster's backfill planner orders runs so, because a month's
    derived assets read neighbouring months' feeds (sector_view the month before,
    evaluations a year either side); a worker running its months alone would publish a
    month before the neighbour's feed was in, then again after — a second release,
    protected against the first, which one worker never makes."""
    from labour_trust.feeds.departments import FEEDS

    feeds = " or ".join(f"group:{d}" for d in sorted({spec.department for spec in FEEDS}))
    return feeds, f"not ({feeds})"


def _cli(folder: Path, argv: list[str], env: dict[str, str], log: str) -> subprocess.Popen:
    """`labour-trust ARGV` started in `folder` (its own home and DAGSTER_HOME), output to
    `folder/log`."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "labour_trust.cli", "--home", str(folder / "home"), *argv]
    with open(folder / log, "wb") as out:  # the child holds its own copy of the handle
        return subprocess.Popen(
            command, env=_worker_env(folder, env), cwd=folder, stdout=out, stderr=out
        )


def _migrate(folder: Path, env: dict[str, str]) -> None:
    """Create the Dagster schema before the workers start (two would race to create it)."""
    worker_env = _worker_env(folder, env)
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "instance", "migrate"],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dagster instance migrate failed:\n{done.stdout}\n{done.stderr}")


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def run_scale_out_bench(
    scale: float, months: str = DEFAULT_MONTHS, workers: int = 2, workdir: Path | None = None
) -> int:
    """Prints the wall time on one worker and on `workers`, the speed-up, and whether the
    two produced the same publications. Returns a process exit code."""
    month_list = month_range(months)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="scale-out-") as tmp:
        print(f"scale-out: scale {scale}, months {months}, Postgres + S3 (moto), in {tmp}")
        started = time.perf_counter()
        with Cluster(Path(tmp), scale, month_list) as cluster:
            print(f"  seeded {len(month_list)} months in {time.perf_counter() - started:.1f} s")
            runs = [cluster.run(1), cluster.run(workers)]
    for run in runs:
        groups = split_months(month_list, run.workers)
        plan = ", ".join(f"{g[0]}..{g[-1]}" for g in groups)
        print(f"  {run.workers} worker(s) [{plan}]: {run.seconds:.1f} s")
        for failure in run.failures:
            print(f"    FAILED {failure}")
    one, many = runs
    same = one.exports == many.exports and one.publications == many.publications
    ratio = one.seconds / many.seconds if many.seconds else float("nan")
    print(
        f"  same publications ({len(one.publications)} table-months) and exports "
        f"({len(one.exports)} files): {'yes' if same else 'NO'}; "
        f"audit chains verify: {'yes' if one.audit_ok and many.audit_ok else 'NO'}; "
        f"files left on worker disks: {len(one.homes_left) + len(many.homes_left)}"
    )
    print(
        f"scale-out scale={scale} months={len(month_list)} workers={workers} "
        f"one_worker_s={one.seconds:.1f} workers_s={many.seconds:.1f} speedup={ratio:.2f}"
    )
    ok = same and one.audit_ok and many.audit_ok and not (one.failures or many.failures)
    ok = ok and bool(one.publications) and not (one.homes_left or many.homes_left)
    return 0 if ok else 1
