"""Stage tables shared by the datasets of a run: computed once per month's pinned inputs,
never read across a change of those inputs."""

import secrets

import pyarrow as pa

from labour_trust.feeds.scan import register_feed
from labour_trust.trust.stages import SharedStages, materialise_stages, stage_key

MONTH = "2024-01"
STAGES = ("paye_jobs", "paye_person")


def _jobs(people: list[str], pay: float) -> pa.Table:
    n = len(people)
    return pa.table(
        {
            "person_token": people,
            "lad_code": ["E06000001"] * n,
            "sic_section": ["C"] * n,
            "gross_pay_month": [pay] * n,
            "start_date": pa.array([None] * n, pa.date32()),
            "month": [MONTH] * n,
        }
    )


def _persons(shared: SharedStages, key: str, jobs: pa.Table, reader: str) -> list[tuple]:
    con = shared.database(key, {"local_labour_market", "sector_view"}).cursor()
    register_feed(con, "paye_rti", jobs)
    materialise_stages(con, STAGES, MONTH)
    rows = con.sql("SELECT count(*), sum(pay)::DOUBLE FROM paye_person").fetchall()
    con.close()
    shared.done(reader)
    return rows


def test_the_second_dataset_reads_the_first_ones_stage_and_a_new_version_recomputes():
    people = [secrets.token_hex(32) for _ in range(50)]
    shared = SharedStages()
    v1 = stage_key(MONTH, {"paye@2024-01": 1})
    first = _persons(shared, v1, _jobs(people, 1000.0), "local_labour_market")
    assert first == [(50, 50_000.0)]
    # Same pinned inputs: the stage is not recomputed (this dataset's own scan differs only
    # to show which computation it got; the pipeline's scans of one version are the same).
    assert _persons(shared, v1, _jobs(people[:5], 1.0), "sector_view") == first
    corrected = stage_key(MONTH, {"paye@2024-01": 2})
    assert corrected != v1
    again = _persons(shared, corrected, _jobs(people[:5], 1.0), "local_labour_market")
    assert again == [(5, 5.0)]


def _tables(database) -> set[str]:
    con = database.cursor()
    try:
        return {r[0] for r in con.sql("SHOW TABLES").fetchall()}
    finally:
        con.close()


def test_a_database_is_dropped_when_its_last_reader_is_done_or_another_month_starts():
    people = [secrets.token_hex(32) for _ in range(10)]
    shared = SharedStages()
    key = stage_key(MONTH, {"paye@2024-01": 1})
    _persons(shared, key, _jobs(people, 10.0), "local_labour_market")
    assert "paye_person" in _tables(shared.database(key, set()))  # sector_view to come
    _persons(shared, key, _jobs(people, 10.0), "sector_view")
    # Every reader done: a fresh database, not the old stage.
    assert "paye_person" not in _tables(shared.database(key, {"sector_view"}))
    _persons(shared, key, _jobs(people, 10.0), "local_labour_market")
    # Another month's inputs: this month's stage is dropped first (one held at most).
    other = stage_key("2024-02", {"paye@2024-02": 1})
    assert "paye_person" not in _tables(shared.database(other, {"sector_view"}))
    shared.close()
