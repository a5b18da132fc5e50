"""Statistical disclosure control: a plain library (no Dagster) used by the published-table
assets and their blocking checks.

- ``DisclosurePolicy`` (policy.py): thresholds, rounding, dominance rules, from YAML;
- ``TableDescription`` (description.py): what each column of a table is, as data;
- ``apply_policy`` (engine.py): primary + secondary suppression and rounding → ``SdcResult``,
  with the audit-driven repair loop (repair.py) and budgets counted in LPs, not seconds;
- ``apply_policy_joint`` (joint.py): linked tables (``Relation``s, an earlier release)
  protected as one problem; ``audit.audit_joint`` attacks them together;
- ``compare_with_baseline`` (loss.py): information loss against a simple heuristic;
- ``audit.audit`` (audit.py): the independent LP audit of what is published (import it
  from the module: the package does not re-export it, so that the name ``audit`` stays
  the module);
- ``check_published`` (checks.py): blocking checks on a table about to be published, named
  as in ``SDC_CHECKS`` (also the published assets' check names);
- ``human_table`` / ``csv_bytes`` (export.py): 'c' / 'z' human-facing output;
"""

from labour_trust.disclosure.audit import AuditFailure, AuditReport, CellInterval
from labour_trust.disclosure.checks import (
    SDC_CHECKS,
    CheckResult,
    Violation,
    check_columns,
    check_counts,
    check_magnitudes,
    check_no_identifiers,
    check_published,
)
from labour_trust.disclosure.description import (
    CellRef,
    ColumnGroup,
    Derived,
    DescriptionError,
    Dimension,
    Magnitude,
    Relation,
    TableDescription,
    uk_area_hierarchy,
    within,
)
from labour_trust.disclosure.engine import InformationLoss, SdcResult, apply_policy
from labour_trust.disclosure.export import csv_bytes, human_table
from labour_trust.disclosure.joint import JointPart, JointResult, apply_policy_joint
from labour_trust.disclosure.loss import compare_with_baseline
from labour_trust.disclosure.policy import DisclosurePolicy, PolicyError
from labour_trust.disclosure.secondary import SuppressionError

__all__ = [
    "SDC_CHECKS",
    "AuditFailure",
    "AuditReport",
    "CellInterval",
    "CellRef",
    "CheckResult",
    "ColumnGroup",
    "Derived",
    "DescriptionError",
    "Dimension",
    "DisclosurePolicy",
    "InformationLoss",
    "JointPart",
    "JointResult",
    "Magnitude",
    "PolicyError",
    "Relation",
    "SdcResult",
    "SuppressionError",
    "TableDescription",
    "Violation",
    "apply_policy",
    "apply_policy_joint",
    "check_columns",
    "check_counts",
    "check_magnitudes",
    "check_no_identifiers",
    "check_published",
    "compare_with_baseline",
    "csv_bytes",
    "human_table",
    "uk_area_hierarchy",
    "within",
]
