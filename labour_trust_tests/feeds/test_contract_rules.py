"""The newer contract rules, each with a month that breaks it and one that passes, checked in
place on real Delta shares written the way a department publishes them."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import AddAction

from labour_trust.defs.feeds import build_feed_asset
from labour_trust.defs.resources import build_resources
from labour_trust.feeds.contract import (
    NINO_SEARCH_PATTERN,
    RULES,
    ContractReport,
    check_share_month,
    validate_batches,
)
from labour_trust.feeds.departments import BUSINESS_POPULATION, FEEDS, PAYE_RTI, UC_CLAIMANTS
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.feeds.linkage_check import linkage_key_conflict
from labour_trust.shares.pinned import SharePointer, iter_month_batches, pointer_for
from labour_trust.synthetic.feeds import generate_month
from labour_trust_tests.conftest import TEST_MONTHS

KEY = LinkageKey(b"contract-rules-test")
MONTHS = ("2024-01", "2024-02", "2024-03", "2024-04")
CHECKED = MONTHS[-1]  # the month a test spoils; the three before are its history
NEW_RULES = ("finite", "plausible_bounds", "month_partition", "key_version", "magnitude")


def month_table(spec, month: str, key: LinkageKey = KEY) -> pa.Table:
    batches = generate_month(spec, month, scale=0.0002, seed=11, key=key)
    return pa.Table.from_batches(list(batches), schema=spec.schema)


def publish(uri: str, table: pa.Table, month: str) -> None:
    """What a department does: one commit replacing one month."""
    write_deltalake(
        uri, table, mode="overwrite", predicate=f"month = '{month}'", partition_by=["month"]
    )


def read_month(uri: str, month: str) -> pa.Table:
    dataset = DeltaTable(uri).to_pyarrow_dataset()
    return dataset.to_table(filter=pds.field("month") == month)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shares")
    for spec in (PAYE_RTI, BUSINESS_POPULATION):
        for month in MONTHS:
            publish(str(root / spec.table), month_table(spec, month), month)
    return root


@pytest.fixture
def shares(seeded: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded shares, so a test may spoil them."""
    shutil.copytree(seeded, tmp_path, dirs_exist_ok=True)
    return tmp_path


def check(shares: Path, spec, month: str = CHECKED) -> ContractReport:
    return check_share_month(spec, DeltaTable(str(shares / spec.table)), month)


def failed(report: ContractReport) -> dict[str, str]:
    """Rule -> the messages an operator sees for it."""
    out: dict[str, list[str]] = {}
    for v in report.violations:
        out.setdefault(v.rule, []).append(v.message())
    return {rule: "\n".join(texts) for rule, texts in out.items()}


def with_values(table: pa.Table, column: str, rows: dict[int, object]) -> pa.Table:
    values = table[column].to_pylist()
    for row, value in rows.items():
        values[row] = value
    index = table.schema.get_field_index(column)
    return table.set_column(index, table.schema.field(column), pa.array(values, table[column].type))


def spoil(shares: Path, spec, column: str, rows: dict[int, object]) -> None:
    uri = str(shares / spec.table)
    publish(uri, with_values(read_month(uri, CHECKED), column, rows), CHECKED)


def test_new_rules_are_blocking_checks_of_every_feed():
    assert set(NEW_RULES) <= set(RULES)
    from labour_trust.defs.feeds import contract_check_specs

    for spec in FEEDS:
        names = {c.name for c in contract_check_specs(spec) if c.blocking}
        assert set(NEW_RULES) <= names


def test_good_months_pass_every_rule(shares):
    for spec in (PAYE_RTI, BUSINESS_POPULATION):
        for month in MONTHS:
            report = check(shares, spec, month)
            assert report.passed, report.summary()
            assert report.key_version == KEY.version


# --- 1. finite, plausible numbers ------------------------------------------------------


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_pay_is_rejected(shares, value):
    spoil(shares, PAYE_RTI, "gross_pay_month", {4: value, 9: value})
    rules = failed(check(shares, PAYE_RTI))
    text = rules["finite"]
    assert "hmrc/paye_rti month 2024-04: column 'gross_pay_month' breaks rule 'finite'" in text
    assert "2 row(s), e.g. at row 4, 9" in text
    # NaN is not reported as a missing value; -inf is also negative.
    expected = {"finite", "non_negative"} if value < 0 else {"finite"}
    assert set(rules) == expected


@pytest.mark.parametrize(
    ("spec", "column", "value"),
    [
        (PAYE_RTI, "gross_pay_month", 1e308),
        (PAYE_RTI, "gross_pay_month", 1_000_000.01),
        (BUSINESS_POPULATION, "employment", 2_000_001),
        (BUSINESS_POPULATION, "turnover", 10**15),
    ],
)
def test_implausible_numbers_are_rejected(shares, spec, column, value):
    spoil(shares, spec, column, {7: value})
    rules = failed(check(shares, spec))
    assert set(rules) == {"plausible_bounds"}
    text = rules["plausible_bounds"]
    assert f"column '{column}' breaks rule 'plausible_bounds'" in text
    assert "1 row(s), e.g. at row 7" in text and str(value) not in text


def test_values_at_the_bound_pass(shares):
    spoil(shares, PAYE_RTI, "gross_pay_month", {7: 1_000_000.0})
    assert check(shares, PAYE_RTI).passed


def test_every_numeric_column_declares_a_bound():
    for spec in FEEDS:
        numeric = {
            f.name
            for f in spec.schema
            if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        }
        assert numeric == set(spec.upper_bounds), spec.name
        assert set(spec.magnitude_columns) <= numeric


# --- 2. magnitude against the trailing months -------------------------------------------


def scale_column(shares: Path, spec, column: str, factor: float) -> None:
    uri = str(shares / spec.table)
    table = read_month(uri, CHECKED)
    scaled = pc.multiply(pc.cast(table[column], pa.float64()), factor)
    if pa.types.is_integer(table[column].type):
        scaled = pc.cast(pc.round(scaled), table[column].type)
    index = table.schema.get_field_index(column)
    publish(uri, table.set_column(index, table.schema.field(column), scaled), CHECKED)


def test_pay_published_in_pence_is_rejected(shares):
    scale_column(shares, PAYE_RTI, "gross_pay_month", 100)
    rules = failed(check(shares, PAYE_RTI))
    assert "magnitude" in rules  # (a few pence values may also exceed the bound)
    text = rules["magnitude"]
    assert "column 'gross_pay_month' breaks rule 'magnitude'" in text
    assert re.search(r"median is 10\d\.?\d*× the median of 2024-01, 2024-02, 2024-03", text)
    assert "allowed ×/÷ 3" in text


def test_turnover_a_hundredth_is_rejected(shares):
    scale_column(shares, BUSINESS_POPULATION, "turnover", 0.01)
    rules = failed(check(shares, BUSINESS_POPULATION))
    assert set(rules) == {"magnitude"}
    assert "column 'turnover'" in rules["magnitude"] and "0.01" in rules["magnitude"]
    assert "employment" not in rules["magnitude"]


def test_ordinary_movement_passes(shares):
    scale_column(shares, PAYE_RTI, "gross_pay_month", 1.5)  # a pay rise, not a unit change
    report = check(shares, PAYE_RTI)
    assert report.passed, report.summary()
    assert report.medians["gross_pay_month"] > 0


def test_first_month_has_no_history_to_compare(shares):
    uri = str(shares / PAYE_RTI.table)
    table = read_month(uri, MONTHS[0])
    index = table.schema.get_field_index("gross_pay_month")
    pay = pc.multiply(table["gross_pay_month"], 100.0)
    publish(uri, table.set_column(index, table.schema.field("gross_pay_month"), pay), MONTHS[0])
    assert "magnitude" not in failed(check(shares, PAYE_RTI, MONTHS[0]))


# --- 3. the month column against the partition value ----------------------------------


def commit_crafted_file(uri: str, table: pa.Table, partition: str, name: str) -> None:
    """A data file written by hand into a partition folder and committed to the log with
    deltalake's transaction API: a file that stores its own month column."""
    path = f"month={partition}/{name}"
    pq.write_table(table, f"{uri}/{path}")
    size = os.path.getsize(f"{uri}/{path}")
    add = AddAction(
        path,
        size,
        {"month": partition},
        int(time.time() * 1000),
        True,
        json.dumps({"numRecords": table.num_rows}),
    )
    share = DeltaTable(uri)
    share.create_write_transaction([add], "append", share.schema(), partition_by=["month"])


@pytest.mark.parametrize("stored", ["2024-03", "2024-04"])
def test_file_with_its_own_month_column(shares, stored):
    uri = str(shares / PAYE_RTI.table)
    table = read_month(uri, CHECKED)
    kept = table.num_rows - 6
    publish(uri, table.slice(0, kept), CHECKED)
    moved = table.slice(kept)
    moved = moved.set_column(
        moved.schema.get_field_index("month"), "month", pa.array([stored] * 6, pa.string())
    )
    commit_crafted_file(uri, moved, CHECKED, "crafted.parquet")

    report = check(shares, PAYE_RTI)
    assert report.rows == table.num_rows  # read as partition 2024-04 either way
    if stored == CHECKED:
        assert report.passed, report.summary()
        return
    rules = failed(report)
    assert set(rules) == {"month_partition"}
    text = rules["month_partition"]
    assert "column 'month' breaks rule 'month_partition'" in text
    assert "data file month=2024-04/crafted.parquet" in text and "partition month=2024-04" in text
    assert "6 row(s)" in text
    # The positions are those of the moved rows in the month as it is read.
    (violation,) = report.violations
    streamed = pa.Table.from_batches(
        iter_month_batches(PAYE_RTI.name, DeltaTable(uri), CHECKED)
    ).take(list(violation.positions))
    assert streamed["person_token"].to_pylist() == moved["person_token"].to_pylist()[:5]


def test_rows_of_another_month_in_a_stream_are_rejected():
    table = month_table(PAYE_RTI, CHECKED)
    months = ["2024-05" if i in (3, 8) else CHECKED for i in range(table.num_rows)]
    table = table.set_column(table.schema.get_field_index("month"), "month", pa.array(months))
    report = validate_batches(PAYE_RTI, CHECKED, table.to_batches(max_chunksize=500))
    assert {v.rule for v in report.violations} == {"month_partition"}
    assert report.violations[0].positions == (3, 8)


# --- 4. an emptied month ----------------------------------------------------------------


def test_emptied_month_names_the_version_and_the_rows_before(shares):
    uri = str(shares / PAYE_RTI.table)
    before = read_month(uri, "2024-03")
    previous = DeltaTable(uri).version()
    publish(uri, before.slice(0, 0), "2024-03")
    report = check(shares, PAYE_RTI, "2024-03")
    rules = failed(report)
    assert set(rules) == {"not_empty"}
    assert (
        f"the month was emptied at version {previous + 1}; the previous version {previous} "
        f"held {before.num_rows} rows" in rules["not_empty"]
    )
    # Later commits to other months do not hide which commit emptied it.
    publish(uri, read_month(uri, "2024-01"), "2024-01")
    assert f"emptied at version {previous + 1}" in check(shares, PAYE_RTI, "2024-03").summary()


def test_a_month_never_published_is_only_empty(shares):
    rules = failed(check(shares, PAYE_RTI, "2024-09"))
    assert set(rules) == {"not_empty"} and "emptied" not in rules["not_empty"]


# --- 5. linkage key version ---------------------------------------------------------------


def test_two_key_versions_in_one_month_are_rejected(shares):
    uri = str(shares / PAYE_RTI.table)
    other = LinkageKey(b"rotated-key")
    table = read_month(uri, CHECKED)
    stale = month_table(PAYE_RTI, CHECKED, key=other).slice(0, 3)
    publish(uri, pa.concat_tables([table, stale]), CHECKED)
    report = check(shares, PAYE_RTI)
    rules = failed(report)
    assert "key_version" in rules  # volume may or may not notice 3 more rows
    text = rules["key_version"]
    assert f"{KEY.version} ({table.num_rows} rows)" in text and f"{other.version} (3 rows)" in text
    # the rows named are the minority version's; their positions follow the files' read order
    assert re.search(r": 3 row\(s\), e\.g\. at row \d+, \d+, \d+$", text)
    assert report.key_version is None


def test_pointer_records_the_key_version_and_old_pointers_still_load(shares):
    table = DeltaTable(str(shares / PAYE_RTI.table))
    report = check_share_month(PAYE_RTI, table, CHECKED)
    pointer = pointer_for(PAYE_RTI.name, "uri", table, CHECKED, report.rows, report.key_version)
    assert pointer.key_version == KEY.version
    assert SharePointer.from_json(pointer.to_json()) == pointer
    old = json.loads(pointer.to_json())
    del old["key_version"]
    assert SharePointer.from_json(json.dumps(old)).key_version is None


def test_feed_asset_writes_the_key_version_into_its_pointer(home, linkage_key):
    result = dg.materialize(
        [build_feed_asset(UC_CLAIMANTS)],
        resources=build_resources(home),
        partition_key=TEST_MONTHS[0],
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    path = home / "pointers" / "dwp" / "uc_claimants" / f"{TEST_MONTHS[0]}.json"
    assert SharePointer.from_json(path.read_text()).key_version == linkage_key.version


def pointer(share: str, month: str, key_version: str | None) -> SharePointer:
    return SharePointer(share, f"/shares/{share}", month, 1, 10, 100, 1, "h", key_version)


def test_linkage_key_conflict_names_every_share_of_the_month():
    pointers = [
        pointer("dwp/uc_claimants", "2024-01", "aaaa1111"),
        pointer("hmrc/paye_rti", "2024-01", "bbbb2222"),
        pointer("dfe/fe_learners", "2024-01", None),
        pointer("hmrc/paye_rti", "2024-02", "aaaa1111"),
    ]
    message = linkage_key_conflict(pointers)
    assert message is not None and "2024-02" not in message
    assert message.startswith("month 2024-01: ")
    for named in (
        "dfe/fe_learners key version unknown",
        "dwp/uc_claimants key version aaaa1111",
        "hmrc/paye_rti key version bbbb2222",
    ):
        assert named in message


def test_linkage_keys_that_agree_or_are_unknown_are_no_conflict():
    assert linkage_key_conflict([]) is None
    agree = [pointer("dwp/uc_claimants", "2024-01", "aaaa1111")]
    agree += [pointer("hmrc/paye_rti", "2024-01", "aaaa1111")]
    agree += [pointer("dfe/fe_learners", "2024-01", None)]
    agree += [pointer("hmrc/paye_rti", "2024-02", "bbbb2222")]  # another month, another key
    assert linkage_key_conflict(agree) is None


# --- 6. raw NINOs in any case and spacing -----------------------------------------------

NINOS = ["ab123456c", "AB 12 34 56 C", " ab 123456 c", "qq123456d"]


@pytest.mark.parametrize("nino", NINOS)
@pytest.mark.parametrize("column", ["person_token", "employer_token", "sic_section"])
def test_raw_nino_in_any_case_and_spacing_is_rejected(shares, nino, column):
    spoil(shares, PAYE_RTI, column, {5: nino})
    report = check(shares, PAYE_RTI)
    (violation,) = report.for_rule("no_raw_nino")
    assert (violation.column, violation.rows, violation.positions) == (column, 1, (5,))
    assert nino.strip() not in report.summary() and "123456" not in report.summary()


def test_genuine_tokens_with_nino_shaped_hex_pass():
    # About one HMAC token in nine holds a run like 'ab123456c' by chance: a token column is
    # searched only in values that are not well-formed tokens, or those people would fail.
    table = month_table(PAYE_RTI, CHECKED)
    shaped = pc.match_substring_regex(table["person_token"], NINO_SEARCH_PATTERN, ignore_case=True)
    assert pc.sum(shaped).as_py() > 0
    assert validate_batches(PAYE_RTI, CHECKED, table.to_batches(max_chunksize=500)).passed
