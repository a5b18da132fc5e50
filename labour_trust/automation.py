"""Declarative automation, defined once for derived assets."""

import dagster as dg


def follow_upstream(other_months: dg.AssetSelection) -> dg.AutomationCondition:
    """Recompute a month when any upstream month it reads is updated — including look-ahead
    months published later — once its same-month upstreams exist, and never past a failed
    blocking check (automation does not honour `blocking=True` on its own).

    Not `eager()`: that considers only the latest partition and waits for every input, so a
    provisional outcome (m+6 not yet published) would never be computed. `other_months`
    are the upstreams read only at other months: they may be missing, and a month before
    the first partition has no checks, which would block the first month for ever.
    """
    return (
        (
            dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
        ).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing().ignore(other_months)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed().ignore(other_months)
    )
