"""Programme evaluations: a treated cohort, a matched comparison group, impacts with CIs.

Following DWP's Employment Data Lab and DfE's LEO practice: the people treated in month m
(e.g. claimants achieving an employability course) are compared with eligible people who
were not, matched on their administrative history by propensity score. Specs are data
(`evaluations.yaml`, see `spec`), the estimator is a plain library (`cohort`, `estimate`),
results are published under disclosure control (`publish`); `defs/evaluations.py` makes
one Dagster asset per evaluation.
"""

from labour_trust.evaluation.spec import EvaluationSpec, EvaluationSpecError, load_evaluations

__all__ = ["EvaluationSpec", "EvaluationSpecError", "load_evaluations"]
