"""Statistical disclosure control: a plain library (no Dagster) used by the published-table
assets and their blocking checks.

- ``DisclosurePolicy`` (policy.py): thresholds, rounding, dominance rules, from YAML;
- ``TableDescription`` (description.py): what each column of a table is, as data;
- ``apply_policy`` (engine.py): primary + secondary suppression and rounding → ``SdcResult``;
- ``audit.audit`` (audit.py): the independent LP audit of what is published (import it
  from the module: the package does not re-export it, so that the name ``audit`` stays
  the module);
- ``check_published`` (checks.py): blocking checks on a table about to be published;
- ``human_table`` / ``write_csv`` (export.py): 'c' / 'z' human-facing output;
- ``bench_sdc`` (bench.py): timings on a national-scale synthetic table.
"""

from labour_trust.disclosure.audit import AuditFailure, AuditReport, CellInterval
from labour_trust.disclosure.checks import (
    CheckResult,
    Violation,
    check_columns,
    check_counts,
    check_magnitudes,
    check_no_identifiers,
    check_published,
)
from labour_trust.disclosure.description import (
    ColumnGroup,
    Derived,
    DescriptionError,
    Dimension,
    Magnitude,
    TableDescription,
    uk_area_hierarchy,
)
from labour_trust.disclosure.engine import InformationLoss, SdcResult, apply_policy
from labour_trust.disclosure.export import human_table, write_csv
from labour_trust.disclosure.policy import DisclosurePolicy, PolicyError
from labour_trust.disclosure.secondary import SuppressionError

__all__ = [
    "AuditFailure",
    "AuditReport",
    "CellInterval",
    "CheckResult",
    "ColumnGroup",
    "Derived",
    "DescriptionError",
    "Dimension",
    "DisclosurePolicy",
    "InformationLoss",
    "Magnitude",
    "PolicyError",
    "SdcResult",
    "SuppressionError",
    "TableDescription",
    "Violation",
    "apply_policy",
    "check_columns",
    "check_counts",
    "check_magnitudes",
    "check_no_identifiers",
    "check_published",
    "human_table",
    "uk_area_hierarchy",
    "write_csv",
]
