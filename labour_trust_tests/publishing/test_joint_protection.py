"""protect_month: a month's published tables protected as one problem, audited together
(tables, their equations, the declared relations and the earlier release)."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from labour_trust.disclosure import DisclosurePolicy, apply_policy
from labour_trust.disclosure.audit import audit_joint
from labour_trust.publishing.joint import month_loss, protect_month
from labour_trust.publishing.protect import _merge, kept_rows, protect, rows_of
from labour_trust.publishing.tables import PUBLISHED, relations_among, undeclared_counts
from labour_trust.trust.datasets import TRUST_DATASETS
from labour_trust.trust.local_labour_market import REGIME_COLUMNS

from .month_tables import month_contributors, month_tables

POLICY = DisclosurePolicy()
SEARCHING = REGIME_COLUMNS["Searching for work"]


def _parts(tables: dict[str, pa.Table]):
    return [
        (name, rows_of(tables[name], PUBLISHED[name], view), view.description)
        for name in sorted(tables)
        for view in PUBLISHED[name].views
    ]


def _attack(published: dict[str, pa.Table], previous: dict[str, pa.Table] | None = None):
    """The joint audit, run here from the published tables alone."""
    return audit_joint(
        _parts(published),
        list(relations_among(set(published))),
        POLICY,
        _parts(previous) if previous else None,
    )


def _views_alone(tables, contributors) -> dict[str, pa.Table]:
    """How the month was protected before: each view on its own, views merged."""
    out = {}
    for name, table in tables.items():
        published = PUBLISHED[name]
        views = [
            apply_policy(
                rows_of(table, published, view),
                view.description,
                POLICY,
                contributors=contributors.get(name),
            )
            for view in published.views
        ]
        merged = views[0] if len(views) == 1 else _merge(views, kept_rows(table, published))
        out[name] = merged.table
    return out


@pytest.fixture(scope="module")
def month():
    tables = month_tables(seed=0)
    return tables, month_contributors(tables)


@pytest.fixture(scope="module")
def protected(month):
    tables, contributors = month
    return protect_month(tables, POLICY, contributors)


def test_tables_protected_one_by_one_leak_and_together_do_not(month, protected):
    tables, contributors = month
    leak = _attack(_views_alone(tables, contributors))
    assert not leak.passed  # the issue: each passes on its own, the combination does not
    assert {f.table for f in leak.failures} >= {"claimant_outcomes"}

    report = _attack({n: r.table for n, r in protected.items()})
    assert report.passed, [f.message for f in report.failures]
    assert protected.report.passed and protected.report.cells_attacked == report.cells_attacked
    meta = protected.metadata()
    assert meta["narrowest_width"] >= POLICY.count_protection
    assert {"cells_attacked", "seconds", "audits", "cells_block_suppressed"} <= set(meta)


def test_same_columns_and_statuses_as_protect(month, protected):
    tables, contributors = month
    assert set(protected) == set(tables)
    for name, result in protected.items():
        alone = protect(tables[name], PUBLISHED[name], POLICY, contributors.get(name))
        assert result.table.schema.names == alone.table.schema.names
        assert result.table.num_rows == alone.table.num_rows
        assert result.status.schema.names == alone.status.schema.names


def test_per_table_protect_covers_the_relations_within_the_table(month):
    # claimant_outcomes' three breakdowns and the subset counts: protect() (the API the
    # published assets call) passes the joint audit of each table with itself.
    tables, contributors = month
    for name in sorted(tables):
        result = protect(tables[name], PUBLISHED[name], POLICY, contributors.get(name))
        report = _attack({name: result.table})
        assert report.passed, [f.message for f in report.failures]


def test_equal_cells_share_one_status(protected):
    llm = protected["local_labour_market"].table
    co = protected["claimant_outcomes"].table
    cohort = {
        (r["month"], r["area_code"]): r["cohort"]
        for r in co.to_pylist()
        if r["group_value"] == "all"
    }
    pairs = [((r["month"], r["area_code"]), r[SEARCHING]) for r in llm.to_pylist()]
    assert pairs
    for key, searching in pairs:
        assert (searching is None) == (cohort[key] is None), key
        assert searching == cohort[key]


def test_three_breakdowns_share_their_all_rows(month, protected):
    tables, _ = month
    co = protected["claimant_outcomes"]
    # One row per published cell key: the views' shared 'all' rows are not repeated, and
    # breakdowns below region level are not published.
    kept = kept_rows(tables["claimant_outcomes"], PUBLISHED["claimant_outcomes"])
    assert kept.num_rows < tables["claimant_outcomes"].num_rows
    assert co.table.num_rows == kept.num_rows


def test_a_corrected_month_keeps_the_old_pattern(month, protected):
    # Consumers hold the joint release; three late claimants change the first LAD, its
    # region and the UK. The new release keeps every old gap and cannot be combined with
    # the old one (the audit assumes unchanged cells, see audit.py).
    _, contributors = month
    corrected = month_tables(seed=0, correction=3)
    old = {n: r.table for n, r in protected.items()}
    again = protect_month(corrected, POLICY, contributors, previous=old)
    changed = False
    for name, result in again.items():
        for column in PUBLISHED[name].counts:
            before = old[name].column(column).to_pylist()
            after = result.table.column(column).to_pylist()
            assert all(a is None for b, a in zip(before, after, strict=True) if b is None)
            changed |= before != after
    assert changed  # the correction does show
    report = _attack({n: r.table for n, r in again.items()}, previous=old)
    assert report.passed, [f.message for f in report.failures]
    assert again.report.passed


def test_an_earlier_leak_cannot_be_repaired_and_is_reported(month):
    # Consumers hold the tables protected one by one, which leak when combined: no new
    # release can take that back. protect_month keeps the old gaps, and its audit fails
    # on exactly the cells the old release already confines (so publication is blocked).
    tables, contributors = month
    old = _views_alone(tables, contributors)
    already = {(f.table, f.column, repr(f.cell)) for f in _attack(old).failures}
    again = protect_month(tables, POLICY, contributors, previous=old)
    assert not again.report.passed
    failing = {(f.table, f.column, repr(f.cell)) for f in again.report.failures}
    assert failing <= already
    assert again.metadata()["failures"] == len(failing)


def test_protect_month_is_deterministic(month, protected):
    tables, contributors = month
    again = protect_month(tables, POLICY, contributors)
    for name in tables:
        assert again[name].table.equals(protected[name].table)
        assert again[name].status.equals(protected[name].status)


# -- every published count states how it relates to the others ------------------------------


def test_every_published_count_has_a_declared_relation():
    assert undeclared_counts() == []


def test_every_magnitude_has_what_its_rules_need():
    """Dominance rules need contributor values (summarised by the trust step); a median,
    exempt from them, needs its contributor count."""
    for table in PUBLISHED.values():
        dataset = TRUST_DATASETS[table.name]
        for magnitude in table.views[0].description.magnitudes:
            if magnitude.dominance:
                assert magnitude.column in dataset.contributor_selects, magnitude
            else:
                assert magnitude.column in dataset.contributor_columns, magnitude


def test_a_new_count_without_a_relation_is_caught():
    skills = PUBLISHED["skills_outcomes"]
    view = skills.views[0]
    grown = dataclasses.replace(view.description, counts=(*view.description.counts, "employed_m12"))
    tables = dict(PUBLISHED)
    tables["skills_outcomes"] = dataclasses.replace(
        skills, views=(dataclasses.replace(view, description=grown),)
    )
    assert undeclared_counts(tables) == ["skills_outcomes.employed_m12"]


def test_information_loss_against_the_baseline(month, protected):
    tables, contributors = month
    figures = month_loss(tables, protected, POLICY, contributors)
    assert set(figures) == set(tables)
    for name, pair in figures.items():
        engine, baseline = pair["engine"], pair["baseline"]
        assert engine["cells"] == baseline["cells"] > 0, name
        assert engine["primary"] == baseline["primary"], name
        assert 0 <= engine["suppressed_value_share"] <= 1
    # The merged claimant_outcomes counts each of its cells once (all views together).
    co = figures["claimant_outcomes"]["engine"]
    kept = kept_rows(tables["claimant_outcomes"], PUBLISHED["claimant_outcomes"])
    assert co["cells"] == kept.num_rows * 6
