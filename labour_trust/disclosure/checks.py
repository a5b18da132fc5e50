"""Blocking checks on a table about to be published.

Each check reads the published table (and, for magnitudes, the contributor-level values)
and returns a ``CheckResult`` whose violations name the table, column, cell and rule.
They re-check the policy's outcome with their own code rather than trusting the engine's
status: a published count must be 0 or at least the threshold and a multiple of the
rounding base; a published magnitude must have enough contributors, pass the dominance
rules and be rounded; and nothing that identifies a person may leave the trust.
``check_published`` runs them all, plus the independent audit of suppressed cells.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from labour_trust.disclosure.audit import audit
from labour_trust.disclosure.description import TableDescription
from labour_trust.disclosure.policy import DisclosurePolicy
from labour_trust.feeds.linkage import NINO_PATTERN

# Column names that suggest person-level or linkage data.
IDENTIFIER_COLUMN = re.compile(
    r"token|nino|national_insurance|person|individual|employer_id|enterprise_id|"
    r"(^|_)ni_?number",
    re.IGNORECASE,
)
HEX64_PATTERN = r"[0-9a-fA-F]{64}"
MAX_LISTED = 50  # violations listed per check; the count is always complete
# Every blocking check, by name → what it guarantees. The names are those of the published
# assets' checks too (a ``CheckResult`` with any other name is an error, so that no check
# can go unreported).
SDC_CHECKS = {
    "columns": "Only the declared, publishable columns are present.",
    "identifiers": "No token, identifier or person-level column or value is present.",
    "counts": "Every published count is at least the threshold and a multiple of the base.",
    "magnitudes": "Every published magnitude has enough contributors and passes the p% and "
    "(n, k) dominance rules.",
    "audit": "Independent LP audit: no suppressed cell can be narrowed below its protection "
    "level from what is published.",
}


@dataclass(frozen=True)
class Violation:
    table: str
    column: str
    cell: dict[str, object]
    rule: str
    detail: str

    @property
    def message(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.cell.items())
        return f"{self.table}.{self.column} [{where}] breaks rule {self.rule!r}: {self.detail}"


@dataclass(frozen=True)
class CheckResult:
    check: str  # a name in SDC_CHECKS
    table: str
    passed: bool
    violations: list[Violation] = field(default_factory=list)
    total_violations: int = 0

    def __post_init__(self) -> None:
        if self.check not in SDC_CHECKS:
            raise ValueError(f"unknown SDC check {self.check!r}; known: {', '.join(SDC_CHECKS)}")

    @property
    def message(self) -> str:
        head = f"SDC check {self.check!r} on {self.table}"
        if self.passed:
            return f"{head}: passed"
        listed = "; ".join(v.message for v in self.violations[:5])
        more = self.total_violations - min(5, len(self.violations))
        return f"{head}: {self.total_violations} violation(s): {listed}" + (
            f" (and {more} more)" if more > 0 else ""
        )


def _result(check: str, table: str, violations: list[Violation]) -> CheckResult:
    return CheckResult(check, table, not violations, violations[:MAX_LISTED], len(violations))


def _cells(published: pa.Table, description: TableDescription) -> list[dict[str, object]]:
    dims = description.dimension_columns
    return [
        dict(zip(dims, row, strict=True))
        for row in zip(*(published.column(d).to_pylist() for d in dims), strict=True)
    ]


# -- counts --------------------------------------------------------------------------------


def check_counts(
    published: pa.Table, description: TableDescription, policy: DisclosurePolicy
) -> CheckResult:
    """Published counts: 0 or >= threshold, multiples of the base, no disclosive zeros."""
    name, base = description.name, policy.count_rounding_base
    cells = _cells(published, description)
    violations = []
    for column in description.counts:
        for row, value in enumerate(published.column(column).to_pylist()):
            if value is None or value == 0:
                continue
            if value < policy.threshold:
                violations.append(
                    Violation(
                        name,
                        column,
                        cells[row],
                        "threshold",
                        f"published count {value} < {policy.threshold}",
                    )
                )
            if value % base:
                violations.append(
                    Violation(
                        name,
                        column,
                        cells[row],
                        "rounding",
                        f"published count {value} is not a multiple of {base}",
                    )
                )
    if policy.disclosive_zeros:
        violations.extend(_published_disclosive_zeros(published, description, cells))
    return _result("counts", name, violations)


def _published_disclosive_zeros(
    published: pa.Table, description: TableDescription, cells: list[dict[str, object]]
) -> list[Violation]:
    """Published zeros in an attribute breakdown whose fully published family shows the
    whole (non-empty) group in one category."""
    values = {c: published.column(c).to_pylist() for c in description.counts}
    found = []
    for parent, children in _attribute_families(published, description):
        total = values[parent[1]][parent[0]]
        kids = [values[c][r] for r, c in children]
        if not total or any(k is None for k in kids) or len(kids) < 2:
            continue
        if sum(1 for k in kids if k) == 1:
            for (r, c), k in zip(children, kids, strict=True):
                if k == 0:
                    found.append(
                        Violation(
                            description.name,
                            c,
                            cells[r],
                            "disclosive_zero",
                            f"published 0 beside a total of {total} held by one category",
                        )
                    )
    return found


def _attribute_families(
    published: pa.Table, description: TableDescription
) -> list[tuple[tuple[int, str], list[tuple[int, str]]]]:
    """(parent cell, child cells) for attribute breakdowns of counts; cells = (row, col)."""
    dims = description.dimension_columns
    keys = list(zip(*(published.column(d).to_pylist() for d in dims), strict=True))
    index = {k: i for i, k in enumerate(keys)}
    families = []
    for pos, dim in enumerate(description.dimensions):
        if not (dim.attribute and dim.parent):
            continue
        kids: dict[int, list[int]] = defaultdict(list)
        for row, key in enumerate(keys):
            if key[pos] in dim.parent:
                up = index.get((*key[:pos], dim.parent[key[pos]], *key[pos + 1 :]))
                if up is not None:
                    kids[up].append(row)
        for column in description.counts:
            families += [((p, column), [(r, column) for r in rs]) for p, rs in kids.items()]
    for group in description.column_groups:
        if not group.attribute or not set(group.parent.values()) <= set(description.counts):
            continue
        members: dict[str, list[str]] = defaultdict(list)
        for child, parent in group.parent.items():
            members[parent].append(child)
        for row in range(len(keys)):
            families += [((row, p), [(row, c) for c in cs]) for p, cs in members.items()]
    return families


# -- magnitudes ----------------------------------------------------------------------------


def check_magnitudes(
    published: pa.Table,
    description: TableDescription,
    policy: DisclosurePolicy,
    contributors: pa.Table | Mapping[str, pa.Table] | None,
) -> CheckResult:
    """Published magnitudes: enough contributors, both dominance rules, rounded."""
    name = description.name
    cells = _cells(published, description)
    dims = description.dimension_columns
    violations = []
    for magnitude in description.magnitudes:
        source = (
            contributors
            if isinstance(contributors, pa.Table)
            else ((contributors or {}).get(magnitude.column))
        )
        values = published.column(magnitude.column).to_pylist()
        if source is None:
            if any(v is not None for v in values):
                violations.append(
                    Violation(
                        name,
                        magnitude.column,
                        {},
                        "contributors",
                        "published magnitude without contributor data",
                    )
                )
            continue
        stats = _dominance_stats(source, description, policy.nk_n)
        step = policy.rounding_step(magnitude.unit)
        for row, value in enumerate(values):
            if value is None:
                continue
            key = tuple(cells[row][d] for d in dims)
            for rule, detail in _magnitude_breaches(stats.get(key), policy, magnitude.dominance):
                violations.append(Violation(name, magnitude.column, cells[row], rule, detail))
            if step is not None and not _is_multiple(value, step):
                violations.append(
                    Violation(
                        name,
                        magnitude.column,
                        cells[row],
                        "rounding",
                        f"{value} is not a multiple of {step}",
                    )
                )
    return _result("magnitudes", name, violations)


def _magnitude_breaches(
    stats: dict[str, float] | None, policy: DisclosurePolicy, dominance: bool
) -> list[tuple[str, str]]:
    if stats is None:
        return [("min_contributors", "no contributors")]
    n, total, first, second, top = (
        stats["n"],
        stats["total"],
        stats["first"],
        stats["second"],
        stats["top"],
    )
    out = []
    if n < policy.threshold:
        out.append(("min_contributors", f"{n:g} contributors < {policy.threshold}"))
    if dominance and total - first - second < policy.p_percent / 100 * first:
        out.append(
            (
                "p_percent",
                f"the others hold {total - first - second:g}, less than "
                f"{policy.p_percent:g}% of the largest ({first:g})",
            )
        )
    if dominance and top > policy.nk_k / 100 * total:
        out.append(
            ("nk_dominance", f"the {policy.nk_n} largest hold {top / total:.1%} > {policy.nk_k:g}%")
        )
    return out


def _dominance_stats(
    contributors: pa.Table, description: TableDescription, nk_n: int
) -> dict[tuple, dict[str, float]]:
    """Per cell at every level: contributor count, sum, largest, second, top-n sum.

    Written independently of the engine's code (window ranks in SQL, not list aggregates
    merged in Python)."""
    con = _connect()
    try:
        con.register("raw", contributors)
        dims = description.dimension_columns
        for i, dim in enumerate(description.dimensions):
            if dim.parent:
                pairs = _self_and_ancestors(dim.parent)
                con.register(
                    f"up_{i}",
                    pa.table({"code": [p[0] for p in pairs], "rollup": [p[1] for p in pairs]}),
                )
        cols = ", ".join(f'"{d}"' for d in dims)
        k = max(2, int(nk_n))
        if "contributor" in contributors.column_names:
            query = _by_contributor_sql(description, cols)
        else:
            query = _by_row_sql(description, cols, k, "contributors" in contributors.column_names)
        query += f"""
            , ranked AS (SELECT *, row_number() OVER (PARTITION BY {cols} ORDER BY v DESC)
                         AS k FROM candidates),
            head AS (
                SELECT {cols}, count(*) AS n, sum(v) AS total,
                       coalesce(sum(v) FILTER (WHERE k = 1), 0) AS first,
                       coalesce(sum(v) FILTER (WHERE k = 2), 0) AS second,
                       coalesce(sum(v) FILTER (WHERE k <= {int(nk_n)}), 0) AS top
                FROM ranked GROUP BY ALL
            )
            SELECT {cols},
                   (coalesce(head.n, 0) + coalesce(tail.n, 0))::BIGINT AS n,
                   (coalesce(head.total, 0) + coalesce(tail.total, 0))::DOUBLE AS total,
                   coalesce(head.first, 0) AS first, coalesce(head.second, 0) AS second,
                   coalesce(head.top, 0) AS top
            FROM head FULL JOIN tail USING ({cols})
        """
        rows = con.sql(query).to_arrow_table().to_pylist()
    finally:
        con.close()
    return {tuple(r[d] for d in dims): r for r in rows}


def _rollup(description: TableDescription, alias: str) -> tuple[str, str]:
    """SELECT list and JOINs mapping ``alias``'s dimension values to every ancestor."""
    selects, joins = [], []
    for i, dim in enumerate(description.dimensions):
        if dim.parent:
            selects.append(f'u{i}.rollup AS "{dim.column}"')
            joins.append(f'JOIN up_{i} u{i} ON u{i}.code = {alias}."{dim.column}"')
        else:
            selects.append(f'{alias}."{dim.column}" AS "{dim.column}"')
    return ", ".join(selects), " ".join(joins)


def _by_contributor_sql(description: TableDescription, cols: str) -> str:
    """Identified contributors: roll every row up, then sum each contributor per cell."""
    select, join = _rollup(description, "r")
    return f"""
        WITH rolled AS (SELECT {select}, r.contributor AS who, r.value AS v
                        FROM raw r {join}),
        candidates AS (SELECT {cols}, who, sum(v) AS v FROM rolled GROUP BY ALL),
        tail AS (SELECT {cols}, 0 AS n, 0.0 AS total FROM candidates WHERE false)
    """


def _by_row_sql(description: TableDescription, cols: str, k: int, summarised: bool) -> str:
    """Each row a contributor: only the k largest of each finest cell can be among the k
    largest of any parent, so only those are rolled up one by one; the rest of each cell
    is rolled up as a count and a sum. A summarised row (``contributors`` > 1: that many
    contributors, ``value`` their sum) is never one of the largest: it joins the rest."""
    top_select, top_join = _rollup(description, "t")
    rest_select, rest_join = _rollup(description, "s")
    weight = "contributors::BIGINT" if summarised else "1"
    return f"""
        WITH weighted AS (SELECT *, {weight} AS w FROM raw),
        ordered AS (SELECT *, CASE WHEN w = 1 THEN row_number() OVER (
                                PARTITION BY {cols}, w = 1 ORDER BY value DESC) END AS k
                    FROM weighted),
        leaf_top AS (SELECT * FROM ordered WHERE k <= {k}),
        leaf_rest AS (SELECT {cols}, sum(w) AS n, sum(value) AS total
                      FROM ordered WHERE k IS NULL OR k > {k} GROUP BY ALL),
        candidates AS (SELECT {top_select}, t.value AS v FROM leaf_top t {top_join}),
        tail AS (SELECT {rest_select}, sum(s.n) AS n, sum(s.total) AS total
                 FROM leaf_rest s {rest_join} GROUP BY ALL)
    """


def _self_and_ancestors(parent: Mapping[str, str]) -> list[tuple[str, str]]:
    pairs = []
    for code in set(parent) | set(parent.values()):
        node = code
        pairs.append((code, node))
        while node in parent:
            node = parent[node]
            pairs.append((code, node))
    return pairs


def _is_multiple(value: float, step: float) -> bool:
    quotient = Decimal(repr(float(value))) / Decimal(repr(float(step)))
    return quotient == quotient.to_integral_value()


# -- identifiers ---------------------------------------------------------------------------


def check_no_identifiers(published: pa.Table, table: str) -> CheckResult:
    """No token/NINO/person-level column, and no value that looks like a token or NINO."""
    violations = []
    for name in published.column_names:
        if IDENTIFIER_COLUMN.search(name):
            violations.append(
                Violation(
                    table,
                    name,
                    {},
                    "identifier_column",
                    "column name suggests person-level or linkage data",
                )
            )
        column = published.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        for rule, pattern in (("token_value", HEX64_PATTERN), ("nino_value", NINO_PATTERN)):
            hits = pc.fill_null(pc.match_substring_regex(column, pattern), False)
            for row in pc.indices_nonzero(hits).to_pylist()[:MAX_LISTED]:
                violations.append(
                    Violation(
                        table,
                        name,
                        {"row": row},
                        rule,
                        "value matches the pattern of a "
                        + (
                            "linkage token"
                            if rule == "token_value"
                            else "National Insurance number"
                        ),
                    )
                )
    return _result("identifiers", table, violations)


# -- columns ------------------------------------------------------------------------------


def check_columns(published: pa.Table, description: TableDescription) -> CheckResult:
    """Only declared, publishable columns: no contributor counts, nothing undeclared."""
    publishable = (
        set(description.dimension_columns)
        | set(description.measure_columns)
        | set(description.labels)
    )
    violations = [
        Violation(
            description.name,
            name,
            {},
            "hidden_column",
            "contributor counts are inputs to disclosure control, not for publication",
        )
        if name in description.hidden_columns
        else Violation(
            description.name,
            name,
            {},
            "undeclared_column",
            "column is not in the table description",
        )
        for name in published.column_names
        if name not in publishable
    ]
    return _result("columns", description.name, violations)


# -- all together --------------------------------------------------------------------------


def check_published(
    published: pa.Table,
    description: TableDescription,
    policy: DisclosurePolicy,
    *,
    contributors: pa.Table | Mapping[str, pa.Table] | None = None,
    run_audit: bool = True,
) -> list[CheckResult]:
    """Every blocking disclosure check on a table about to be published."""
    results = [
        check_columns(published, description),
        check_no_identifiers(published, description.name),
        check_counts(published, description, policy),
    ]
    if description.magnitudes:
        results.append(check_magnitudes(published, description, policy, contributors))
    if run_audit:
        report = audit(published, description, policy)
        results.append(
            _result(
                "audit",
                description.name,
                [
                    Violation(description.name, f.column, f.cell, "protection", f.message)
                    for f in report.failures
                ],
            )
        )
    return results


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # library code: nothing on the terminal
    return con
