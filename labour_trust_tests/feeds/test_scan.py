"""Feeds as the trust's steps read them: tokens as integers, memory bounded."""

import gc
import os
import secrets

import pyarrow as pa

from labour_trust.feeds.scan import MEMORY_ENV, TOKEN_HEX_DIGITS, bounded_connection, register_feed


def _tokens(n: int) -> list[str]:
    return [secrets.token_hex(32) for _ in range(n)]


def test_tokens_join_count_and_sort_as_the_strings_do():
    people = _tokens(200)
    claims = pa.table(
        {"person_token": people[:120], "lad_code": ["E1"] * 120, "month": ["m"] * 120}
    )
    jobs = pa.table({"person_token": people[80:] + people[80:90], "month": ["m"] * 130})
    con = bounded_connection()
    register_feed(con, "uc_claimants", claims)
    register_feed(con, "paye_rti", jobs)
    assert con.sql("SELECT typeof(person_token) FROM paye_rti LIMIT 1").fetchall() == [
        ("UHUGEINT",)
    ]
    both = con.sql(
        "SELECT count(DISTINCT u.person_token) FROM uc_claimants u "
        "JOIN paye_rti p USING (person_token)"
    ).fetchall()[0][0]
    assert both == len(set(people[:120]) & set(people[80:]))  # 40
    ordered = con.sql("SELECT person_token FROM uc_claimants ORDER BY 1").to_arrow_table()
    # Exported whole (124 bits fit Arrow's decimal128), in the tokens' own order.
    values = [int(v) for v in ordered["person_token"].to_pylist()]
    assert values == [int(t[:TOKEN_HEX_DIGITS], 16) for t in sorted(people[:120])]


def test_memory_is_bounded_and_spills_go_to_a_folder_removed_with_the_connection(
    monkeypatch,
):
    monkeypatch.setenv(MEMORY_ENV, "512MB")
    con = bounded_connection()
    limit = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
    spill = con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert limit.replace(" ", "") in {"488.2MiB", "512.0MB", "488.3MiB"}
    # A sort larger than the limit completes by spilling.
    rows = con.sql(
        "SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS h FROM range(12000000) t(i) ORDER BY h)"
    ).fetchall()[0][0]
    assert rows == 12_000_000
    assert os.path.isdir(spill)
    con.close()
    del con
    gc.collect()
    assert not os.path.exists(spill)
