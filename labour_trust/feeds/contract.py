"""The data contract of a share, checked in place over streamed record batches.

pandera's pyarrow backend checks each record batch (types, nullability, allowed values,
LAD codes, non-negative values); token format, raw NINOs, finite and plausible numbers, the
month column, key versions, median sketches of magnitude columns and the key fingerprints for
uniqueness (`key_fingerprints`) are computed beside it in the same single pass, which is
faster than pandera's regex and row-wise checks at national volumes. Nothing is converted to
pandas. Rules that need more than the month's rows (schema drift, volume, magnitude against
the trailing months, a file's own month column, an emptied month) read the Delta log or
only the columns they need.

A violation names the share, month, column, rule, the number of offending rows and a few
row positions — never the offending values, since those may be tokens.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import unquote

import narwhals.stable.v1 as nw
import numpy as np
import pandera.pyarrow as pda
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from pandera.backends.pyarrow.register import register_pyarrow_backends
from pandera.errors import SchemaErrorReason, SchemaErrors

from labour_trust.feeds.key_fingerprints import BatchFingerprints, KeyFingerprints, fingerprint
from labour_trust.feeds.linkage import KEY_VERSION_PATTERN
from labour_trust.feeds.spec import FeedSpec
from labour_trust.reference import lad_codes
from labour_trust.shares.commit_log import open_log
from labour_trust.shares.faults import ShareUnavailable
from labour_trust.shares.pinned import ShareReadError, iter_month_batches, month_fingerprints

# pandera registers (and imports) its backends on the first validation; do it here, in the
# importing thread: batches are validated in worker threads, and concurrent first imports
# race ("partially initialized module").
register_pyarrow_backends()

MAX_POSITIONS = 5
# feeds.linkage.NINO_PATTERN in any case and with any whitespace between its characters,
# as normalise_nino reads them: 'ab123456c', 'AB 12 34 56 C' and ' ab 123456 c' are NINOs.
NINO_SEARCH_PATTERN = r"[A-Z]\s*[A-Z]\s*(?:\d\s*){6}[A-D]"

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
    "finite": "Float columns hold no NaN, +inf or -inf.",
    "plausible_bounds": "Numeric columns are within the plausible upper bound the FeedSpec "
    "declares (e.g. gross_pay_month at most £1,000,000 a month).",
    "month_partition": "Every row's month is its Delta partition's month, including a month "
    "column stored inside a data file.",
    "key_version": "One linkage key version within the month.",
    "key_unique": "The key columns identify one row within the month.",
    "schema_drift": "The share's declared (Delta) schema is the contract's: no column added, "
    "removed or retyped.",
    "volume": "Rows of the month are within the feed's tolerance of the trailing three "
    "months' median.",
    "magnitude": "The month's median of each magnitude column (pay, employment, turnover) is "
    "within the feed's factor (×/÷ 3) of the trailing three months' median.",
}
TRAILING_MONTHS = 3
EMPTIED_LOOKBACK = 100  # commits searched back for the one that emptied a month


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
    key_version: str | None = None  # the month's one linkage key version, if it has one
    medians: dict[str, float | None] = field(default_factory=dict)  # magnitude columns

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
    versions: dict[str, _Tally] = {}  # key version -> its rows, in order of first sight
    sketches = {c: MedianSketch() for c in spec.magnitude_columns}
    with ThreadPoolExecutor(threads) as pool:
        outcomes = _bounded_map(pool, _check_batch(spec, month), batches, threads + 1)
        for offset, outcome in _with_offsets(outcomes):
            n_rows, failures, fingerprints, stats = outcome
            for (rule, column, detail), positions, count in failures:
                found.setdefault((rule, column, detail), _Tally()).add(positions, count, offset)
            if fingerprints is not None:
                keys.add(fingerprints)
            for version, (count, positions) in stats.key_versions.items():
                versions.setdefault(version, _Tally()).add(positions, count, offset)
            for column, sketch in stats.sketches.items():
                sketches[column].merge(sketch)
            report.rows += n_rows
    report.violations = [
        Violation(spec.name, month, rule, column, t.rows, tuple(t.positions), detail)
        for (rule, column, detail), t in found.items()
    ]
    if report.rows == 0:
        report.violations.append(Violation(spec.name, month, "not_empty", None, 0))
    if keys.batches and not report.for_rule("schema"):
        report.violations += _duplicate_keys(spec, month, keys)
    report.violations += _mixed_key_versions(spec, month, versions)
    if len(versions) == 1:
        report.key_version = next(iter(versions))
    report.medians = {c: sketch.median() for c, sketch in sketches.items()}
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
    report.violations += month_partition_mismatches(spec, table, month)
    report.violations += magnitude_shift(spec, table, month, report.medians)
    if report.rows == 0:
        _explain_emptied(report, table)
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


def month_partition_mismatches(spec: FeedSpec, table: DeltaTable, month: str) -> list[Violation]:
    """Data files that store a month column of their own holding another month.

    pyarrow fills `month` from the file's Delta partition value and hides a physical column
    of that name, so such rows would silently count in this month. Only each file's footer
    is read, and the file's own month column only where it has one."""
    dataset = table.to_pyarrow_dataset()
    violations = []
    offset = 0  # the file's first row in the month, in iter_month_batches' order
    try:
        for fragment in dataset.get_fragments(filter=pds.field("month") == month):
            if "month" in fragment.physical_schema.names:
                rows, positions = _foreign_months(dataset, fragment.path, month, offset)
                if rows:
                    detail = (
                        f"data file {fragment.path} stores a month column holding other months "
                        f"than its partition month={month}"
                    )
                    violations.append(
                        Violation(
                            spec.name, month, "month_partition", "month", rows, positions, detail
                        )
                    )
            offset += fragment.metadata.num_rows
    except (OSError, pa.ArrowException):
        return violations  # an unreadable file is the `readable` rule's
    return violations


def _foreign_months(
    dataset: pds.FileSystemDataset, path: str, month: str, offset: int
) -> tuple[int, tuple[int, ...]]:
    """Rows (and a few month positions) of a file whose own month column is not `month`."""
    bare = dataset.format.make_fragment(path, dataset.filesystem)  # no partition value
    rows, positions, local = 0, [], 0
    for batch in bare.to_batches(columns=["month"]):
        column = batch.column(0)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            differs = pc.invert(pc.fill_null(pc.equal(column, month), False))
        else:  # a month that is not even a string is never the partition's
            differs = pa.array(np.ones(len(column), dtype=bool))
        found = pc.indices_nonzero(differs)
        rows += len(found)
        room = MAX_POSITIONS - len(positions)
        positions += [offset + local + p for p in found[:room].to_pylist()]
        local += batch.num_rows
    return rows, tuple(positions)


class MedianSketch:
    """A mergeable median: counts of values in bins 0.8 % wide.

    Batches are checked in parallel and a month is never held in memory, so the median
    is built from per-batch counts. A bin is the top bits of the value's IEEE 754 double
    (sign, exponent, 7 mantissa bits): a shift instead of a logarithm, and a ×/÷ factor
    test needs nothing finer."""

    SHIFT = 52 - 7  # keep 7 mantissa bits: 128 bins per power of two
    SIZE = 1 << (63 - SHIFT)  # bin 0 also holds zero and negative values

    def __init__(self) -> None:
        self.counts = np.zeros(self.SIZE, dtype=np.int64)

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        values = pc.cast(pc.drop_null(column), pa.float64()).to_numpy()
        finite = np.isfinite(values)
        if not finite.all():
            values = values[finite]  # non-finite values are the `finite` rule's
        bins = values.view(np.int64) >> self.SHIFT
        np.maximum(bins, 0, out=bins)  # negative doubles have the sign bit: zero's bin
        self.counts += np.bincount(bins, minlength=self.SIZE)

    def merge(self, other: MedianSketch) -> None:
        self.counts += other.counts

    def median(self) -> float | None:
        """The lower median (to within 0.4 %), None without values."""
        total = int(self.counts.sum())
        if not total:
            return None
        index = int(np.searchsorted(np.cumsum(self.counts), (total + 1) // 2))
        if index == 0:
            return 0.0
        middle = (index << self.SHIFT) | (1 << (self.SHIFT - 1))
        return float(np.array([middle], dtype=np.int64).view(np.float64)[0])


def magnitude_shift(
    spec: FeedSpec, table: DeltaTable, month: str, medians: dict[str, float | None]
) -> list[Violation]:
    """Each magnitude column's median against the trailing three months' (pooled) median.

    The trailing months are those present in the share (as for `volume`); only the
    magnitude columns of their files are streamed."""
    columns = [c for c, median in medians.items() if median is not None]
    trailing = sorted(m for m in month_fingerprints(table) if m < month)[-TRAILING_MONTHS:]
    if not columns or not trailing:
        return []  # nothing to compare with yet
    history = {c: MedianSketch() for c in columns}
    with ThreadPoolExecutor(2) as pool:
        for sketches in pool.map(lambda m: month_sketches(spec, table, m, columns), trailing):
            for column, sketch in sketches.items():
                history[column].merge(sketch)
    violations = []
    for column in columns:
        reference, current = history[column].median(), medians[column]
        if reference is None or current is None:
            continue
        problem = _out_of_factor(current, reference, spec.magnitude_factor)
        if problem:
            detail = f"{problem} of {', '.join(trailing)}; allowed ×/÷ {spec.magnitude_factor:g}"
            violations.append(Violation(spec.name, month, "magnitude", column, 0, detail=detail))
    return violations


def _out_of_factor(current: float, reference: float, factor: float) -> str | None:
    """What is wrong with the ratio of two medians (only the ratio: medians are data)."""
    if current == reference == 0:
        return None
    if reference == 0:
        return "the month's median is above zero, against a zero median"
    if current == 0:
        return "the month's median is zero, against a median above zero"
    ratio = current / reference
    if 1 / factor <= ratio <= factor:
        return None
    return f"the month's median is {ratio:.3g}× the median"


def month_sketches(
    spec: FeedSpec, table: DeltaTable, month: str, columns: list[str]
) -> dict[str, MedianSketch]:
    """Median sketches of numeric columns of a month, streaming only those columns."""
    schema = table.to_pyarrow_dataset().schema
    wanted = [c for c in columns if c in schema.names and _is_number(schema.field(c).type)]
    sketches = {c: MedianSketch() for c in wanted}
    if not wanted:
        return sketches
    try:
        for batch in iter_month_batches(spec.name, table, month, columns=wanted):
            for column in wanted:
                sketches[column].add(batch[column])
    except ShareReadError:
        return {}  # that month's own check reports its unreadable file
    return sketches


def _is_number(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_)


def emptied_at(table: DeltaTable, month: str) -> tuple[int, int] | None:
    """(version that removed the month's last files, rows the version before held), or None
    if no commit of the last EMPTIED_LOOKBACK removed files of the month.

    Reads commit files newest first until one removes a file of the month; the rows come
    from the per-file statistics in the log of the version before it (no data is read)."""
    # deltalake keeps the options a table was opened with; S3 shares need them again.
    options = getattr(table, "_storage_options", None)
    version = table.version()
    try:
        store = open_log(table.table_uri, options)
        commits = store.commits(max(0, version - EMPTIED_LOOKBACK + 1), None)
        for commit in reversed([c for c in commits if c.version <= version]):
            if commit.version > 0 and _removes_month(store.read(commit.name), month):
                previous = DeltaTable(
                    table.table_uri, version=commit.version - 1, storage_options=options
                )
                held = month_fingerprints(previous).get(month)
                return commit.version, held.rows if held else 0
    except (ShareUnavailable, DeltaError, OSError, ValueError):
        return None  # the explanation is a courtesy: not_empty fails regardless
    return None


def _removes_month(data: bytes | None, month: str) -> bool:
    for line in (data or b"").splitlines():
        remove = json.loads(line).get("remove") if line.strip() else None
        if remove and _partition_month(remove) == month:
            return True
    return False


def _partition_month(action: dict) -> str | None:
    values = action.get("partitionValues") or {}
    if "month" in values:
        return values["month"]
    # A remove without extended file metadata has no partitionValues: use the hive path.
    for segment in unquote(str(action.get("path", ""))).split("/"):
        if segment.startswith("month="):
            return segment[len("month=") :]
    return None


def _explain_emptied(report: ContractReport, table: DeltaTable) -> None:
    """A month with no files in the log that once had some was emptied by a commit: say
    which, and how many rows the version before held."""
    if report.month in month_fingerprints(table):
        return  # files with zero rows: not emptied through the log
    emptied = emptied_at(table, report.month)
    if emptied is None:
        return
    version, held = emptied
    detail = (
        f"the month was emptied at version {version}; the previous version {version - 1} "
        f"held {held} rows"
    )
    report.violations = [
        Violation(v.share, v.month, v.rule, v.column, v.rows, v.positions, detail)
        if v.rule == "not_empty"
        else v
        for v in report.violations
    ]


@dataclass
class _Tally:
    rows: int = 0
    positions: list[int] = field(default_factory=list)

    def add(self, positions: list[int], count: int, offset: int) -> None:
        self.rows += count
        room = MAX_POSITIONS - len(self.positions)
        self.positions += [offset + p for p in positions[:room]]


_Failure = tuple[tuple[str, str | None, str], list[int], int]


@dataclass
class _BatchStats:
    key_versions: dict[str, tuple[int, list[int]]] = field(default_factory=dict)
    sketches: dict[str, MedianSketch] = field(default_factory=dict)


_BatchOutcome = tuple[int, list[_Failure], BatchFingerprints | None, _BatchStats]


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


def _check_batch(spec: FeedSpec, month: str):
    schema = pandera_schema(spec)
    vocabulary = _vocabulary_columns(spec)

    def check(batch: pa.RecordBatch) -> _BatchOutcome:
        table = pa.Table.from_batches([batch])
        failures = _pandera_failures(schema, table) + _token_failures(table, spec)
        # A column whose every value passed a vocabulary check holds no NINO.
        vetted = vocabulary - {column for (_, column, _), _, _ in failures}
        failures += _nino_failures(table, exclude=(*spec.token_columns, *vetted))
        failures += _number_failures(table, spec) + _month_failures(table, month)
        schema_ok = not any(rule == "schema" for (rule, _, _), _, _ in failures)
        fingerprints = fingerprint(table, spec.key_columns) if schema_ok else None
        return table.num_rows, failures, fingerprints, _batch_stats(table, spec)

    return check


def _number_failures(table: pa.Table, spec: FeedSpec) -> list[_Failure]:
    """NaN and ±inf in any float column, and values above the FeedSpec's plausible bound:
    both pass `non_negative` (+inf, 1e308) and then overflow or poison downstream sums."""
    failures = []
    for name in table.column_names:
        column = table[name]
        floating = pa.types.is_floating(column.type)
        finite = pc.fill_null(pc.is_finite(column), True) if floating else None
        if finite is not None and not pc.all(finite).as_py():
            bad = pc.indices_nonzero(pc.invert(finite))
            failures.append(
                (("finite", name, "NaN or ±inf"), bad[:MAX_POSITIONS].to_pylist(), len(bad))
            )
        bound = spec.upper_bounds.get(name)
        if bound is None or not _is_number(column.type):
            continue  # a wrong type is the schema rule's
        above = pc.fill_null(pc.greater(column, pa.scalar(float(bound))), False)
        if finite is not None:
            above = pc.and_(above, finite)  # +inf is reported once, as not finite
        if pc.any(above).as_py():
            bad = pc.indices_nonzero(above)
            detail = f"above the plausible bound {bound:,.0f}"
            failures.append(
                (("plausible_bounds", name, detail), bad[:MAX_POSITIONS].to_pylist(), len(bad))
            )
    return failures


def _month_failures(table: pa.Table, month: str) -> list[_Failure]:
    """Rows whose month column is not the month being checked."""
    if "month" not in table.column_names or not pa.types.is_string(table["month"].type):
        return []  # the schema rule reports it
    same = pc.fill_null(pc.equal(table["month"], month), False)
    if pc.all(same).as_py():
        return []
    bad = pc.indices_nonzero(pc.invert(same))
    detail = f"month column is not {month}"
    return [(("month_partition", "month", detail), bad[:MAX_POSITIONS].to_pylist(), len(bad))]


def _batch_stats(table: pa.Table, spec: FeedSpec) -> _BatchStats:
    stats = _BatchStats(key_versions=_batch_key_versions(table))
    for name in spec.magnitude_columns:
        if name in table.column_names and _is_number(table[name].type):
            stats.sketches[name] = sketch = MedianSketch()
            sketch.add(table[name])
    return stats


def _batch_key_versions(table: pa.Table) -> dict[str, tuple[int, list[int]]]:
    """Key version -> (rows, first positions) in the batch; nulls are not_null's."""
    if "key_version" not in table.column_names or not pa.types.is_string(table["key_version"].type):
        return {}
    column = table["key_version"]
    bounds = pc.min_max(column)  # one pass, no hashing: a batch almost always has one
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is None:
        return {}
    if low == high:
        first = range(MAX_POSITIONS)
        if column.null_count:
            first = pc.indices_nonzero(pc.is_valid(column))[:MAX_POSITIONS].to_pylist()
        return {low: (len(column) - column.null_count, list(first)[: len(column)])}
    found = {}
    for value in pc.unique(pc.drop_null(column)).to_pylist()[:20]:  # junk: token_format's
        rows = pc.indices_nonzero(pc.fill_null(pc.equal(column, value), False))
        found[value] = (len(rows), rows[:MAX_POSITIONS].to_pylist())
    return found


def _mixed_key_versions(spec: FeedSpec, month: str, versions: dict[str, _Tally]) -> list[Violation]:
    """More than one linkage key version in a month: its tokens would not link together.

    The rows reported are those outside the month's most common version. Key versions are
    key fingerprints, not data, so well-formed ones are named."""
    if len(versions) < 2:
        return []
    main = max(versions, key=lambda v: versions[v].rows)
    others = [t for v, t in versions.items() if v != main]
    positions = sorted(p for t in others for p in t.positions)[:MAX_POSITIONS]
    if all(re.fullmatch(KEY_VERSION_PATTERN, v) for v in versions):
        named = ", ".join(f"{v} ({t.rows} rows)" for v, t in versions.items())
        detail = f"{len(versions)} key versions: {named}"
    else:
        detail = f"{len(versions)} key versions"
    return [
        Violation(
            spec.name,
            month,
            "key_version",
            "key_version",
            sum(t.rows for t in others),
            tuple(positions),
            detail,
        )
    ]


def _vocabulary_columns(spec: FeedSpec) -> set[str]:
    """Columns checked against a closed list of codes, none of them NINO-shaped."""
    names = {f.name for f in spec.schema}
    return set(spec.allowed_values) | ({"lad_code"} & names)


def _pandera_failures(schema: pda.DataFrameSchema, table: pa.Table) -> list[_Failure]:
    try:
        schema.validate(table, lazy=True)
    except SchemaErrors as errors:
        # A check that crashed (e.g. a regex on an int column) repeats a type error.
        described = [
            _describe(error, table)
            for error in errors.schema_errors
            if error.reason_code != SchemaErrorReason.CHECK_ERROR
        ]
        # Failures made only of NaN (pandera's null) are left to the `finite` rule.
        return [f for f in described if f[2] or f[0][0] == "schema"]
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
    values = table[column].combine_chunks() if column in table.column_names else None
    if reason == SchemaErrorReason.SERIES_CONTAINS_NULLS:
        # pandera counts NaN as null; a NaN is the `finite` rule's, not a missing value.
        nulls = pc.is_null(values) if values is not None else _check_output(error, table)
        rule, failing = "not_null", pc.indices_nonzero(pc.fill_null(nulls, False))
    else:  # pandera passes nulls in value checks: not_null reports them
        passed = pc.fill_null(_check_output(error, table), True)
        if values is not None and pa.types.is_floating(values.type):
            passed = pc.or_(passed, pc.fill_null(pc.is_nan(values), False))  # finite's
        rule, failing = error.check.name, pc.indices_nonzero(pc.invert(passed))
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
    """Token format, and raw NINOs in token columns, in any case and spacing — searched
    only in rows that are not well-formed tokens.

    A NINO with a space, or a prefix letter beyond f, or any upper-case letter is not
    lower-case hex, so the token check already singles out its row. What the fast path
    cannot see is a lower-case NINO of hex letters ('ab123456c') inside a well-formed
    64-hex value — but about one genuine HMAC token in nine holds such a run by chance,
    so no search of well-formed tokens could tell a leak from a token: flagging them would
    only flag every ninth person."""
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
        flagged = pc.match_substring_regex(suspects, NINO_SEARCH_PATTERN, ignore_case=True)
        hits = pc.filter(bad, pc.fill_null(flagged, False))
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
        flagged = pc.match_substring_regex(
            encoded.dictionary, NINO_SEARCH_PATTERN, ignore_case=True
        )
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
