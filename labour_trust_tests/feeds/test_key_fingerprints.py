"""Key fingerprints: repeats found by merging sorted runs, confirmed on the whole fingerprint."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from labour_trust.feeds.key_fingerprints import BatchFingerprints, KeyFingerprints, fingerprint


def batch(first: list[int], second: list[int]) -> BatchFingerprints:
    a = np.array(first, dtype=np.uint64)
    return BatchFingerprints(a, np.array(second, dtype=np.uint64), np.sort(a))


def test_repeats_match_a_plain_python_count_on_random_keys():
    rng = np.random.default_rng(7)
    people = rng.integers(0, 300, 5_000).astype(str)
    employers = rng.integers(0, 4, 5_000).astype(str)
    keys = KeyFingerprints()
    for start in range(0, 5_000, 700):
        table = pa.table({"p": people[start : start + 700], "e": employers[start : start + 700]})
        keys.add(fingerprint(table, ["p", "e"]))
    seen, expected = set(), []
    for position, key in enumerate(zip(people, employers, strict=True)):
        if key in seen:
            expected.append(position)
        seen.add(key)
    assert len(expected) > 1000  # the draw repeats keys often, in both hash halves
    assert keys.repeated_rows().tolist() == expected


def test_key_order_matters():
    table = pa.table({"p": ["x", "y"], "e": ["y", "x"]})
    keys = KeyFingerprints([fingerprint(table, ["p", "e"])])
    assert keys.repeated_rows().tolist() == []


def test_first_hash_collision_alone_is_not_a_repeat():
    top = (1 << 64) - 1  # the high half of the hash range is merged separately
    keys = KeyFingerprints([batch([5, top, 9], [1, 2, 3]), batch([5, top, 5], [4, 2, 1])])
    # row 3 shares row 0's first hash only; rows 4 and 5 repeat rows 1 and 0 entirely
    assert keys.repeated_rows().tolist() == [4, 5]
