"""The synthetic department feeds: contract, determinism and realism at small scale."""

from __future__ import annotations

import re
from functools import cache

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from labour_trust.feeds.departments import (
    BUSINESS_POPULATION,
    FE_LEARNERS,
    FEEDS,
    PAYE_RTI,
    UC_CLAIMANTS,
)
from labour_trust.feeds.linkage import NINO_PATTERN, TOKEN_PATTERN, LinkageKey
from labour_trust.feeds.spec import FeedSpec
from labour_trust.reference.geography import lad_codes
from labour_trust.synthetic import generate_month, month_range
from labour_trust.synthetic.tokens import hmac_hex, ninos

KEY = LinkageKey(b"test-linkage-key-0123456789")
SCALE = 0.001
SEED = 11
MONTHS = month_range("2024-01:2024-07")


@cache
def table(
    spec: FeedSpec, month: str, scale: float = SCALE, seed: int = SEED, revision: int = 0
) -> pa.Table:
    batches = generate_month(spec, month, scale=scale, seed=seed, key=KEY, revision=revision)
    return pa.Table.from_batches(list(batches), schema=spec.schema)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """UC, PAYE and FE for seven months, registered for SQL like the trust would query."""
    con = duckdb.connect()
    for name, spec in (("uc", UC_CLAIMANTS), ("paye", PAYE_RTI), ("fe", FE_LEARNERS)):
        con.register(name, pa.concat_tables([table(spec, m) for m in MONTHS]))
    con.register("beis", table(BUSINESS_POPULATION, MONTHS[0]))
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.sql(sql).fetchall()[0][0]


def test_month_range() -> None:
    assert month_range("2024-11:2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert month_range("2024-03") == ["2024-03"]
    assert len(month_range("2024-01:2024-12")) == 12
    with pytest.raises(ValueError):
        month_range("2024-13")
    with pytest.raises(ValueError):
        month_range("2024-05:2024-04")


@pytest.mark.parametrize("spec", FEEDS, ids=lambda s: s.name)
def test_batches_match_the_contract(spec: FeedSpec) -> None:
    batches = list(generate_month(spec, "2024-03", scale=SCALE, seed=SEED, key=KEY))
    assert batches
    for batch in batches:
        assert batch.schema.equals(spec.schema), batch.schema
    data = pa.Table.from_batches(batches)
    assert data.num_rows > 0
    for name in data.column_names:
        assert data[name].null_count == 0, name
    assert pc.all(pc.equal(data["month"], "2024-03")).as_py()
    assert pc.all(pc.equal(data["key_version"], KEY.version)).as_py()
    assert set(pc.unique(data["lad_code"]).to_pylist()) <= lad_codes()
    for column in spec.token_columns:
        assert pc.all(pc.match_substring_regex(data[column], TOKEN_PATTERN)).as_py(), column
    for column, allowed in spec.allowed_values.items():
        assert set(pc.unique(data[column]).to_pylist()) <= set(allowed), column
    for column in spec.non_negative_columns:
        assert pc.min(data[column]).as_py() >= 0, column


@pytest.mark.parametrize("spec", FEEDS, ids=lambda s: s.name)
def test_key_columns_unique_within_a_month(spec: FeedSpec) -> None:
    data = table(spec, "2024-03")
    keys = [c for c in spec.key_columns if c != "month"]
    distinct = data.group_by(keys).aggregate([]).num_rows
    assert distinct == data.num_rows


@pytest.mark.parametrize("spec", FEEDS, ids=lambda s: s.name)
def test_no_raw_nino_in_any_string_column(spec: FeedSpec) -> None:
    data = table(spec, "2024-03", revision=1)
    for field in data.schema:
        if pa.types.is_string(field.type):
            hits = pc.sum(pc.match_substring_regex(data[field.name], NINO_PATTERN)).as_py()
            assert not hits, field.name


def test_deterministic_for_seed_scale_month_revision() -> None:
    for spec in FEEDS:
        first = list(generate_month(spec, "2024-02", scale=SCALE, seed=SEED, key=KEY))
        again = list(generate_month(spec, "2024-02", scale=SCALE, seed=SEED, key=KEY))
        assert pa.Table.from_batches(first).equals(pa.Table.from_batches(again)), spec.name
    base = table(UC_CLAIMANTS, "2024-02")
    assert not base.equals(table(UC_CLAIMANTS, "2024-02", seed=SEED + 1))
    assert not base.equals(table(UC_CLAIMANTS, "2024-02", revision=1))
    assert not table(UC_CLAIMANTS, "2024-02", revision=1).equals(
        table(UC_CLAIMANTS, "2024-02", revision=2)
    )


def test_batch_size_bounds_batches_not_content() -> None:
    small = list(
        generate_month(PAYE_RTI, "2024-02", scale=SCALE, seed=SEED, key=KEY, batch_rows=5_000)
    )
    assert max(b.num_rows for b in small) <= 5_000
    assert pa.Table.from_batches(small).equals(table(PAYE_RTI, "2024-02"))


@pytest.mark.parametrize("spec", FEEDS, ids=lambda s: s.name)
def test_volumes_follow_scale(spec: FeedSpec) -> None:
    rows = table(spec, "2024-03").num_rows
    expected = spec.rows_per_month * SCALE
    assert 0.75 * expected <= rows <= 1.25 * expected, (rows, expected)


def test_person_tokens_are_hmac_of_distinct_valid_ninos() -> None:
    ids = np.arange(0, 2_000_000, 997, dtype=np.int64)
    matrix = ninos(ids, SEED)
    strings = [bytes(row).decode() for row in matrix]
    assert len(set(strings)) == len(strings)
    assert all(re.fullmatch(NINO_PATTERN, s) for s in strings)
    tokens = [bytes(row).decode() for row in hmac_hex(KEY, matrix[:50])]
    assert tokens == [KEY.person_token(s) for s in strings[:50]]


def test_people_overlap_across_feeds(con) -> None:
    both = one(
        con,
        "select count(distinct person_token) from uc semi join paye using (person_token, month)",
    )
    assert both > 0
    # Working regimes are in PAYE the same month; the others are not.
    in_work = con.sql("""
        select conditionality_regime like 'Working%' as working,
               avg((p.person_token is not null)::int) as share
        from uc left join (select distinct person_token, month from paye) p
             using (person_token, month)
        group by 1 order by 1""").fetchall()
    assert in_work == [(False, 0.0), (True, 1.0)]


def test_claimants_flow_into_employment(con) -> None:
    def employed_later(lag: int) -> float:
        return one(
            con,
            f"""
            select avg((p.person_token is not null)::int) from uc
            left join (select distinct person_token from paye where month = '{MONTHS[lag]}') p
                 using (person_token)
            where uc.month = '{MONTHS[0]}' and conditionality_regime = 'Searching for work'""",
        )

    at3, at6 = employed_later(3), employed_later(6)
    assert 0.15 <= at3 <= 0.45, at3
    assert at3 < at6 <= 0.6, at6


def test_claims_persist_with_entries_and_exits(con) -> None:
    stay = one(
        con,
        f"""
        select avg((b.person_token is not null)::int) from uc a
        left join (select person_token from uc where month = '{MONTHS[1]}') b using (person_token)
        where a.month = '{MONTHS[0]}'""",
    )
    assert 0.85 <= stay < 0.99
    bands = dict(con.sql("select duration_band, count(*) from uc group by 1").fetchall())
    assert all(bands.get(b, 0) > 0 for b in ("0-3 months", "1-2 years", "2+ years"))


def test_fe_achievers_later_employed(con) -> None:
    share = one(
        con,
        f"""
        select avg((p.person_token is not null)::int) from fe
        left join (select distinct person_token from paye where month = '{MONTHS[-1]}') p
             using (person_token)
        where fe.outcome = 'achievement' and fe.month <= '{MONTHS[1]}'""",
    )
    assert share > 0.3


def test_jobs_second_jobs_pay_and_start_dates(con) -> None:
    two_jobs = one(
        con,
        """select avg((n > 1)::int) from
        (select person_token, month, count(*) n from paye group by 1, 2)""",
    )
    assert 0.01 <= two_jobs <= 0.08
    assert one(con, "select min(gross_pay_month) from paye") >= 0
    assert one(con, "select count(*) from paye where strftime(start_date, '%Y-%m') > month") == 0
    # A job keeps its start date month to month (a re-hire by the same employer is rare);
    # a new (person, employer) pair is a hire in that month.
    kept, moved = con.sql(f"""select count(*), sum((a.start_date <> b.start_date)::int)
        from paye a join paye b using (person_token, employer_token)
        where a.month = '{MONTHS[2]}' and b.month = '{MONTHS[3]}'""").fetchall()[0]
    assert moved < 0.01 * kept
    late_hires = one(
        con,
        f"""select count(*) from paye b
        anti join (select * from paye where month = '{MONTHS[2]}') a
             using (person_token, employer_token)
        where b.month = '{MONTHS[3]}' and strftime(b.start_date, '%Y-%m') <> b.month""",
    )
    assert late_hires == 0
    medians = dict(
        con.sql("select sic_section, median(gross_pay_month) from paye group by 1").fetchall()
    )
    assert medians["K"] > 2 * medians["I"]


def test_lad_sizes_are_skewed_with_small_cells(con) -> None:
    counts = dict(
        con.sql(
            f"select lad_code, count(*) from uc where month = '{MONTHS[0]}' group by 1"
        ).fetchall()
    )
    sizes = sorted(counts.get(code, 0) for code in lad_codes())
    assert sizes[-1] > 20 * max(sizes[0], 1)
    assert sum(s < 10 for s in sizes) >= 10
    top = sorted(counts, key=counts.get)[-5:]
    assert "E08000025" in top  # Birmingham


def test_employers_are_enterprises_mostly_micro(con) -> None:
    missing = one(
        con,
        f"""select count(distinct employer_token) from paye
        anti join beis on paye.employer_token = beis.enterprise_token
        where paye.month = '{MONTHS[0]}'""",
    )
    assert missing == 0
    micro = one(con, "select avg((size_band = 'micro (0-9)')::int) from beis")
    assert 0.85 <= micro < 0.99
