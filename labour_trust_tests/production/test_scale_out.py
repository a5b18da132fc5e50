"""Two workers with separate empty homes (no shared disk), Dagster on PostgreSQL and every
piece of trust state in S3 (moto), materialise different months of every asset at once:
what they publish equals what one worker publishes for the same months. Four months, so
that the first month's look-ahead outcome (m+3) is due and months read their neighbours."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from labour_trust.benchmarks.scale_out import Cluster, ClusterRun, split_months
from labour_trust.demo.postgres import PostgresUnavailable
from labour_trust.publishing.tables import PUBLISHED
from labour_trust_tests.conftest import TEST_SCALE

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]
# The module's cluster runs the months twice (one worker, then two): about 6 minutes here,
# inside the first test's setup, against the suite's 600 s per test.
pytestmark = pytest.mark.timeout(1500)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    try:
        with Cluster(tmp_path_factory.mktemp("cluster"), TEST_SCALE, MONTHS) as cluster:
            yield cluster
    except PostgresUnavailable as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def runs(cluster: Cluster) -> tuple[ClusterRun, ClusterRun]:
    return cluster.run(1), cluster.run(2)


def test_split_months_gives_each_worker_a_contiguous_run():
    months = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
    assert split_months(months, 2) == [months[:3], months[3:]]
    assert split_months(months[:1], 2) == [months[:1]]


def test_two_workers_publish_what_one_worker_publishes(runs):
    one, two = runs
    assert one.failures == [] and two.failures == []
    expected = {(table, month) for table in PUBLISHED for month in MONTHS}
    assert set(one.publications) == expected
    assert two.publications == one.publications  # same content hashes and agreements
    assert one.exports and two.exports == one.exports
    assert all(any(month in name for name in one.exports) for month in MONTHS)
    # m+3 of the first month is in: computed (a figure, or 'c' if suppressed), not 'z'.
    first = one.exports[f"claimant_outcomes/claimant_outcomes_{MONTHS[0]}.csv"]
    assert {row["employed_m3"] for row in csv.DictReader(io.StringIO(first))} - {"z"}


def test_the_shared_audit_chain_verifies_and_no_worker_writes_to_its_disk(runs):
    for run in runs:
        assert run.audit_ok
        assert run.homes_left == []


def test_runs_and_events_are_in_postgres(cluster: Cluster, runs):
    two = runs[1]
    conn = cluster.postgres.connect(two.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*), count(DISTINCT partition) FROM runs")
            n_runs, n_months = cursor.fetchone()
            cursor.execute(
                "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
            )
            (materialisations,) = cursor.fetchone()
    finally:
        conn.close()
    assert n_runs >= len(MONTHS) and n_months == len(MONTHS)
    assert materialisations > 0
