"""The Dagster UI as operators and stewards use it: Debian's Chromium, driven by Playwright,
against `labour-trust up` on a small seeded home, where one department's correction then
fails its contract."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as pds
import pytest
from deltalake import DeltaTable, write_deltalake

from labour_trust.defs.sensors import SHARE_TAG
from labour_trust.operations.instance import embedded_instance
from labour_trust_tests.conftest import TEST_MONTHS
from labour_trust_tests.test_cli_up import answers, output, start_up, wait_for

playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GROUPS = ("dwp", "hmrc", "dfe", "beis", "trust", "published", "exports", "restricted")
TIMEOUT_MS = 60_000
SETTLE_TIMEOUT = 480.0  # the daemon computes two small months on two shared cores


def break_paye_month(home: Path, month: str) -> None:
    """HMRC publishes a correction with a negative pay: the contract must fail it."""
    uri = str(home / "shares" / "hmrc" / "paye_rti")
    rows = DeltaTable(uri).to_pyarrow_dataset().to_table(filter=pds.field("month") == month)
    pay = rows["gross_pay_month"].to_numpy().copy()
    pay[0] = -1.0
    index = rows.schema.get_field_index("gross_pay_month")
    bad = rows.set_column(index, "gross_pay_month", pa.array(pay))
    write_deltalake(
        uri, bad, mode="overwrite", predicate=f"month = '{month}'", partition_by=["month"]
    )


@pytest.fixture
def ui(home: Path, tmp_path: Path) -> Iterator[tuple[object, str]]:
    """`up` on a seeded home: the daemon computes every month, then HMRC publishes a bad
    correction, which the shares sensor picks up and the contract fails."""
    if CHROMIUM is None:
        pytest.fail("the UI test needs Chromium: `apt-get install chromium` (.ci/run does)")
    process, port = start_up(home, tmp_path)
    try:
        wait_for(lambda: answers(port), process, tmp_path, "HTTP answer from the webserver")
        instance = embedded_instance(home)
        report = dg.AssetKey(["published", "insight_report"])
        settled = lambda: len(instance.get_materialized_partitions(report)) == len(TEST_MONTHS)  # noqa: E731
        wait_until(settled, process, tmp_path, "every month computed by the daemon")
        break_paye_month(home, "2024-02")
        wait_until(lambda: _failed_share_run(instance), process, tmp_path, "the failed run")
        with playwright.sync_playwright() as p:
            # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            yield page, f"http://127.0.0.1:{port}"
            browser.close()
    finally:
        process.terminate()
        process.wait(60)


def _failed_share_run(instance: dg.DagsterInstance) -> bool:
    runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    return any(SHARE_TAG in run.tags for run in runs)


def wait_until(condition, process, tmp_path: Path, what: str) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {SETTLE_TIMEOUT:.0f} s: {output(tmp_path)}")
        time.sleep(2)


@contextmanager
def screenshot_on_failure(page, tmp_path: Path, name: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failing page: {path}")
        raise


def visit(page, url: str) -> None:
    page.goto(url)


def test_operators_and_stewards_see_lineage_sensors_and_failures(ui, tmp_path: Path) -> None:
    page, base = ui
    expect = playwright.expect
    expect.set_options(timeout=TIMEOUT_MS)  # the UI polls: statuses arrive within seconds

    with screenshot_on_failure(page, tmp_path, "lineage"):
        visit(page, f"{base}/asset-groups")
        for group in GROUPS:  # the global lineage graph draws every group
            expect(page.get_by_text(group, exact=True).first).to_be_visible()

    with screenshot_on_failure(page, tmp_path, "published_asset"):
        visit(page, f"{base}/assets/published/local_labour_market")
        # The column lineage a steward reads without Dagster+: published ← trust ← feeds.
        expect(page.get_by_text("from trust column").first).to_be_visible()
        expect(page.get_by_text("trust/local_labour_market.uc_claimants").first).to_be_visible()

    with screenshot_on_failure(page, tmp_path, "insight_picture"):
        visit(page, f"{base}/assets/published/insight_report")
        # The month's pictures, drawn from published values, in the materialisation.
        page.get_by_text("Show Markdown", exact=False).first.click()
        expect(page.locator("img[src^='data:image/png']").first).to_be_visible()

    with screenshot_on_failure(page, tmp_path, "sensor"):
        visit(page, f"{base}/locations/labour_trust.definitions/sensors/shares_sensor")
        expect(page.get_by_text("Running", exact=True).first).to_be_visible()
        expect(page.get_by_text("hmrc/paye_rti").first).to_be_visible()

    with screenshot_on_failure(page, tmp_path, "failed_check"):
        visit(page, f"{base}/assets/hmrc/paye_rti?view=checks")
        # The corrected month failed its contract: the UI says so, not "passed" or blank.
        # (the list item: the check's name, shown truncated, over its latest status)
        check = page.get_by_text("non_negative", exact=True).first.locator("xpath=../..")
        expect(check).to_contain_text("Failed")

    # dagster.yaml turns the "join the community" prompt off: nothing covers the UI.
    expect(page.get_by_text("Join the Dagster community")).to_have_count(0)
