"""One Dagster asset per evaluation: `evaluation/<name>`, partitioned by cohort month.

Each month reads the pinned feed versions it needs: UC and PAYE over the look-back window
and at each horizon (through `<feed>/m_plus_<h>`, so that a correction re-runs only the
cohorts that read it: defs/feed_offsets.py), FE over the prior-participation window. Months
not yet published are simply absent and their horizons stay `provisional`. It matches and
estimates (the plain library in this package) unless the cohort is under the spec's
`min_treated`, and checks balance: the blocking `balance` check fails when any covariate's
|SMD| after matching exceeds the spec's threshold (0.1), and then nothing is written — the
last balanced results of that month stay. Results go to Delta tables in the store
(`tables/evaluation/<name>`: estimates; `_balance`: SMDs; `_published`: under disclosure control)
and, disclosure-controlled, into the materialisation's metadata.
"""

import hashlib
from collections.abc import Iterator, Mapping

import dagster as dg
import pyarrow as pa

from labour_trust.defs.automation import follow_upstream
from labour_trust.defs.feed_offsets import by_month, feed_inputs, gather
from labour_trust.defs.partitions import MONTHLY, monthly_check
from labour_trust.defs.resources import PublicationStore, ShareStore, TrustTables
from labour_trust.defs.trust import _feed_dataset
from labour_trust.evaluation.cohort import build_sample, connect
from labour_trust.evaluation.estimate import EvaluationResult, evaluate
from labour_trust.evaluation.publish import PUBLISHED_SCHEMA, publish_estimates, to_markdown
from labour_trust.evaluation.spec import EvaluationSpec
from labour_trust.feeds.departments import FE_LEARNERS, FEEDS_BY_NAME, PAYE_RTI, UC_CLAIMANTS
from labour_trust.months import shift_month
from labour_trust.shares.pinned import SharePointer

SCHEMA = "evaluation"
ESTIMATOR_VERSION = "psm-knn-caliper-1"  # bump when the estimator's code changes results
CLASSIFICATION = "OFFICIAL-SENSITIVE"


def evaluation_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([SCHEMA, name])


def feed_reads(spec: EvaluationSpec) -> dict[str, tuple[int, ...]]:
    """Feed share → the months a cohort month reads (UC and PAYE: the look-back window and
    each horizon; FE: the prior-participation window)."""
    return {
        UC_CLAIMANTS.name: spec.person_offsets,
        PAYE_RTI.name: spec.person_offsets,
        FE_LEARNERS.name: spec.fe_offsets,
    }


def code_version(spec: EvaluationSpec) -> str:
    """Changes when the spec or the estimator changes, so months show as unsynced."""
    text = spec.model_dump_json() + ESTIMATOR_VERSION
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pointers(
    pinned: SharePointer | Mapping[str, SharePointer] | None, months: set[str]
) -> list[SharePointer]:
    if pinned is None:  # a one-month input never checked: no data for it
        return []
    return [p for m, p in sorted(by_month(pinned).items()) if m in months]


def build_evaluation_asset(spec: EvaluationSpec) -> dg.AssetsDefinition:
    key = evaluation_key(spec.name)
    reads = feed_reads(spec)

    @dg.asset(
        key=key,
        description=spec.description,
        group_name=SCHEMA,
        partitions_def=MONTHLY,
        ins=feed_inputs(reads),
        owners=[spec.owner],
        kinds={"duckdb", "scikitlearn"},
        tags={"classification": CLASSIFICATION},
        metadata={
            # What is published of it (the estimates table under the count rules).
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(
                        f.name,
                        str(f.type),
                        description=(f.metadata or {}).get(b"description", b"").decode(),
                    )
                    for f in PUBLISHED_SCHEMA
                ]
            ),
            "dagster/table_name": f"{SCHEMA}.{spec.name}",
            "covariates": ", ".join(spec.covariates),
            "outcomes": ", ".join(spec.outcomes),
            "horizons": ", ".join(str(h) for h in spec.horizons),
        },
        check_specs=[
            monthly_check(
                "balance",
                key,
                f"Every covariate's |standardised mean difference| after matching is at "
                f"most {spec.balance_threshold}.",
            )
        ],
        # Every feed is read at m itself, so a missing same-month input always waits.
        automation_condition=follow_upstream(),
        code_version=code_version(spec),
    )
    def evaluation(
        context: dg.AssetExecutionContext,
        shares: ShareStore,
        trust_tables: TrustTables,
        publications: PublicationStore,
        **feeds: SharePointer | dict[str, SharePointer],
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        month = context.partition_key
        feeds = gather(feeds, reads)
        options = shares.storage_options()
        views, used = {}, []
        for share, feed_months in reads.items():
            table = FEEDS_BY_NAME[share].table
            pointers = _pointers(feeds[table], {shift_month(month, o) for o in feed_months})
            views[table] = _feed_dataset(share, pointers, options)
            used += pointers
        con = connect(views)
        try:
            sample = build_sample(con, spec, month)
        finally:
            con.close()
        if sample.treated < spec.min_treated:
            reason = (
                f"{sample.treated} treated, fewer than min_treated ({spec.min_treated}): "
                "not estimated"
            )
            yield dg.MaterializeResult(
                metadata={
                    "month": month,
                    "estimated": False,
                    "reason": reason,
                    "treated": sample.treated,
                    "comparison_pool": sample.pool,
                },
                check_results=[
                    dg.AssetCheckResult(
                        check_name="balance",
                        passed=True,
                        description=f"not assessed: {reason}",
                        metadata={"month": month, "assessed": False},
                    )
                ],
            )
            return
        result = evaluate(sample.table, sample.available, spec, month)
        check = balance_check(result)
        if not check.passed:
            yield check
            raise dg.Failure(
                description=(
                    f"evaluation {spec.name} {month}: covariates not balanced after matching "
                    f"(|SMD| > {spec.balance_threshold}): {', '.join(result.imbalanced)}"
                ),
                metadata={"month": month},
            )
        published = publish_estimates(result.estimates, publications.policy())
        trust_tables.write_month(SCHEMA, spec.name, month, result.estimates)
        trust_tables.write_month(SCHEMA, f"{spec.name}_balance", month, result.balance)
        trust_tables.write_month(SCHEMA, f"{spec.name}_published", month, published)
        sources = {f"{p.share}@{p.month}": p.version for p in used}
        yield dg.MaterializeResult(
            metadata=result_metadata(result, published)
            | {"source_versions": dg.MetadataValue.json(sources)},
            check_results=[check],
        )

    return evaluation


def balance_check(result: EvaluationResult) -> dg.AssetCheckResult:
    worst = result.worst_smd
    return dg.AssetCheckResult(
        check_name="balance",
        passed=result.balanced,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            None
            if result.balanced
            else f"|SMD| after matching above {result.balance_threshold}: "
            + ", ".join(f"{c} {worst[c][1]:.3f}" for c in result.imbalanced)
        ),
        metadata={
            "month": result.month,
            "assessed": True,
            "max_abs_smd_after": float(max(after for _, after in worst.values())),
            "smd": dg.MetadataValue.md(_smd_markdown(worst)),
        },
    )


def _smd_markdown(worst: Mapping[str, tuple[float, float]]) -> str:
    lines = ["| covariate | max abs SMD before | after |", "|---|---|---|"]
    lines += [f"| {c} | {b:.3f} | {a:.3f} |" for c, (b, a) in worst.items()]
    return "\n".join(lines)


def result_metadata(result: EvaluationResult, published: pa.Table) -> dict[str, object]:
    # matplotlib loads only in the runs that draw: every run process imports this module.
    from labour_trust.evaluation.plot import effect_plot_png, markdown_image

    return {
        "month": result.month,
        "estimated": True,
        "provisional": result.provisional,
        "treated": result.treated,
        "comparison_pool": result.pool,
        "matched_treated": result.matched_treated,
        "matched_controls": result.matched_controls,
        "unmatched": result.unmatched,
        "caliper_logit": float(result.caliper),
        "estimates": dg.MetadataValue.md(to_markdown(published)),
        "effect_by_horizon": dg.MetadataValue.md(
            markdown_image(
                effect_plot_png(published, f"{result.name}, cohort {result.month}"),
                "effect by horizon with 95% intervals (published values)",
            )
        ),
        "dagster/table_name": f"{SCHEMA}.{result.name}",
    }


def build_evaluation_assets(specs: Mapping[str, EvaluationSpec]) -> list[dg.AssetsDefinition]:
    """One asset per evaluation; each carries its blocking `balance` check (as feeds carry
    their contract checks), so there is no separate checks list to register."""
    return [build_evaluation_asset(spec) for spec in specs.values()]


__all__ = ["build_evaluation_asset", "build_evaluation_assets", "evaluation_key"]
