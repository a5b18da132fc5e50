"""Department simulators: synthetic UC, PAYE, FE and business-population shares.

One synthetic population lives through the months: people claim Universal Credit, find
and lose jobs, study, and work for enterprises that open and close. Each department's
share shows its slice of those lives, pseudonymised with the linkage key, and is
published (and corrected) in place as a month-partitioned Delta table.
"""

from labour_trust.months import month_range
from labour_trust.synthetic.feeds import generate_month
from labour_trust.synthetic.programme import SkillsProgramme
from labour_trust.synthetic.publish import publish_month, republish_month, seed_shares

__all__ = [
    "SkillsProgramme",
    "generate_month",
    "month_range",
    "publish_month",
    "republish_month",
    "seed_shares",
]
