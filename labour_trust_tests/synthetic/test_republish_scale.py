"""`labour-trust republish` regenerates a month at the scale the share was seeded at."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from labour_trust.cli import DEMO_SCALE, main
from labour_trust.feeds.departments import UC_CLAIMANTS
from labour_trust.shares.storage import share_uri
from labour_trust.synthetic.publish import published_settings
from labour_trust_tests.conftest import TEST_SCALE, TEST_SEED

MONTH = "2024-02"


def month_rows(uri: str, month: str, version: int | None = None) -> int:
    table = DeltaTable(uri, version=version)
    return table.to_pyarrow_dataset().count_rows(filter=ds.field("month") == month)


def test_republish_uses_the_seeded_scale(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The session's shares are seeded at TEST_SCALE, five times below the CLI default:
    # a correction at the default would multiply the month's rows by about five.
    assert TEST_SCALE != DEMO_SCALE
    uri = share_uri(str(home / "shares"), UC_CLAIMANTS.department, UC_CLAIMANTS.table)
    assert published_settings(uri) == (TEST_SCALE, TEST_SEED)
    before = DeltaTable(uri).version()
    seeded = month_rows(uri, MONTH)

    assert main(["--home", str(home), "republish", UC_CLAIMANTS.name, MONTH]) == 0

    out = capsys.readouterr().out
    assert f"scale {TEST_SCALE:g} (recorded in the share)" in out
    assert f"seed {TEST_SEED} (recorded in the share)" in out
    assert DeltaTable(uri).version() == before + 1
    corrected = month_rows(uri, MONTH)
    assert corrected != 0 and abs(corrected - seeded) <= 0.1 * seeded, (seeded, corrected)
    # The correction records its settings too, so the next one finds them again.
    assert published_settings(uri) == (TEST_SCALE, TEST_SEED)


def test_republish_scale_flag_overrides(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = share_uri(str(home / "shares"), UC_CLAIMANTS.department, UC_CLAIMANTS.table)
    seeded = month_rows(uri, MONTH)
    scale = TEST_SCALE * 3

    args = ["--home", str(home), "republish", UC_CLAIMANTS.name, MONTH, "--scale", str(scale)]
    assert main(args) == 0

    assert f"scale {scale:g} (given)" in capsys.readouterr().out
    assert month_rows(uri, MONTH) > 2 * seeded
    assert published_settings(uri)[0] == pytest.approx(scale)
