"""The Delta Sharing server, exercised with the official `delta_sharing` client.

Each test runs a real uvicorn server on a free loopback port (see conftest.start_server).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import delta_sharing
import httpx
import pyarrow.parquet as pq
import pytest
from requests.exceptions import HTTPError

from labour_trust.governance.audit_log import AuditLog, verify
from labour_trust_tests.governance.conftest import (
    LONDON,
    RunningServer,
    agreement_entry,
    in_region,
    list_files,
    published_table,
    write_published,
    write_register,
)

PUBLISHED = "labour_trust.published"


def load(server: RunningServer, profile: Path, table: str, **options):
    return delta_sharing.load_as_pandas(server.table_url(profile, table), **options)


def error_of(exc: pytest.ExceptionInfo[HTTPError]) -> tuple[int, dict]:
    return exc.value.response.status_code, exc.value.response.json()


def http(server: RunningServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


# ------------------------------------------------------------------------- happy paths


def test_consumer_loads_a_permitted_table(server: RunningServer) -> None:
    profile = server.profile("full-access")
    frame = load(server, profile, "local_labour_market")
    expected = published_table().to_pandas()
    assert len(frame) == len(expected)
    assert list(frame.columns) == list(expected.columns)
    assert sorted(frame["uc_claimants"]) == sorted(expected["uc_claimants"])
    assert sorted(frame["month"].unique()) == ["2024-01", "2024-02", "2024-03"]


def test_listing_shows_only_permitted_published_tables(server: RunningServer) -> None:
    client = delta_sharing.SharingClient(str(server.profile("full-access")))
    assert [s.name for s in client.list_shares()] == ["labour_trust"]
    (schema,) = client.list_schemas(client.list_shares()[0])
    assert schema.name == "published"
    # claimant_outcomes is granted but not yet published; skills_outcomes is not granted.
    assert [t.name for t in client.list_all_tables()] == ["local_labour_market", "sector_view"]
    assert [t.name for t in client.list_tables(schema)] == ["local_labour_market", "sector_view"]

    london = delta_sharing.SharingClient(str(server.profile("london-only")))
    assert [t.name for t in london.list_all_tables()] == ["local_labour_market"]


def test_version_and_metadata(server: RunningServer) -> None:
    profile = server.profile("full-access")
    url = server.table_url(profile, "sector_view")
    assert delta_sharing.get_table_version(url) == 0
    metadata = delta_sharing.get_table_metadata(url)
    assert metadata.partition_columns == ["month"]
    names = [f["name"] for f in json.loads(metadata.schema_string)["fields"]]
    assert "uc_claimants" in names
    with http(server, server.tokens["full-access"]) as client:
        head = client.head("/shares/labour_trust/schemas/published/tables/sector_view/version")
    assert head.status_code == 200 and head.headers["delta-table-version"] == "0"


def test_delta_response_format_when_asked_for_delta_only(server: RunningServer) -> None:
    # What `load_as_pandas(use_delta_format=True)` asks for. (Its delta-kernel reader fetches
    # only https:// file URLs, so that path needs the server behind TLS: see public_url.)
    server.profile("london-only")
    delta_only = {"delta-sharing-capabilities": "responseformat=delta;readerfeatures=x"}
    raw = _query_lines(server, "london-only", "local_labour_market", {}, **delta_only)
    lines = [json.loads(x) for x in raw]
    assert lines[0]["protocol"]["deltaProtocol"] == {"minReaderVersion": 1, "minWriterVersion": 2}
    assert lines[1]["metaData"]["deltaMetadata"]["partitionColumns"] == ["month"]
    add = lines[2]["file"]["deltaSingleAction"]["add"]
    assert add["path"].startswith(server.url + "/files/restricted/london-only/")
    assert lines[2]["file"]["expirationTimestamp"] > server.clock() * 1000
    assert httpx.get(add["path"]).status_code == 200
    # Both formats acceptable: the parquet format is chosen.
    either = {"delta-sharing-capabilities": "responseformat=delta,parquet"}
    lines = _query_lines(server, "london-only", "local_labour_market", {}, **either)
    assert json.loads(lines[0]) == {"protocol": {"minReaderVersion": 1}}


def test_names_are_case_insensitive(server: RunningServer) -> None:
    profile = server.profile("full-access")
    url = f"{profile}#LABOUR_TRUST.Published.Sector_View"
    assert len(delta_sharing.load_as_pandas(url)) == len(published_table())


# ---------------------------------------------------------------------- restrictions


def test_region_limited_consumer_receives_only_its_region(server: RunningServer) -> None:
    profile = server.profile("london-only")
    frame = load(server, profile, "local_labour_market")
    assert set(frame["area_code"]) == LONDON

    # Every file handed out holds London rows only (not just the client's view of them).
    response = list_files(profile, "local_labour_market")
    assert response.add_files
    for add_file in response.add_files:
        data = pq.read_table(io.BytesIO(httpx.get(add_file.url).raise_for_status().content))
        assert data.num_rows > 0 and in_region(data, "TLI")
        assert "/restricted/london-only/" in add_file.url


def test_column_limited_consumer_receives_only_its_columns(server: RunningServer) -> None:
    profile = server.profile("columns-only")
    frame = load(server, profile, "sector_view")
    assert list(frame.columns) == ["month", "area_code", "area_level"]
    for add_file in list_files(profile, "sector_view").add_files:
        data = pq.read_table(io.BytesIO(httpx.get(add_file.url).raise_for_status().content))
        assert data.column_names == ["area_code", "area_level"]


def test_restricted_copy_follows_a_republication(server: RunningServer) -> None:
    profile = server.profile("london-only")
    before = load(server, profile, "local_labour_market")
    write_published(server.home / "published", "local_labour_market", published_table(bump=500))
    after = load(server, profile, "local_labour_market")
    assert after["uc_claimants"].min() == before["uc_claimants"].min() + 500
    assert set(after["area_code"]) == LONDON


# ------------------------------------------------------------------------ refusals


def test_unknown_token_is_refused(server: RunningServer) -> None:
    profile = server.profile_with_token("stranger", "ltds_not-a-real-token")
    with pytest.raises(HTTPError) as caught:
        load(server, profile, "sector_view")
    status, body = error_of(caught)
    assert status == 403
    assert body == {
        "errorCode": "PERMISSION_DENIED",
        "message": "unknown bearer token: it was never issued or has been replaced",
    }


def test_missing_token_is_unauthenticated(server: RunningServer) -> None:
    with http(server, None) as client:
        response = client.get("/shares")
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHENTICATED"


def test_revocation_takes_effect_on_the_next_request(server: RunningServer) -> None:
    profile = server.profile("full-access")
    assert len(load(server, profile, "sector_view")) > 0
    server.register.revoke("full-access")
    with pytest.raises(HTTPError) as caught:
        load(server, profile, "sector_view")
    status, body = error_of(caught)
    assert status == 403
    assert body["message"] == "agreement 'full-access' has been revoked; its token grants no access"


def test_revocation_also_stops_file_urls_already_handed_out(server: RunningServer) -> None:
    profile = server.profile("full-access")
    urls = [f.url for f in list_files(profile, "sector_view").add_files]
    assert httpx.get(urls[0]).status_code == 200
    server.register.revoke("full-access")
    response = httpx.get(urls[0])
    assert response.status_code == 403
    assert "revoked" in response.json()["message"]


def test_file_urls_stop_when_a_grant_becomes_restricted(server: RunningServer) -> None:
    profile = server.profile("full-access")
    url = list_files(profile, "local_labour_market").add_files[0].url
    assert httpx.get(url).status_code == 200
    write_register(
        server.home / "agreements.yaml",
        [agreement_entry("full-access", [{"name": "local_labour_market", "regions": ["TLC"]}])],
    )
    response = httpx.get(url)  # a URL to the full published file, issued before the change
    assert response.status_code == 403
    assert response.json()["message"] == "agreement 'full-access' no longer grants this file"


def test_expiry_takes_effect_on_the_next_request(server: RunningServer) -> None:
    profile = server.profile("full-access")
    assert len(load(server, profile, "sector_view")) > 0
    server.clock.advance(366 * 86400)  # past the agreement's expiry date
    with pytest.raises(HTTPError) as caught:
        load(server, profile, "sector_view")
    status, body = error_of(caught)
    assert status == 403
    assert "expired on" in body["message"] and "full-access" in body["message"]


def test_register_edits_apply_without_restart(server: RunningServer) -> None:
    profile = server.profile("london-only")
    client = delta_sharing.SharingClient(str(profile))
    assert [t.name for t in client.list_all_tables()] == ["local_labour_market"]
    write_register(
        server.home / "agreements.yaml",
        [agreement_entry("london-only", ["local_labour_market", "sector_view"])],
    )
    assert [t.name for t in client.list_all_tables()] == ["local_labour_market", "sector_view"]
    # The grant is no longer region-limited: the full table is served.
    assert len(load(server, profile, "local_labour_market")) == len(published_table())


def test_an_invalid_register_pauses_all_access(server: RunningServer) -> None:
    server.profile("full-access")
    path = server.home / "agreements.yaml"
    good = path.read_text()
    path.write_text(good.replace("sector_view", "sector_veiw"))
    with http(server, server.tokens["full-access"]) as client:
        paused = client.get("/shares")
        path.write_text(good)
        resumed = client.get("/shares")
    assert paused.status_code == 503
    assert paused.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"
    assert "sector_veiw" not in paused.text  # register details stay inside the trust
    assert resumed.status_code == 200


def test_access_that_cannot_be_audited_is_refused(server: RunningServer) -> None:
    server.profile("full-access")
    log_path = server.home / "audit.log"
    with http(server, server.tokens["full-access"]) as client:
        assert client.get("/shares").status_code == 200
        log_path.write_text(log_path.read_text() + '{"torn entry')
        refused = client.get("/shares")
    assert refused.status_code == 500
    assert refused.json()["message"] == "audit log unavailable; request refused"


def test_table_outside_the_agreement_is_refused(server: RunningServer) -> None:
    profile = server.profile("london-only")
    with pytest.raises(HTTPError) as caught:
        load(server, profile, "sector_view")
    status, body = error_of(caught)
    assert status == 403
    assert body["message"] == "table 'sector_view' is not covered by agreement 'london-only'"


def test_unknown_and_unpublished_tables_are_not_found(server: RunningServer) -> None:
    profile = server.profile("full-access")
    for table, message in [
        ("payroll", "does not exist"),
        ("claimant_outcomes", "has not been published yet"),
    ]:
        with pytest.raises(HTTPError) as caught:
            load(server, profile, table)
        status, body = error_of(caught)
        assert status == 404 and message in body["message"]
    with pytest.raises(HTTPError) as caught:
        delta_sharing.load_as_pandas(f"{profile}#other_share.published.sector_view")
    assert error_of(caught)[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/shares/labour_trust/schemas/published/tables/..%2F..%2Fagreements/metadata",
        "/shares/labour_trust/schemas/published/tables/%2E%2E/metadata",
        "/shares/..%2Fsecret/schemas",
        "/shares/labour_trust/schemas/published/tables/sector_view%3BDROP%20TABLE%20x/version",
        "/shares/labour_trust/schemas/published/tables/x'%20OR%20'1'%3D'1/metadata",
        "/shares/labour_trust/schemas/pub%22lished/tables",
    ],
)
def test_bad_names_are_rejected(server: RunningServer, path: str) -> None:
    server.profile("full-access")
    with http(server, server.tokens["full-access"]) as client:
        response = client.get(path)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_PARAMETER_VALUE"


def test_file_endpoint_refuses_traversal_and_forgery(server: RunningServer) -> None:
    profile = server.profile("full-access")
    url = list_files(profile, "sector_view").add_files[0].url
    base, _, query = url.partition("?")
    files_root = base.split("/files/")[0] + "/files"
    traversal = httpx.get(f"{files_root}/published/..%2F..%2Fagreements.yaml?{query}")
    assert traversal.status_code == 400
    forged = httpx.get(url.replace("sector_view", "local_labour_market"))
    assert forged.status_code == 403
    assert forged.json()["message"] == "the URL signature is not valid"
    unsigned = httpx.get(base)
    assert unsigned.status_code == 403


def test_history_is_not_shared(server: RunningServer) -> None:
    server.profile("full-access")
    with http(server, server.tokens["full-access"]) as client:
        query = "/shares/labour_trust/schemas/published/tables/sector_view/query"
        response = client.post(query, json={"version": 0})
        changes = client.get(
            "/shares/labour_trust/schemas/published/tables/sector_view/changes?startingVersion=0"
        )
    assert response.status_code == 400 and "history is not shared" in response.json()["message"]
    assert changes.status_code == 400


# ------------------------------------------------------------------------ file URLs


def test_local_file_urls_are_signed_and_expire(server: RunningServer) -> None:
    profile = server.profile("full-access")
    before_ms = server.clock() * 1000
    response = list_files(profile, "sector_view")
    assert len(response.add_files) == 3  # one file per month
    for add_file in response.add_files:
        assert add_file.url.startswith(server.url + "/files/published/sector_view/month=")
        assert "signature=" in add_file.url and "expires=" in add_file.url
        assert not add_file.url.startswith("file:")
        assert add_file.size > 0 and json.loads(add_file.stats)["numRecords"] == 8
    raw = [json.loads(line) for line in _query_lines(server, "full-access", "sector_view", {})]
    expirations = {line["file"]["expirationTimestamp"] for line in raw if "file" in line}
    (expiration,) = expirations
    assert before_ms + 890_000 <= expiration <= before_ms + 910_000  # the default 15 minutes

    url = response.add_files[0].url
    assert httpx.get(url).status_code == 200
    server.clock.advance(16 * 60)
    expired = httpx.get(url)
    assert expired.status_code == 403 and "expired" in expired.json()["message"]


def test_url_lifetime_is_configurable(start_server) -> None:
    server = start_server(url_ttl_seconds=60)
    server.profile("full-access")
    now_ms = server.clock() * 1000
    lines = [json.loads(x) for x in _query_lines(server, "full-access", "sector_view", {})]
    expirations = [x["file"]["expirationTimestamp"] for x in lines if "file" in x]
    assert all(now_ms + 59_000 <= e <= now_ms + 61_000 for e in expirations)


# ---------------------------------------------------------------------- query hints


def _query_lines(server: RunningServer, agreement: str, table: str, body: dict, **headers):
    with http(server, server.tokens[agreement]) as client:
        response = client.post(
            f"/shares/labour_trust/schemas/published/tables/{table}/query",
            json=body,
            headers=headers,
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.text.splitlines()


def test_file_lists_are_paged_with_max_files(server: RunningServer) -> None:
    server.profile("full-access")
    seen, token, pages = [], None, 0
    while True:
        body = {"maxFiles": 2, **({"pageToken": token} if token else {})}
        lines = [json.loads(x) for x in _query_lines(server, "full-access", "sector_view", body)]
        assert "protocol" in lines[0] and "metaData" in lines[1]
        assert "endStreamAction" in lines[-1]
        seen += [x["file"]["partitionValues"]["month"] for x in lines if "file" in x]
        pages += 1
        token = lines[-1]["endStreamAction"].get("nextPageToken")
        if not token:
            break
    assert pages == 2
    assert sorted(seen) == ["2024-01", "2024-02", "2024-03"]


def test_page_tokens_cannot_be_forged_or_reused_by_another_agreement(
    server: RunningServer,
) -> None:
    server.profile("full-access")
    server.profile("columns-only")
    lines = _query_lines(server, "full-access", "sector_view", {"maxFiles": 1})
    token = json.loads(lines[-1])["endStreamAction"]["nextPageToken"]
    query = "/shares/labour_trust/schemas/published/tables/sector_view/query"
    with http(server, server.tokens["columns-only"]) as client:
        reused = client.post(query, json={"maxFiles": 1, "pageToken": token})
    with http(server, server.tokens["full-access"]) as client:
        forged = client.post(query, json={"maxFiles": 1, "pageToken": token[:-2] + "00"})
    assert reused.status_code == 400 and "pageToken" in reused.json()["message"]
    assert forged.status_code == 400


def test_partition_predicates_and_limit_hints_prune_files(server: RunningServer) -> None:
    profile = server.profile("full-access")
    predicate = json.dumps(
        {
            "op": "equal",
            "children": [
                {"op": "column", "name": "month", "valueType": "string"},
                {"op": "literal", "value": "2024-02", "valueType": "string"},
            ],
        }
    )
    frame = load(server, profile, "sector_view", jsonPredicateHints=predicate)
    assert set(frame["month"]) == {"2024-02"}
    lines = _query_lines(server, "full-access", "sector_view", {"limitHint": 5})
    assert sum(1 for x in lines if '"file"' in x) == 1
    lines = _query_lines(server, "full-access", "sector_view", {"jsonPredicateHints": "{bad"})
    assert sum(1 for x in lines if '"file"' in x) == 3  # a bad hint is ignored, not an error


# ----------------------------------------------------------------------------- audit


def test_every_request_is_audited_without_secrets(server: RunningServer) -> None:
    profile = server.profile("london-only")
    load(server, profile, "local_labour_market")
    with pytest.raises(HTTPError):
        load(server, profile, "sector_view")
    stranger = server.profile_with_token("stranger", "ltds_guess")
    with pytest.raises(HTTPError):
        load(server, stranger, "sector_view")

    log_path = server.home / "audit.log"
    assert verify(log_path).ok
    text = log_path.read_text()
    assert server.tokens["london-only"] not in text and "ltds_guess" not in text
    assert "signature=" not in text
    entries = list(AuditLog(log_path).entries())
    access = [e["details"] for e in entries if e["event"] == "share.access"]
    allowed = [d for d in access if d["outcome"] == "allowed"]
    assert {d["agreement_id"] for d in allowed} == {"london-only"}
    assert any(d["table"] == "local_labour_market" and d.get("files") == 3 for d in allowed)
    denied = [d for d in access if d["outcome"] == "denied"]
    assert {(d["agreement_id"], d["table"], d["status"]) for d in denied} >= {
        ("london-only", "sector_view", 403),
        (None, None, 403),
    }
    assert all(d["client"].startswith("127.0.0.1:") for d in access)
    assert any(e["event"] == "share.file" for e in entries)
    assert any(e["event"] == "share.restricted_copy_built" for e in entries)


def test_audit_entries_are_written_before_responses(server: RunningServer) -> None:
    server.profile("full-access")
    log_path = server.home / "audit.log"
    before = verify(log_path).entries
    with http(server, server.tokens["full-access"]) as client:
        client.get("/shares")
    # No waiting: the entry is appended before the response is sent.
    assert verify(log_path).entries == before + 1
