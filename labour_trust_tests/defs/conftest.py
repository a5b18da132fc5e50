"""The evaluation asset's tests read the evaluation tests' seeded shares."""

from labour_trust_tests.evaluation.conftest import effect_shares  # noqa: F401  (a fixture)
