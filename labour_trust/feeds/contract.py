"""The data contract of a share, checked in place over streamed record batches.

pandera's pyarrow backend checks each record batch (types, nullability, allowed values,
LAD codes, non-negative values); token format, raw NINOs and the key fingerprints for
uniqueness (`key_fingerprints`) are computed beside it in the same single pass, which is
faster than pandera's regex and row-wise checks at national volumes. Nothing is converted to
pandas.

A violation names the share, month, column, rule, the number of offending rows and a few
row positions — never the offending values, since those may be tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import narwhals.stable.v1 as nw
import numpy as np
import pandera.pyarrow as pda
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from pandera.errors import SchemaErrorReason, SchemaErrors

from labour_trust.feeds.key_fingerprints import BatchFingerprints, KeyFingerprints, fingerprint
from labour_trust.feeds.spec import FeedSpec
from labour_trust.reference import lad_codes
from labour_trust.shares.pinned import ShareReadError, iter_month_batches, month_fingerprints
from labour_trust.trust.linkage import NINO_PATTERN

MAX_POSITIONS = 5

# The contract rules, one blocking asset check each (in this order in the UI).
RULES: dict[str, str] = {
    "readable": "Every data file of the month can be read (no corrupt or missing file).",
    "not_empty": "The month holds at least one row.",
    "schema": "Columns and types are exactly those of the contract.",
    "not_null": "Required columns hold no nulls.",
    "allowed_values": "Coded columns hold only values from the contract's vocabulary.",
    "lad_codes": "lad_code is one of the 361 LADs (December 2023) of the reference lookup.",
    "token_format": "Tokens are 64-character lower-case hex HMAC-SHA256 digests.",
    "no_raw_nino": "No string column holds a raw National Insurance number.",
    "non_negative": "Pay, employment and turnover are not negative.",
    "key_unique": "The key columns identify one row within the month.",
    "schema_drift": "The share's declared (Delta) schema is the contract's: no column added, "
    "removed or retyped.",
    "volume": "Rows of the month are within the feed's tolerance of the trailing three "
    "months' median.",
}
TRAILING_MONTHS = 3


@dataclass(frozen=True)
class Violation:
    share: str
    month: str
    rule: str
    column: str | None
    rows: int
    positions: tuple[int, ...] = ()
    detail: str = ""

    def message(self) -> str:
        where = f"column '{self.column}'" if self.column else "the month"
        text = f"{self.share} month {self.month}: {where} breaks rule '{self.rule}'"
        if self.detail:
            text += f" ({self.detail})"
        if self.rows:
            text += f": {self.rows} row(s)"
            if self.positions:
                text += ", e.g. at row " + ", ".join(map(str, self.positions))
        return text


@dataclass
class ContractReport:
    share: str
    month: str
    rows: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def for_rule(self, rule: str) -> list[Violation]:
        return [v for v in self.violations if v.rule == rule]

    def summary(self) -> str:
        if self.passed:
            return f"{self.share} month {self.month}: contract passed ({self.rows} rows)"
        return "\n".join(v.message() for v in self.violations)


@cache
def pandera_schema(spec: FeedSpec) -> pda.DataFrameSchema:
    """The contract as a pandera (pyarrow backend) schema; check names are rule names.

    Token format is checked beside it (`_token_failures`): tokens are most of a PAYE
    month's bytes, and a byte table is several times faster there than a regex."""
    columns = {}
    for f in spec.schema:
        checks = []
        if f.name in spec.allowed_values:
            checks.append(pda.Check.isin(spec.allowed_values[f.name], name="allowed_values"))
        if f.name == "lad_code":
            checks.append(pda.Check.isin(sorted(lad_codes()), name="lad_codes"))
        if f.name in spec.non_negative_columns:
            checks.append(pda.Check.ge(0, name="non_negative"))
        columns[f.name] = pda.Column(f.type, checks=checks, nullable=f.nullable)
    return pda.DataFrameSchema(columns, strict=True, name=spec.name)


_HEX = np.zeros(256, dtype=bool)
_HEX[list(b"0123456789abcdef")] = True
# Two bytes per lookup (a 64 KiB table that stays in cache): half the work of one byte.
_HEX_PAIRS = (_HEX[:, None] & _HEX[None, :]).ravel()
TOKEN_LENGTHS = {"key_version": 8}  # other token columns: 64 (HMAC-SHA256, hex)


def is_lower_hex(column: pa.ChunkedArray, length: int) -> pa.Array:
    """Lower-case hex of exactly `length` characters (TOKEN_PATTERN without a regex)."""
    return pa.concat_arrays([_chunk_is_lower_hex(chunk, length) for chunk in column.chunks])


def _chunk_is_lower_hex(chunk: pa.Array, length: int) -> pa.Array:
    right_length = pc.fill_null(pc.equal(pc.binary_length(chunk), length), False)
    if length % 2 or not pc.all(right_length).as_py():  # rare: the regex decides row by row
        return pc.fill_null(pc.match_substring_regex(chunk, f"^[0-9a-f]{{{length}}}$"), False)
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
    start, end = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[start:end]
    pairs = data.view(np.uint16).reshape(-1, length // 2)
    valid = np.ones(len(pairs), dtype=bool)
    step = 1 << 16  # slices that stay in cache (and off the allocator's mmap path)
    for i in range(0, len(pairs), step):
        ok = _HEX_PAIRS.take(pairs[i : i + step])
        if not ok.all():  # rare: only then find the rows
            valid[i : i + step] = ok.all(axis=1)
    return pa.array(valid)


_SCHEMA_REASONS = {
    SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME: "missing column",
    SchemaErrorReason.COLUMN_NOT_IN_SCHEMA: "unexpected column",
    SchemaErrorReason.WRONG_DATATYPE: "wrong type",
}


def validate_batches(
    spec: FeedSpec, month: str, batches: Iterable[pa.RecordBatch], threads: int = 2
) -> ContractReport:
    """Check a month's record batches against the contract in one streamed pass."""
    report = ContractReport(spec.name, month)
    found: dict[tuple[str, str | None, str], _Tally] = {}
    keys = KeyFingerprints()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = _bounded_map(pool, _check_batch(spec), batches, threads + 1)
        for offset, outcome in _with_offsets(outcomes):
            n_rows, failures, fingerprints = outcome
            for (rule, column, detail), positions, count in failures:
                found.setdefault((rule, column, detail), _Tally()).add(positions, count, offset)
            if fingerprints is not None:
                keys.add(fingerprints)
            report.rows += n_rows
    report.violations = [
        Violation(spec.name, month, rule, column, t.rows, tuple(t.positions), detail)
        for (rule, column, detail), t in found.items()
    ]
    if report.rows == 0:
        report.violations.append(Violation(spec.name, month, "not_empty", None, 0))
    if keys.batches and not report.for_rule("schema"):
        report.violations += _duplicate_keys(spec, month, keys)
    return report


def check_share_month(spec: FeedSpec, table: DeltaTable, month: str) -> ContractReport:
    """Validate one month of a share in place, at the table's (pinned) version."""
    try:
        report = validate_batches(spec, month, iter_month_batches(spec.name, table, month))
    except ShareReadError as e:
        violation = Violation(spec.name, month, "readable", None, 0, detail=str(e))
        return ContractReport(spec.name, month, violations=[violation])
    report.violations += schema_drift(spec, table, month)
    report.violations += volume_anomaly(spec, table, month, report.rows)
    return report


def schema_drift(spec: FeedSpec, table: DeltaTable, month: str) -> list[Violation]:
    """Columns added, removed or retyped in the table's declared schema (the Delta log)."""
    declared = pa.schema(table.schema().to_arrow())
    contract = {f.name: f.type for f in spec.schema}
    found = {f.name: f.type for f in declared}
    changes = [f"column '{c}' removed" for c in contract if c not in found]
    changes += [f"column '{c}' added ({found[c]})" for c in found if c not in contract]
    changes += [
        f"column '{c}' retyped {contract[c]} → {found[c]}"
        for c in contract
        if c in found and not found[c].equals(contract[c])
    ]
    return [
        Violation(
            spec.name,
            month,
            "schema_drift",
            None,
            0,
            detail=f"{change} at version {table.version()}",
        )
        for change in changes
    ]


def volume_anomaly(spec: FeedSpec, table: DeltaTable, month: str, rows: int) -> list[Violation]:
    """Rows against the median of the trailing months present in the share (log stats only)."""
    by_month = month_fingerprints(table)
    trailing = sorted(m for m in by_month if m < month)[-TRAILING_MONTHS:]
    if not trailing or rows == 0:
        return []  # nothing to compare with yet; an empty month is its own rule
    median = float(np.median([by_month[m].rows for m in trailing]))
    change = rows / median - 1 if median else 0.0
    if abs(change) <= spec.volume_tolerance:
        return []
    detail = (
        f"{rows} rows is {change:+.0%} against the median {median:.0f} of "
        f"{', '.join(trailing)}; tolerance ±{spec.volume_tolerance:.0%}"
    )
    return [Violation(spec.name, month, "volume", None, 0, detail=detail)]


@dataclass
class _Tally:
    rows: int = 0
    positions: list[int] = field(default_factory=list)

    def add(self, positions: list[int], count: int, offset: int) -> None:
        self.rows += count
        room = MAX_POSITIONS - len(self.positions)
        self.positions += [offset + p for p in positions[:room]]


_Failure = tuple[tuple[str, str | None, str], list[int], int]
_BatchOutcome = tuple[int, list[_Failure], BatchFingerprints | None]


def _bounded_map(pool: ThreadPoolExecutor, fn, items: Iterable, depth: int) -> Iterator:
    """Like pool.map, in order, but holding at most `depth` batches in memory."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _with_offsets(outcomes: Iterable[_BatchOutcome]) -> Iterator[tuple[int, _BatchOutcome]]:
    offset = 0
    for outcome in outcomes:
        yield offset, outcome
        offset += outcome[0]


def _check_batch(spec: FeedSpec):
    schema = pandera_schema(spec)
    vocabulary = _vocabulary_columns(spec)

    def check(batch: pa.RecordBatch) -> _BatchOutcome:
        table = pa.Table.from_batches([batch])
        failures = _pandera_failures(schema, table) + _token_failures(table, spec)
        # A column whose every value passed a vocabulary check holds no NINO.
        vetted = vocabulary - {column for (_, column, _), _, _ in failures}
        failures += _nino_failures(table, exclude=(*spec.token_columns, *vetted))
        schema_ok = not any(rule == "schema" for (rule, _, _), _, _ in failures)
        fingerprints = fingerprint(table, spec.key_columns) if schema_ok else None
        return table.num_rows, failures, fingerprints

    return check


def _vocabulary_columns(spec: FeedSpec) -> set[str]:
    """Columns checked against a closed list of codes, none of them NINO-shaped."""
    names = {f.name for f in spec.schema}
    return set(spec.allowed_values) | ({"lad_code"} & names)


def _pandera_failures(schema: pda.DataFrameSchema, table: pa.Table) -> list[_Failure]:
    try:
        schema.validate(table, lazy=True)
    except SchemaErrors as errors:
        # A check that crashed (e.g. a regex on an int column) repeats a type error.
        return [
            _describe(error, table)
            for error in errors.schema_errors
            if error.reason_code != SchemaErrorReason.CHECK_ERROR
        ]
    return []


def _describe(error, table: pa.Table) -> _Failure:
    reason = error.reason_code
    column = error.schema.name if isinstance(error.schema, pda.Column) else None
    if reason in _SCHEMA_REASONS:
        # failure_cases holds column names or type names here, never data values.
        detail = f"{_SCHEMA_REASONS[reason]}: {_first_case(error)}"
        if reason == SchemaErrorReason.WRONG_DATATYPE:
            detail += f", contract says {error.schema.dtype}"
        else:
            column = _first_case(error)
        return ("schema", column, detail), [], 0
    output = _check_output(error, table)
    if reason == SchemaErrorReason.SERIES_CONTAINS_NULLS:
        rule, failing = "not_null", pc.indices_nonzero(pc.fill_null(output, False))
    else:  # pandera passes nulls in value checks: not_null reports them
        rule, failing = error.check.name, pc.indices_nonzero(pc.invert(pc.fill_null(output, True)))
    return (rule, column, ""), failing[:MAX_POSITIONS].to_pylist(), len(failing)


def _first_case(error) -> str:
    cases = error.failure_cases
    return str(cases.column(0)[0].as_py()) if isinstance(cases, pa.Table) else str(cases)


def _check_output(error, table: pa.Table) -> pa.Array:
    """pandera hands back a narwhals expression (built-in checks) or a frame (others)."""
    output = error.check_output
    if isinstance(output, nw.Expr):
        frame = nw.from_native(table, eager_only=True).select(output.alias("check_output"))
    else:
        frame = output.collect() if isinstance(output, nw.LazyFrame) else output
    return frame["check_output"].to_native()


def _token_failures(table: pa.Table, spec: FeedSpec) -> list[_Failure]:
    """Token format, and raw NINOs in token columns — searched only in rows that are not
    well-formed tokens (lower-case hex cannot hold an upper-case NINO)."""
    failures = []
    for name in (*spec.token_columns, "key_version"):
        if name not in table.column_names or not pa.types.is_string(table[name].type):
            continue  # the schema rule reports it
        column = table[name]
        bad = pc.indices_nonzero(pc.invert(is_lower_hex(column, TOKEN_LENGTHS.get(name, 64))))
        if not len(bad):
            continue
        failures.append((("token_format", name, ""), bad[:MAX_POSITIONS].to_pylist(), len(bad)))
        suspects = pc.take(column, bad)
        hits = pc.filter(bad, pc.fill_null(pc.match_substring_regex(suspects, NINO_PATTERN), False))
        if len(hits):
            failures.append(
                (("no_raw_nino", name, ""), hits[:MAX_POSITIONS].to_pylist(), len(hits))
            )
    return failures


def _nino_failures(table: pa.Table, exclude: tuple[str, ...]) -> list[_Failure]:
    """A raw NINO anywhere in any other string column — the one thing that must never leak.

    These are coded columns: each distinct value is tested once, in any case."""
    failures = []
    for name in table.column_names:
        column = table[name]
        if name in exclude or not pa.types.is_string(column.type):
            continue
        encoded = pc.dictionary_encode(column.combine_chunks())
        flagged = pc.match_substring_regex(encoded.dictionary, NINO_PATTERN, ignore_case=True)
        hits = pc.indices_nonzero(pc.fill_null(pc.take(flagged, encoded.indices), False))
        if len(hits):
            failures.append(
                (("no_raw_nino", name, ""), hits[:MAX_POSITIONS].to_pylist(), len(hits))
            )
    return failures


def _duplicate_keys(spec: FeedSpec, month: str, keys: KeyFingerprints) -> list[Violation]:
    repeated = keys.repeated_rows()
    if not len(repeated):
        return []
    return [
        Violation(
            spec.name,
            month,
            "key_unique",
            ", ".join(spec.key_columns),
            len(repeated),
            tuple(int(p) for p in repeated[:MAX_POSITIONS]),
            "repeated key",
        )
    ]
