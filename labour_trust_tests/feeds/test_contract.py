"""The contract over streamed batches: the fast paths must flag exactly what the rules say."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from labour_trust.feeds.contract import is_lower_hex, validate_batches
from labour_trust.feeds.departments import PAYE_RTI
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.synthetic.feeds import generate_month

MONTH = "2024-03"
TOKEN = "0123456789abcdef" * 4


def paye_batches(batch_rows: int = 400) -> list[pa.RecordBatch]:
    batches = generate_month(
        PAYE_RTI,
        MONTH,
        scale=0.0001,
        seed=3,
        key=LinkageKey(b"contract-test"),
        batch_rows=batch_rows,
    )
    return list(batches)


def with_value(batch: pa.RecordBatch, column: str, row: int, value) -> pa.RecordBatch:
    values = batch[column].to_pylist()
    values[row] = value
    index = batch.schema.get_field_index(column)
    return batch.set_column(index, column, pa.array(values, batch.schema.field(column).type))


@pytest.mark.parametrize("position", [0, 1, 62, 63])
def test_every_ascii_character_at_odd_and_even_positions(position):
    # The lookup reads two bytes at a time: a bad byte in either half must be seen.
    tokens = [TOKEN[:position] + chr(code) + TOKEN[position + 1 :] for code in range(1, 128)]
    expected = [re.fullmatch("[0-9a-f]{64}", t) is not None for t in tokens]
    assert is_lower_hex(pa.chunked_array([pa.array(tokens)]), 64).to_pylist() == expected
    assert sum(expected) == 16


def test_wrong_length_null_and_non_ascii_tokens_are_not_hex():
    tokens = [TOKEN, TOKEN[:-1], TOKEN + "a", None, TOKEN[:-1] + "é", TOKEN.upper()]
    column = pa.chunked_array([pa.array(tokens[:3]), pa.array(tokens[3:])])
    assert is_lower_hex(column, 64).to_pylist() == [True, False, False, False, False, False]


def test_good_month_passes_in_several_batches():
    batches = paye_batches()
    assert len(batches) > 2
    report = validate_batches(PAYE_RTI, MONTH, batches)
    assert report.passed, report.summary()
    assert report.rows == sum(b.num_rows for b in batches)


def test_upper_case_token_is_named_by_month_position():
    batches = paye_batches()
    token = batches[1]["employer_token"][7].as_py()
    batches[1] = with_value(batches[1], "employer_token", 7, token.upper())
    report = validate_batches(PAYE_RTI, MONTH, batches)
    (violation,) = report.violations
    assert (violation.rule, violation.column, violation.rows) == (
        "token_format",
        "employer_token",
        1,
    )
    assert violation.positions == (batches[0].num_rows + 7,)
    assert token.upper() not in report.summary()


def test_raw_nino_in_a_coded_column_is_found():
    # Coded columns skip the NINO scan only when every value is in their vocabulary.
    batches = paye_batches()
    batches[0] = with_value(batches[0], "sic_section", 3, "AB123456C")
    report = validate_batches(PAYE_RTI, MONTH, batches)
    rules = {(v.rule, v.column): v.positions for v in report.violations}
    assert rules == {("allowed_values", "sic_section"): (3,), ("no_raw_nino", "sic_section"): (3,)}


def test_repeated_keys_across_batches_name_the_later_rows():
    batches = paye_batches()
    first, second = batches[0].slice(2, 1), batches[1].slice(5, 2)
    batches.append(pa.concat_batches([first, second, first]))
    report = validate_batches(PAYE_RTI, MONTH, batches)
    (violation,) = report.violations
    assert (violation.rule, violation.column) == ("key_unique", "person_token, employer_token")
    end = sum(b.num_rows for b in batches[:-1])
    assert violation.rows == 4
    assert violation.positions == (end, end + 1, end + 2, end + 3)
