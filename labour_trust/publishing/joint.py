"""Protect all of a month's published tables together (``protect_month``).

Each published table protected on its own passes its own audit, yet the tables share
people: local_labour_market's searching-for-work claimants are claimant_outcomes' 'all'
cohort, subsets are bounded by their supersets, claimant_outcomes' three breakdowns share
their 'all' rows, and a corrected month is compared with the release it replaces.
``protect_month`` hands every view of every table, the relations declared in
``tables.py`` and the earlier release to ``disclosure.joint.apply_policy_joint``: one
protection problem, one joint audit, one repair loop. Views of a table are then merged
into the table as ``protect`` does (their shared cells have one status by construction).

Model of the earlier release (``previous``): see ``disclosure/audit.py`` — the attacker
assumes a cell is unchanged unless its two published intervals are disjoint; cells
suppressed before stay suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from labour_trust.disclosure import DisclosurePolicy, SdcResult
from labour_trust.disclosure.audit import AuditReport, audit_joint
from labour_trust.disclosure.joint import JointPart, JointResult, apply_policy_joint
from labour_trust.disclosure.loss import loss_figures
from labour_trust.publishing.protect import _merge, contributors_for, kept_rows, protect, rows_of
from labour_trust.publishing.tables import PUBLISHED, PublishedTable, relations_among


class MonthResults(dict[str, SdcResult]):
    """``protect_month``'s result: table name → SdcResult, plus the joint audit."""

    def __init__(self, results: Mapping[str, SdcResult], joint: JointResult) -> None:
        super().__init__(results)
        self.joint = joint

    @property
    def report(self) -> AuditReport:
        """The joint audit of what would be published (cells attacked, narrowest, seconds)."""
        return self.joint.report

    def metadata(self) -> dict[str, object]:
        """Plain figures for catalog metadata."""
        record = self.joint.record
        return {
            **self.report.as_dict(),
            "audits": record.audits,
            "cells_repaired": len(record.repaired),
            "cells_block_suppressed": len(record.blocked),
            "engine_lps": self.joint.lp_count,
            "cleanup_complete": self.joint.cleanup_complete,
            "protect_seconds": round(self.joint.seconds, 3),
        }


def protect_month(
    tables: dict[str, pa.Table],
    policy: DisclosurePolicy,
    contributors: Mapping[str, Mapping[str, pa.Table]] | None = None,
    previous: dict[str, pa.Table] | None = None,
    *,
    published: Mapping[str, PublishedTable] | None = None,
) -> MonthResults:
    """Protect one month of several published tables as one problem.

    ``tables``: table name → the trust rows of the month (what ``protect`` takes today);
    ``contributors``: table name → its contributor tables (column → table), as ``protect``;
    ``previous``: table name → the month as consumers already hold it (the published
    table), for a re-publication. Returns table name → ``SdcResult`` whose ``table`` has
    the same columns as ``protect``'s; ``.report`` is the joint audit.
    """
    published = PUBLISHED if published is None else published
    contributors = contributors or {}
    previous = previous or {}
    parts: list[JointPart] = []
    owners: list[str] = []
    for name in sorted(tables):  # a stable order: parts decide cell ids and tie-breaks
        table = published[name]
        old = previous.get(name)
        for view in table.views:
            parts.append(
                JointPart(
                    table=name,
                    rows=rows_of(tables[name], table, view),
                    description=view.description,
                    contributors=contributors_for(view, contributors.get(name)) or None,
                    previous=None if old is None else rows_of(old, table, view),
                )
            )
            owners.append(name)
    relations = _relations(published, set(tables))
    joint = apply_policy_joint(parts, relations, policy)
    results: dict[str, SdcResult] = {}
    for name in sorted(tables):
        views = [r for r, owner in zip(joint.results, owners, strict=True) if owner == name]
        if len(views) == 1:
            results[name] = views[0]
        else:
            results[name] = _merge(views, kept_rows(tables[name], published[name]))
    return MonthResults(results, joint)


def audit_month(
    tables: Mapping[str, pa.Table],
    policy: DisclosurePolicy,
    previous: Mapping[str, pa.Table] | None = None,
    *,
    published: Mapping[str, PublishedTable] | None = None,
) -> AuditReport:
    """The joint audit of what would be published: every view of every table (``tables``:
    name → the protected month), the relations between them and the release consumers
    already hold (``previous``), attacked together (``disclosure.audit.audit_joint``)."""
    published = PUBLISHED if published is None else published
    previous = previous or {}

    def parts(source: Mapping[str, pa.Table]):
        return [
            (name, rows_of(source[name], published[name], view), view.description)
            for name in sorted(source)
            for view in published[name].views
        ]

    return audit_joint(
        parts(tables),
        _relations(published, set(tables)),
        policy,
        parts({n: t for n, t in previous.items() if n in tables}),
    )


def month_loss(
    tables: dict[str, pa.Table],
    results: Mapping[str, SdcResult],
    policy: DisclosurePolicy,
    contributors: Mapping[str, Mapping[str, pa.Table]] | None = None,
    *,
    published: Mapping[str, PublishedTable] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Per table: ``{"engine": figures, "baseline": figures}`` — suppressed cells and
    suppressed value share of ``results`` and of the "partner" baseline protecting the
    same table on its own (``disclosure/loss.py``). The joint protection covers more
    (the relations between tables), so a higher engine figure is not a worse pattern."""
    published = PUBLISHED if published is None else published
    contributors = contributors or {}
    out = {}
    for name in sorted(tables):
        baseline = protect(
            tables[name], published[name], policy, contributors.get(name), method="partner"
        )
        out[name] = {
            "engine": loss_figures(results[name].loss),
            "baseline": loss_figures(baseline.loss),
        }
    return out


def _relations(published: Mapping[str, PublishedTable], names: set[str]):
    if published is PUBLISHED:
        return list(relations_among(names))
    return [r for t in published.values() for r in t.relations if r.tables <= frozenset(names)]
