"""A month overwritten with zero rows leaves the log's add actions: the commit that emptied
it holds only removes, and the month must still be reported as changed (so its feed
partition is re-checked and fails `not_empty` instead of keeping the old pointer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import write_deltalake

from labour_trust.shares.commit_log import read_changes
from labour_trust_tests.shares.delta_share import (
    commit_name,
    month_table,
    publish,
    publish_year,
    read_commit,
)


@pytest.fixture
def share(tmp_path: Path) -> str:
    uri = str(tmp_path / "dfe" / "fe_learners")
    publish_year(uri)
    return uri


def empty_month(uri: str, month: str) -> None:
    write_deltalake(
        uri,
        month_table(month, rows=0),
        mode="overwrite",
        predicate=f"month = '{month}'",
        partition_by=["month"],
    )


def test_emptied_month_is_a_changed_month(share: str) -> None:
    cursor = read_changes(share).cursor
    empty_month(share, "2024-05")
    actions = read_commit(share, 12)
    assert not [a for a in actions if "add" in a] and [a for a in actions if "remove" in a]

    changes = read_changes(share, cursor)
    assert changes.months == {"2024-05"} and changes.version == 12
    assert "2024-05" not in read_changes(share).months  # gone from the table's state


def test_emptied_month_without_partition_values_in_the_remove(share: str) -> None:
    # Older writers omit extended file metadata: the month comes from the file's path.
    cursor = read_changes(share).cursor
    empty_month(share, "2024-07")
    log = Path(share) / "_delta_log" / commit_name(12)
    lines = []
    for action in read_commit(share, 12):
        if "remove" in action:
            action["remove"].pop("partitionValues", None)
            action["remove"]["extendedFileMetadata"] = False
        lines.append(json.dumps(action))
    log.write_text("\n".join(lines) + "\n")
    assert read_changes(share, cursor).months == {"2024-07"}


def test_emptied_month_is_reported_once(share: str) -> None:
    cursor = read_changes(share).cursor
    empty_month(share, "2024-05")
    after = read_changes(share, cursor)
    publish(share, "2024-08", seed=3)  # a later commit to another month
    assert read_changes(share, after.cursor).months == {"2024-08"}
