"""Delta Sharing protocol server for the trust's published tables.

Layout: one share, `labour_trust`, with one schema, `published`, holding the published
tables (`profile.share#labour_trust.published.local_labour_market`). Every agreement has
its own bearer token, and a token sees only the tables its agreement grants. One share for
everyone (rather than a share per agreement) keeps table addresses identical for every
consumer and in the documentation, while the token decides what is visible.

On every request the token is checked against the agreement register, which is re-read
when it changes: revocation, suspension and expiry take effect on the next request, and
also stop downloads through file URLs already handed out for the local store.

A grant limited to some columns or regions is served from a physically restricted copy
(see `restricted.py`), never by filtering at read time: a consumer downloads whole files.

Data files are reached through short-lived URLs: S3 pre-signed URLs for an s3:// store,
or this server's `/files/...` endpoint with an HMAC-signed, expiring query string for a
local store. Every request, allowed or not, is recorded in the hash-chained audit log.

Response format: the protocol's parquet format, or its delta format when a client asks for
delta only. History, time travel and change data feed are not shared: consumers see the
current publication only (superseded versions would let them difference corrected cells).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from labour_trust.governance.agreements import Agreement, AgreementRegister, RegisterError
from labour_trust.governance.audit_log import audit_location, open_audit_log
from labour_trust.governance.file_urls import SECRET_ENV, sharing_secret
from labour_trust.governance.protocol import (
    ProtocolError,
    check_shareable,
    response_format,
)
from labour_trust.governance.restricted import RestrictionError, materialise_restricted_tables
from labour_trust.governance.sharing_service import (
    DEFAULT_PREFIX,
    DEFAULT_URL_TTL_SECONDS,
    SCHEMA,
    SHARE,
    VERSION_HEADER,
    ServedTable,
    SharingConfig,
    SharingError,
    SharingService,
    default_restricted_root,
    invalid_request,
    ndjson_response,
    table_header_actions,
)
from labour_trust.settings import is_embedded, store_root, trust_home
from labour_trust.shares.storage import S3Settings

__all__ = ["SharingSecretMissing", "create_app", "materialise_restricted_tables", "serve"]

MaxResults = Annotated[int | None, Query(alias="maxResults")]
PageToken = Annotated[str | None, Query(alias="pageToken")]
Capabilities = Annotated[str | None, Header(alias="delta-sharing-capabilities")]

log = logging.getLogger(__name__)
# Share, schema and table names: anything else ('..', '/', quotes, ';', spaces) is refused.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$")
_STATE_DEFAULTS = {
    "agreement_id": None,
    "table": None,
    "token_sha256_prefix": None,
    "error_code": None,
    "files": None,
}


def _authorised(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Agreement:
    """The agreement of the request's bearer token, if it is live (else 401 or 403)."""
    service: SharingService = request.app.state.sharing
    return service.authorise(request, authorization)


def _served(
    request: Request, agreement: Authorised, share: str, schema: str, table: str
) -> ServedTable:
    """The Delta table answering for the request's agreement and table path."""
    service: SharingService = request.app.state.sharing
    service.check_share(share, schema)
    return service.resolve(request, agreement, table)


# Every endpoint but file downloads (signed URLs) takes one of these: the token is checked
# (and the request's agreement recorded for the audit log) before the endpoint runs.
Authorised = Annotated[Agreement, Depends(_authorised)]
Served = Annotated[ServedTable, Depends(_served)]


def _stable_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"labour-trust/{kind}/{name}"))


def _paginate(
    service: SharingService,
    kind: str,
    items: list[dict[str, Any]],
    max_results: int | None,
    page_token: str | None,
) -> dict[str, Any]:
    if max_results is not None and max_results < 0:
        raise invalid_request("maxResults must be non-negative")
    offset = 0
    if page_token:
        state = service.page_tokens.decode(page_token)
        if state.get("k") != kind:
            raise ProtocolError("invalid pageToken")
        offset = int(state["o"])
    end = len(items) if max_results is None else offset + max_results
    result: dict[str, Any] = {"items": items[offset:end]}
    if end < len(items):
        result["nextPageToken"] = service.page_tokens.encode({"k": kind, "o": end})
    return result


# ------------------------------------------------------------------------------ the app


class SharingSecretMissing(RuntimeError):
    """The server would sign with a secret of its own that other replicas do not know."""


def _signing_secret(home: Path, explicit: bytes | str | None) -> bytes:
    """The secret for file URLs and page tokens; a random one only in the embedded default."""
    if not explicit and not os.environ.get(SECRET_ENV):
        if not is_embedded(home):
            raise SharingSecretMissing(
                f"{SECRET_ENV} is not set: the trust's store is shared (not the embedded "
                "default), so the sharing server may run as several replicas, and each would "
                "invent its own signing secret and reject the file URLs and page tokens of the "
                f"others. Set {SECRET_ENV} to the same random value (e.g. 32+ bytes from a "
                "secrets manager) on every replica."
            )
        log.warning(
            "%s is not set: file URLs and page tokens are signed with a per-process secret "
            "and stop working when this process exits",
            SECRET_ENV,
        )
    return sharing_secret(explicit)


def create_app(
    home: Path,
    register_path: Path | str | None = None,
    *,
    published_root: str | None = None,
    restricted_root: str | None = None,
    audit_log_path: str | Path | None = None,
    settings: S3Settings | None = None,
    signing_secret: bytes | str | None = None,
    url_ttl_seconds: int = DEFAULT_URL_TTL_SECONDS,
    prefix: str = DEFAULT_PREFIX,
    public_url: str | None = None,
    region_columns: Mapping[str, str | None] | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The sharing server as an ASGI app.

    Defaults: the register (and its tokens) of the trust's store, `STORE/agreements.yaml`
    (STORE is LABOUR_TRUST_STORE, a folder or s3:// prefix, else `home`: every replica reads
    the same register and sees a revocation made anywhere), published tables
    `<home>/published/<name>`, restricted copies `<home>/restricted/<agreement>/<name>`,
    audit log the store's. `register_path` (a file or an s3:// URI) overrides the register.
    `published_root` may be an s3:// prefix (files are then served by pre-signed URLs).
    `signing_secret` (else LABOUR_TRUST_SHARING_SECRET) signs file URLs and page tokens;
    outside the embedded default it is required (`SharingSecretMissing`).
    """
    home = Path(home)
    secret = _signing_secret(home, signing_secret)  # first: refuse before touching anything
    published = published_root or str(home / "published")
    register = (
        AgreementRegister.in_store(store_root(home))
        if register_path is None
        else AgreementRegister.load(register_path)
    )
    config = SharingConfig(
        home=home,
        register_path=register.uri,
        published_root=published,
        restricted_root=restricted_root or default_restricted_root(published, home),
        audit_log_path=str(audit_log_path or audit_location(store_root(home))),
        url_ttl_seconds=url_ttl_seconds,
        prefix="/" + prefix.strip("/") if prefix.strip("/") else "",
        public_url=public_url,
        region_columns=region_columns,
        settings=settings,
    )
    service = SharingService(
        config,
        register,
        open_audit_log(str(config.audit_log_path), actor="sharing-server"),
        secret,
        clock,
    )
    app = FastAPI(title="Labour Trust Delta Sharing", docs_url=None, redoc_url=None)
    app.state.sharing = service
    _install_error_handlers(app)
    _install_audit_middleware(app, service)
    app.include_router(_protocol_routes(service), prefix=config.prefix)
    return app


def _protocol_routes(service: SharingService) -> APIRouter:
    router = APIRouter()

    @router.get("/shares")
    def list_shares(
        _: Authorised, max_results: MaxResults = None, page_token: PageToken = None
    ) -> dict[str, Any]:
        items = [{"name": SHARE, "id": _stable_id("share", SHARE)}]
        return _paginate(service, "shares", items, max_results, page_token)

    @router.get("/shares/{share}")
    def get_share(_: Authorised, share: str) -> dict[str, Any]:
        service.check_share(share)
        return {"share": {"name": SHARE, "id": _stable_id("share", SHARE)}}

    @router.get("/shares/{share}/schemas")
    def list_schemas(
        _: Authorised,
        share: str,
        max_results: MaxResults = None,
        page_token: PageToken = None,
    ) -> dict[str, Any]:
        service.check_share(share)
        items = [{"name": SCHEMA, "share": SHARE}]
        return _paginate(service, "schemas", items, max_results, page_token)

    def table_items(agreement: Agreement) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "schema": SCHEMA,
                "share": SHARE,
                "shareId": _stable_id("share", SHARE),
                "id": _stable_id("table", name),
            }
            for name in service.visible_tables(agreement)
        ]

    @router.get("/shares/{share}/schemas/{schema}/tables")
    def list_tables(
        agreement: Authorised,
        share: str,
        schema: str,
        max_results: MaxResults = None,
        page_token: PageToken = None,
    ) -> dict[str, Any]:
        service.check_share(share, schema)
        return _paginate(service, "tables", table_items(agreement), max_results, page_token)

    @router.get("/shares/{share}/all-tables")
    def list_all_tables(
        agreement: Authorised,
        share: str,
        max_results: MaxResults = None,
        page_token: PageToken = None,
    ) -> dict[str, Any]:
        service.check_share(share)
        return _paginate(service, "all-tables", table_items(agreement), max_results, page_token)

    table_path = "/shares/{share}/schemas/{schema}/tables/{table}"

    @router.api_route(table_path + "/version", methods=["GET", "HEAD"])
    def table_version(
        served: Served,
        starting_timestamp: Annotated[str | None, Query(alias="startingTimestamp")] = None,
    ) -> Response:
        if starting_timestamp is not None:
            raise ProtocolError("startingTimestamp: history is not shared")
        return Response(headers={VERSION_HEADER: str(served.delta.version())})

    @router.get(table_path + "/metadata")
    def table_metadata(served: Served, capabilities: Capabilities = None) -> Response:
        check_shareable(served.delta)
        fmt = response_format(capabilities)
        actions = table_header_actions(served.delta, served.name, fmt)
        return ndjson_response(actions, served.delta.version(), fmt)

    @router.post(table_path + "/query")
    def query_table(
        request: Request,
        agreement: Authorised,
        share: str,
        schema: str,
        table: str,
        body: Annotated[dict[str, Any] | None, Body()] = None,
        capabilities: Capabilities = None,
    ) -> Response:
        service.check_share(share, schema)
        served = service.resolve(request, agreement, table)
        return service.query(request, agreement, served, body or {}, capabilities)

    @router.get(table_path + "/changes")
    def table_changes(_: Served) -> Response:
        raise ProtocolError("change data feed is not shared; query the current version")

    @router.api_route("/files/{store}/{relpath:path}", methods=["GET", "HEAD"])
    def download(request: Request, store: str, relpath: str) -> FileResponse:
        path = service.local_file(request, store, relpath)
        return FileResponse(path, media_type="application/octet-stream")

    return router


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    def handle(request: Request, status: int, code: str, message: str) -> JSONResponse:
        request.state.error_code = code
        return _error(status, code, message)

    @app.exception_handler(SharingError)
    async def sharing_error(request: Request, exc: SharingError) -> JSONResponse:
        return handle(request, exc.status, exc.code, exc.message)

    @app.exception_handler(ProtocolError)
    async def protocol_error(request: Request, exc: ProtocolError) -> JSONResponse:
        return handle(request, 400, "INVALID_PARAMETER_VALUE", str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return handle(request, 400, "INVALID_PARAMETER_VALUE", f"malformed request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "RESOURCE_DOES_NOT_EXIST" if exc.status_code == 404 else "INVALID_REQUEST"
        return handle(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(RegisterError)
    async def register_error(request: Request, exc: RegisterError) -> JSONResponse:
        log.error("agreement register invalid; refusing all access: %s", exc)
        message = "the agreement register is being corrected; access is paused, retry later"
        return handle(request, 503, "TEMPORARILY_UNAVAILABLE", message)

    @app.exception_handler(RestrictionError)
    async def restriction_error(request: Request, exc: RestrictionError) -> JSONResponse:
        log.error("restricted copy cannot be built: %s", exc)
        return handle(request, 500, "INTERNAL_ERROR", f"restricted table unavailable: {exc}")


def _install_audit_middleware(app: FastAPI, service: SharingService) -> None:
    prefix = service.config.prefix

    @app.middleware("http")
    async def audit_every_request(request: Request, call_next: Callable[..., Any]) -> Response:
        for key, value in _STATE_DEFAULTS.items():
            setattr(request.state, key, value)
        bad_name = _invalid_name(request.scope.get("raw_path", b"").decode("latin-1"), prefix)
        try:
            if bad_name is not None:
                request.state.error_code = "INVALID_PARAMETER_VALUE"
                response = _error(400, "INVALID_PARAMETER_VALUE", f"invalid name {bad_name!r}")
            else:
                response = await call_next(request)
        except Exception:
            log.exception("sharing request failed: %s %s", request.method, request.url.path)
            request.state.error_code = "INTERNAL_ERROR"
            response = _error(500, "INTERNAL_ERROR", "internal error; the trust has been alerted")
        try:
            await run_in_threadpool(_audit_request, service, request, response.status_code)
        except Exception:
            # Access that cannot be recorded is not granted.
            log.exception("audit log append failed; refusing the request")
            return _error(500, "INTERNAL_ERROR", "audit log unavailable; request refused")
        return response


def _invalid_name(raw_path: str, prefix: str) -> str | None:
    """The first share/schema/table path segment that is not a plain name, if any.

    Checked on the raw (still percent-encoded) path so that an encoded '/' or '..' is seen
    as part of a name, not as a path separator.
    """
    if not raw_path.startswith(prefix + "/shares"):
        return None
    for segment in raw_path[len(prefix) + 1 :].split("?")[0].split("/"):
        name = unquote(segment)
        if not NAME_PATTERN.match(name):
            return name
    return None


def _outcome(status: int) -> str:
    if status < 400:
        return "allowed"
    if status in (401, 403):
        return "denied"  # authentication or authorisation refused
    return "rejected" if status < 500 else "error"  # a bad request, or a failure of ours


def _audit_request(service: SharingService, request: Request, status: int) -> None:
    state = request.state
    is_file = request.url.path.startswith(service.config.prefix + "/files/")
    client = f"{request.client.host}:{request.client.port}" if request.client else None
    details = {
        "method": request.method,
        # The path only: a file URL's query string is a (short-lived) credential.
        "path": request.url.path,
        "client": client,
        "status": status,
        "outcome": _outcome(status),
        "error_code": state.error_code,
        "agreement_id": state.agreement_id,
        "table": state.table,
        "token_sha256_prefix": state.token_sha256_prefix,
    }
    if state.files is not None:
        details["files"] = state.files
    actor = f"agreement:{state.agreement_id}" if state.agreement_id else "anonymous"
    service.audit.append("share.file" if is_file else "share.access", actor=actor, **details)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    home: Path | None = None,
    register_path: Path | str | None = None,
    **app_options: Any,
) -> None:
    """Run the sharing server (blocking) with uvicorn; `home` defaults to the trust home."""
    import uvicorn

    app = create_app(home or trust_home(), register_path, **app_options)
    # No uvicorn access log: it would print signed file URLs (short-lived credentials);
    # every request is in the audit log instead, without query strings.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
