"""Fixtures for governance tests: small published Delta tables, registers and a live server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import uvicorn
import yaml
from delta_sharing.protocol import DeltaSharingProfile, Table
from delta_sharing.rest_client import DataSharingRestClient, ListFilesInTableResponse
from deltalake import write_deltalake
from fastapi import FastAPI

from labour_trust.governance.agreements import AgreementRegister, utc_today
from labour_trust.governance.sharing_server import DEFAULT_PREFIX, create_app

# LADs in London (TLI), the North East (TLC) and Wales (TLL), their regions and the UK,
# with the area columns of the trust's published tables (parent: LAD → ITL1 → UK).
AREAS = [
    ("E09000001", "City of London", "lad", "TLI"),
    ("E09000033", "Westminster", "lad", "TLI"),
    ("E06000001", "Hartlepool", "lad", "TLC"),
    ("W06000015", "Cardiff", "lad", "TLL"),
    ("TLI", "London", "itl1", "K02000001"),
    ("TLC", "North East (England)", "itl1", "K02000001"),
    ("TLL", "Wales", "itl1", "K02000001"),
    ("K02000001", "United Kingdom", "uk", None),
]
MONTHS = ["2024-01", "2024-02", "2024-03"]
LONDON = {"E09000001", "E09000033", "TLI"}


def published_table(months: list[str] = MONTHS, bump: int = 0) -> pa.Table:
    """A small published-style table: one row per area and month, with two measures."""
    rows = [
        {
            "month": month,
            "area_code": code,
            "area_name": name,
            "area_level": level,
            "parent_code": parent,
            "uc_claimants": 100 + 10 * i + m + bump,
            "median_pay": 2500.0 + i,
        }
        for m, month in enumerate(months)
        for i, (code, name, level, parent) in enumerate(AREAS)
    ]
    return pa.Table.from_pylist(rows)


def in_region(table: pa.Table, region: str) -> bool:
    """Every row is the region itself or one of its LADs."""
    codes = table.column("area_code").to_pylist()
    parents = table.column("parent_code").to_pylist()
    return all(c == region or p == region for c, p in zip(codes, parents, strict=True))


def write_published(root: Path | str, name: str, table: pa.Table, **options: Any) -> None:
    write_deltalake(
        f"{str(root).rstrip('/')}/{name}",
        table,
        partition_by=["month"],
        mode="overwrite",
        **options,
    )


def agreement_entry(
    agreement_id: str,
    tables: list[Any],
    *,
    start: date | None = None,
    expires: date | None = None,
    status: str = "active",
) -> dict[str, Any]:
    today = utc_today()
    return {
        "id": agreement_id,
        "consumer": f"Consumer of {agreement_id}",
        "purpose": "Testing the trust's sharing controls.",
        "legal_gateway": "Digital Economy Act 2017, Part 5",
        "tables": tables,
        "start": (start or today - timedelta(days=30)).isoformat(),
        "expires": (expires or today + timedelta(days=365)).isoformat(),
        "status": status,
    }


def write_register(path: Path, entries: list[dict[str, Any]]) -> Path:
    # Dates are written unquoted (as a steward would), so YAML parses them as dates.
    text = yaml.safe_dump({"agreements": entries}, sort_keys=False)
    path.write_text(text.replace("'", ""), encoding="utf-8")
    return path


STANDARD_AGREEMENTS = [
    agreement_entry("full-access", ["local_labour_market", "sector_view", "claimant_outcomes"]),
    agreement_entry("london-only", [{"name": "local_labour_market", "regions": ["TLI"]}]),
    agreement_entry(
        "columns-only", [{"name": "sector_view", "columns": ["area_code", "area_level"]}]
    ),
]


@pytest.fixture
def sharing_home(tmp_path: Path) -> Path:
    """A LABOUR_TRUST_HOME with two published tables and a register of three agreements.

    claimant_outcomes is granted to full-access but has not been published.
    """
    home = tmp_path / "home"
    for name in ("local_labour_market", "sector_view"):
        write_published(home / "published", name, published_table())
    write_register(home / "agreements.yaml", STANDARD_AGREEMENTS)
    return home


class FakeClock:
    """A settable clock for the server (agreement dates and URL expiry)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    url: str  # the Delta Sharing endpoint (with prefix)
    home: Path
    register: AgreementRegister
    clock: FakeClock
    profiles: dict[str, Path] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def profile(self, agreement_id: str) -> Path:
        """A profile file with a freshly issued token for the agreement."""
        token = self.register.issue_token(agreement_id)
        return self.profile_with_token(agreement_id, token)

    def profile_with_token(self, name: str, token: str) -> Path:
        path = self.home / f"{name}.share"
        profile = {"shareCredentialsVersion": 1, "endpoint": self.url, "bearerToken": token}
        path.write_text(json.dumps(profile))
        self.profiles[name], self.tokens[name] = path, token
        return path

    def table_url(self, profile: Path, table: str) -> str:
        return f"{profile}#labour_trust.published.{table}"


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Run an app with uvicorn on a free loopback port in a background thread."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def start_server(sharing_home: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start the sharing server for `sharing_home` (options are passed to create_app)."""
    with ExitStack() as stack:

        def start(**options: Any) -> RunningServer:
            clock = options.pop("clock", None) or FakeClock()
            home = options.pop("home", sharing_home)
            app = create_app(home, clock=clock, signing_secret=b"test-secret", **options)
            base = stack.enter_context(serve_app(app))
            register = AgreementRegister.load(home / "agreements.yaml")
            return RunningServer(f"{base}{DEFAULT_PREFIX}", home, register, clock)

        yield start


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server()


def list_files(profile: Path, table: str) -> ListFilesInTableResponse:
    """The raw file list of a query, through the official client's REST layer."""
    # No retries: the client retries a 5xx with back-off for minutes.
    client = DataSharingRestClient(DeltaSharingProfile.read_from_file(str(profile)), num_retries=0)
    return client.list_files_in_table(Table(name=table, share="labour_trust", schema="published"))
