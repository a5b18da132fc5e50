"""Do the feed months that a trust month links hold tokens of the same linkage key?

Tokens are HMACs under the linkage key: tokens of two key versions never match, so linking
them would silently lose every person rather than fail. Each feed pointer records the
month's key version (the `key_version` contract rule makes it one per month).
"""

from __future__ import annotations

from collections.abc import Iterable

from labour_trust.shares.pinned import SharePointer


def linkage_key_conflict(
    pointers: Iterable[SharePointer], linked_as: str | None = None
) -> str | None:
    """A message naming every share and its key version for each month whose pointers
    disagree; None if all agree. Pointers without a key version (written before it was
    recorded) are named but never a conflict on their own. ``linked_as`` (e.g. a trust
    month that reads look-ahead months) makes all the pointers one group."""
    by_month: dict[str, list[SharePointer]] = {}
    for pointer in pointers:
        by_month.setdefault(linked_as or pointer.month, []).append(pointer)
    problems = []
    for month in sorted(by_month):
        group = sorted(by_month[month], key=lambda p: (p.share, p.month))
        if len({p.key_version for p in group if p.key_version is not None}) < 2:
            continue
        named = ", ".join(
            f"{p.share}{'' if linked_as is None else ' ' + p.month} key version "
            f"{p.key_version or 'unknown'}"
            for p in group
        )
        problems.append(
            f"month {month}: the shares were tokenised under different linkage keys "
            f"({named}); their tokens cannot be linked until every share of the month is "
            "re-published under one key"
        )
    return "\n".join(problems) or None
