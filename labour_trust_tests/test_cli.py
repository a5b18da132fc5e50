"""The operator's CLI: seed, republish, refresh, status — run as a user would."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.dataset as pds
from deltalake import DeltaTable, write_deltalake

from labour_trust.cli import main
from labour_trust.feeds.departments import FEEDS, PAYE_RTI


def test_seed_publishes_four_shares(tmp_path, monkeypatch, capsys, linkage_key):
    monkeypatch.setenv("LABOUR_TRUST_LINKAGE_KEY", linkage_key.secret.decode())
    target = tmp_path / "elsewhere"
    code = main(
        [
            "--home",
            str(tmp_path / "home"),
            "seed",
            "--scale",
            "0.001",
            "--months",
            "2024-01:2024-03",
            "--target",
            str(target),
        ]
    )
    assert code == 0
    for spec in FEEDS:
        table = DeltaTable(str(target / spec.department / spec.table))
        months = set(pa.table(table.get_add_actions(flatten=True))["partition.month"].to_pylist())
        assert months == {"2024-01", "2024-02", "2024-03"}
    assert "hmrc/paye_rti: 3 month(s)" in capsys.readouterr().out


def test_seed_without_key_generates_a_private_demo_key(tmp_path, monkeypatch):
    monkeypatch.delenv("LABOUR_TRUST_LINKAGE_KEY", raising=False)
    monkeypatch.delenv("LABOUR_TRUST_LINKAGE_KEY_FILE", raising=False)
    home = tmp_path / "home"
    assert main(["--home", str(home), "seed", "--scale", "0.0005", "--months", "2024-01"]) == 0
    key_file = home / "linkage.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_republish_touches_only_that_month(home, capsys):
    uri = str(home / "shares" / "hmrc" / "paye_rti")
    before = DeltaTable(uri)
    old = {
        m: before.to_pyarrow_dataset().count_rows(filter=pds.field("month") == m)
        for m in ("2024-01", "2024-02")
    }
    assert main(["republish", "hmrc/paye_rti", "2024-02", "--scale", "0.002"]) == 0
    after = DeltaTable(uri)
    assert after.version() == before.version() + 1
    last = after.history(1)[0]
    assert last["operationParameters"]["predicate"] == "month = '2024-02'"
    jan = after.to_pyarrow_dataset().to_table(filter=pds.field("month") == "2024-01")
    assert jan.num_rows == old["2024-01"]
    assert "republished: version" in capsys.readouterr().out


def test_refresh_then_status_then_failing_refresh(home, capsys):
    assert main(["refresh"]) == 0
    out = capsys.readouterr().out
    assert "2024-01" in out and "2024-02" in out

    assert main(["refresh"]) == 0  # nothing changed: nothing to run
    assert "up to date" in capsys.readouterr().out

    # A steward traces a published number to the feed columns and share versions behind it.
    args = ["lineage", "published/local_labour_market", "uc_claimants", "--month", "2024-02"]
    assert main([*args, "--json"]) == 0
    chain = json.loads(capsys.readouterr().out)
    (column,) = chain["columns"]
    assert column["trust_column"] == "trust/local_labour_market.uc_claimants"
    (feed,) = column["feeds"]
    uc_uri = str(home / "shares" / "dwp" / "uc_claimants")
    assert feed["share"] == "dwp/uc_claimants" and feed["uri"] == uc_uri
    assert feed["pinned"] == {"2024-02": DeltaTable(uc_uri).version()}
    published = DeltaTable(str(home / "published" / "local_labour_market")).version()
    assert chain["publication"]["delta_version"] == published
    assert main(["lineage", "local_labour_market"]) == 0  # every column, newest month
    text = capsys.readouterr().out
    assert text.startswith("published/local_labour_market, month 2024-02")
    assert "← trust/local_labour_market.uc_claimants" in text
    assert main(["lineage", "trust/local_labour_market", "no_such_column"]) == 2
    assert "has no column 'no_such_column'" in capsys.readouterr().err

    assert main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    shares = {s["share"]: s for s in report["shares"]}
    assert shares["hmrc/paye_rti"]["months"] == ["2024-01", "2024-02"]
    assert shares["hmrc/paye_rti"]["stale_months"] == []
    assets = {a["asset"]: a for a in report["assets"]}
    assert assets["hmrc/paye_rti"]["materialized"] == 2
    assert assets["hmrc/paye_rti"]["failing_checks"] == []
    for asset in assets.values():  # every month of every asset, nothing failed or unsynced
        assert asset["materialized"] == asset["expected"] == 2, asset
        assert not asset["failed"] and not asset["stale"] and not asset["missing"], asset
    expired = [g for g in report["agreements"] if g["status"] == "expired"]
    assert expired and expired[0]["days_left"] < 0  # the demo register has one

    # A department publishes a bad correction: refresh fails and names the check.
    uri = str(home / "shares" / "hmrc" / "paye_rti")
    month = DeltaTable(uri).to_pyarrow_dataset().to_table(filter=pds.field("month") == "2024-02")
    pay = month["gross_pay_month"].to_numpy().copy()
    pay[0] = -1.0
    bad = month.set_column(6, "gross_pay_month", pa.array(pay))
    write_deltalake(
        uri, bad, mode="overwrite", predicate="month = '2024-02'", partition_by=["month"]
    )
    assert main(["refresh"]) == 1
    err = capsys.readouterr().err
    assert "non_negative" in err and "hmrc/paye_rti" in err and "2024-02" in err

    assert main(["status"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert any(PAYE_RTI.name in line and "non_negative" in line for line in lines)


def test_seeding_a_home_starts_its_partitions_at_the_first_month(tmp_path, monkeypatch):
    monkeypatch.delenv("LABOUR_TRUST_FIRST_MONTH", raising=False)
    home = tmp_path / "home"
    args = ["--home", str(home), "seed", "--scale", "0.0005", "--months", "2025-11:2025-12"]
    assert main(args) == 0
    from labour_trust.settings import first_month

    assert first_month(home) == "2025-11"  # not years of empty partitions before the data
