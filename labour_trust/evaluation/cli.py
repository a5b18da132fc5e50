"""`labour-trust evaluations list|show NAME [--json] [--plot PNG]`: specs and latest results.

The main CLI calls `add_commands(subparsers)` and sets `args.home` (LABOUR_TRUST_HOME).
Results are read from the evaluation's Delta table in the store, and only in their
disclosure-controlled form (`tables/evaluation/<name>_published`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from labour_trust.evaluation.spec import (
    STORE_NAME,
    EvaluationSpec,
    EvaluationSpecError,
    load_evaluations,
)
from labour_trust.settings import store_root
from labour_trust.store import Store


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `evaluations list` and `evaluations show NAME` to the main CLI's subparsers."""
    parser = subparsers.add_parser("evaluations", help="programme evaluations and their results")
    commands = parser.add_subparsers(dest="evaluations_command", required=True)
    listing = commands.add_parser("list", help="evaluations and their latest cohort month")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_list)
    show = commands.add_parser("show", help="one evaluation: spec, balance and latest results")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument(
        "--plot", type=Path, metavar="PNG", help="also draw effect by horizon into this file"
    )
    show.set_defaults(func=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    specs = _specs(args.home)
    if specs is None:
        return 2
    rows = [
        {
            "name": s.name,
            "owner": s.owner,
            "horizons": s.horizons,
            "latest_month": (latest := latest_results(args.home, s.name))["month"],
            "provisional": latest["provisional"],
        }
        for s in specs.values()
    ]
    if args.json:
        print(json.dumps({"source": _source(args.home), "evaluations": rows}, indent=2))
        return 0
    print(f"evaluations from {_source(args.home)}")
    print(f"{'name':36} {'owner':32} {'horizons':10} latest month")
    for r in rows:
        month = r["latest_month"] or "-"
        flag = " (provisional)" if r["provisional"] else ""
        horizons = ",".join(map(str, r["horizons"]))
        print(f"{r['name']:36} {r['owner']:32} {horizons:10} {month}{flag}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    specs = _specs(args.home)
    if specs is None:
        return 2
    spec = specs.get(args.name)
    if spec is None:
        print(f"no evaluation {args.name!r}; known: {', '.join(sorted(specs))}")
        return 2
    latest = latest_results(args.home, spec.name)
    if args.plot and latest["month"]:
        _write_plot(args.plot, spec.name, latest)
    if args.json:
        print(json.dumps({"spec": spec.model_dump(mode="json"), "latest": latest}, indent=2))
        return 0
    _print_spec(spec)
    if latest["month"] is None:
        print("\nno results yet (materialise evaluation/" + spec.name + ")")
        return 0
    state = "provisional" if latest["provisional"] else "final"
    print(f"\nlatest cohort month {latest['month']} ({state})")
    print(f"{'outcome':12} {'h':>3} {'estimator':9} {'estimate':>9} {'95% CI':>22}  status")
    for r in latest["estimates"]:
        if r["status"] == "published":
            ci = f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
            figure = f"{r['estimate']:>9.1f}"
        else:
            ci, figure = "", f"{'-':>9}"
        note = r["status"] if r["status"] == "published" else f"{r['status']}: {r['reason']}"
        print(f"{r['outcome']:12} {r['horizon']:>3} {r['estimator']:9} {figure} {ci:>22}  {note}")
    return 0


def _write_plot(path: Path, name: str, latest: dict[str, Any]) -> None:
    import pyarrow as pa

    from labour_trust.evaluation.plot import effect_plot_png
    from labour_trust.evaluation.publish import PUBLISHED_SCHEMA

    table = pa.Table.from_pylist(latest["estimates"], schema=PUBLISHED_SCHEMA)
    path.write_bytes(effect_plot_png(table, f"{name}, cohort {latest['month']}"))


def _print_spec(spec: EvaluationSpec) -> None:
    print(f"{spec.name}  (owner {spec.owner})\n{spec.description.strip()}")
    treated = spec.treated.model_dump(exclude_none=True)
    print(f"treated:     {json.dumps(treated)}")
    print(f"comparison:  {json.dumps(spec.comparison.model_dump())}")
    print(f"covariates:  {', '.join(spec.covariates)} (look-back {spec.lookback_months} months)")
    print(f"outcomes:    {', '.join(spec.outcomes)} at m+{', m+'.join(map(str, spec.horizons))}")


def _specs(home: Path) -> dict[str, EvaluationSpec] | None:
    try:
        return load_evaluations(home)
    except EvaluationSpecError as e:
        print(e)
        return None


def _source(home: Path) -> str:
    store = Store(store_root(home))
    if store.read_text(STORE_NAME) is None:
        return "the shipped demo (no evaluations.yaml in the store)"
    return store.uri(STORE_NAME)


def latest_results(home: Path, name: str) -> dict[str, Any]:
    """The latest cohort month's published (disclosure-controlled) rows, read from the
    evaluation's Delta table in the store."""
    import duckdb
    from deltalake import DeltaTable

    from labour_trust.shares.storage import storage_options_for

    empty: dict[str, Any] = {"month": None, "provisional": None, "estimates": []}
    uri = Store(store_root(home)).uri("tables", "evaluation", f"{name}_published")
    options = storage_options_for(uri)
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return empty
    published = DeltaTable(uri, storage_options=options).to_pyarrow_dataset()
    with duckdb.connect() as con:
        con.register("published", published)
        table = con.sql(
            "SELECT * FROM published WHERE month = (SELECT max(month) FROM published) "
            "ORDER BY outcome, horizon, estimator"
        ).to_arrow_table()
    rows = table.to_pylist()
    if not rows:
        return empty
    return {
        "month": rows[0]["month"],
        "provisional": any(r["status"] == "provisional" for r in rows),
        "estimates": rows,
    }
