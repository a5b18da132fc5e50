"""What the sharing server does for each request, apart from HTTP routing.

Authorises a bearer token against the agreement register, resolves a table to the Delta
table that answers for the agreement (the published table, or its restricted copy), and
lists its files with short-lived URLs (see `sharing_server.py` for the overall design).

Consumers only ever see a table's released version (`restricted.py`, "Released versions"):
a Delta version the pipeline wrote but could not record in the audit log is never listed,
queried or copied, and a table with nothing released yet does not exist for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from fastapi import Request, Response

from labour_trust.governance.agreements import Agreement, AgreementRegister
from labour_trust.governance.audit_log import AuditLog
from labour_trust.governance.file_urls import (
    LocalUrlSigner,
    S3Presigner,
    SignedUrl,
    derive_key,
)
from labour_trust.governance.protocol import (
    NDJSON,
    DataFile,
    PageTokens,
    ProtocolError,
    apply_json_predicate,
    apply_limit_hint,
    check_shareable,
    delta_file_action,
    delta_metadata_action,
    delta_protocol_action,
    file_action,
    list_files,
    metadata_action,
    ndjson,
    protocol_action,
    response_format,
)
from labour_trust.governance.restricted import (
    UnreleasedError,
    ensure_restricted_table,
    is_released,
    open_released,
    table_uri,
)
from labour_trust.governance.tokens import token_fingerprint
from labour_trust.shares.storage import S3Settings, is_s3, storage_options_for

SHARE = "labour_trust"
SCHEMA = "published"
DEFAULT_PREFIX = "/delta-sharing"
DEFAULT_URL_TTL_SECONDS = 900
VERSION_HEADER = "delta-table-version"
CAPABILITIES_HEADER = "delta-sharing-capabilities"
_HISTORY_FIELDS = ("version", "timestamp", "startingVersion", "endingVersion")


class SharingError(Exception):
    """An error answered as the protocol's JSON error body {errorCode, message}."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def denied(message: str) -> SharingError:
    return SharingError(403, "PERMISSION_DENIED", message)


def not_found(message: str) -> SharingError:
    return SharingError(404, "RESOURCE_DOES_NOT_EXIST", message)


def invalid_request(message: str) -> SharingError:
    return SharingError(400, "INVALID_PARAMETER_VALUE", message)


@dataclass(frozen=True)
class SharingConfig:
    home: Path
    register_path: str  # a file, or an s3:// object in the trust's store
    published_root: str
    restricted_root: str
    audit_log_path: str  # a file, or an s3:// prefix of entries
    url_ttl_seconds: int = DEFAULT_URL_TTL_SECONDS
    prefix: str = DEFAULT_PREFIX
    public_url: str | None = None  # base URL consumers use, if not the request's own
    region_columns: Mapping[str, str | None] | None = None
    settings: S3Settings | None = None


@dataclass(frozen=True)
class ServedTable:
    """The Delta table answering for one agreement's view of one published table."""

    name: str
    uri: str
    store: str  # "published" or "restricted"
    subpath: str  # path under the store root: "<table>" or "<agreement>/<table>"
    delta: DeltaTable


def default_restricted_root(published_root: str, store: str | Path) -> str:
    """Restricted copies: STORE/restricted beside local publications, else beside the
    published tables' prefix."""
    if not is_s3(published_root):
        return f"{str(store).rstrip('/')}/restricted"
    parent, _, _ = published_root.rstrip("/").rpartition("/")
    if parent in ("s3:", "s3:/"):  # the store is a bucket root: keep copies inside it
        return published_root.rstrip("/") + "/_restricted"
    return parent + "/restricted"


class SharingService:
    """Authorisation, table resolution and file listing, independent of HTTP routing."""

    def __init__(
        self,
        config: SharingConfig,
        register: AgreementRegister,
        audit: AuditLog,
        secret: bytes,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.register = register
        self.audit = audit
        self.clock = clock
        self.signer = LocalUrlSigner(secret)
        self.page_tokens = PageTokens(derive_key(secret, "page-token"))
        self.presigner = S3Presigner(config.settings)
        self._copy_locks: dict[tuple[str, str], threading.Lock] = {}
        self._copy_locks_guard = threading.Lock()

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), UTC).date()

    # --- authorisation -----------------------------------------------------------------

    def authorise(self, request: Request, authorization: str | None) -> Agreement:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise SharingError(
                401,
                "UNAUTHENTICATED",
                "missing bearer token: send 'Authorization: Bearer <token>' (see your profile)",
            )
        token = authorization[len("bearer ") :].strip()
        request.state.token_sha256_prefix = token_fingerprint(token)
        agreement = self.register.agreement_for_token(token)
        if agreement is None:
            raise denied("unknown bearer token: it was never issued or has been replaced")
        request.state.agreement_id = agreement.id
        self._require_live(agreement)
        return agreement

    def _require_live(self, agreement: Agreement) -> None:
        state = agreement.state_on(self.today())
        messages = {
            "revoked": f"agreement '{agreement.id}' has been revoked",
            "suspended": f"agreement '{agreement.id}' is suspended",
            "expired": f"agreement '{agreement.id}' expired on {agreement.expires}",
            "not_started": f"agreement '{agreement.id}' starts on {agreement.start}",
        }
        if state != "active":
            raise denied(messages[state] + "; its token grants no access")

    # --- catalogue ---------------------------------------------------------------------

    def check_share(self, share: str, schema: str | None = None) -> None:
        if share.lower() != SHARE:
            raise not_found(f"share '{share}' does not exist (the trust's share is '{SHARE}')")
        if schema is not None and schema.lower() != SCHEMA:
            raise not_found(f"schema '{schema}' does not exist in share '{SHARE}'")

    def visible_tables(self, agreement: Agreement) -> list[str]:
        """Tables the agreement grants that have a released version (names, sorted)."""
        return sorted(
            g.name
            for g in agreement.tables
            if is_released(self._published_uri(g.name), self.config.settings)
        )

    def resolve(self, request: Request, agreement: Agreement, table: str) -> ServedTable:
        name = table.lower()
        request.state.table = name
        if name not in self.register.known_tables:
            raise not_found(f"table '{SHARE}.{SCHEMA}.{table}' does not exist")
        grant = agreement.grant(name)
        if grant is None:
            raise denied(f"table '{name}' is not covered by agreement '{agreement.id}'")
        source = self._published_uri(name)
        unpublished = not_found(f"table '{name}' has not been published yet")
        if not _exists(source, self.config):
            raise unpublished
        try:
            if not grant.restricted:
                released = open_released(source, self.config.settings)
                return ServedTable(name, source, "published", name, released)
            uri = self._restricted_copy(agreement, name, source)
        except UnreleasedError:
            raise unpublished from None
        return ServedTable(name, uri, "restricted", f"{agreement.id}/{name}", self._open(uri))

    def _restricted_copy(self, agreement: Agreement, name: str, source: str) -> str:
        grant = agreement.grant(name)
        with self._copy_lock(agreement.id, name):
            copy = ensure_restricted_table(
                source,
                agreement,
                grant,
                self.config.restricted_root,
                region_columns=self.config.region_columns,
                settings=self.config.settings,
            )
        if copy.rebuilt:
            self.audit.append(
                "share.restricted_copy_built",
                actor="sharing-server",
                agreement_id=agreement.id,
                table=name,
                source_version=copy.source_version,
                version=copy.version,
                rows=copy.rows,
            )
        return copy.uri

    def _copy_lock(self, agreement_id: str, table: str) -> threading.Lock:
        with self._copy_locks_guard:
            return self._copy_locks.setdefault((agreement_id, table), threading.Lock())

    def _published_uri(self, name: str) -> str:
        return table_uri(self.config.published_root, name)

    def _open(self, uri: str, version: int | None = None) -> DeltaTable:
        options = storage_options_for(uri, self.config.settings)
        return DeltaTable(uri, version=version, storage_options=options)

    # --- query -------------------------------------------------------------------------

    def query(
        self,
        request: Request,
        agreement: Agreement,
        served: ServedTable,
        body: dict[str, Any],
        capabilities: str | None,
    ) -> Response:
        request_spec = _QuerySpec.parse(body)
        fmt = response_format(capabilities)
        include_end_stream = _wants_end_stream(capabilities)
        delta, offset = self._page_start(agreement, served, request_spec)
        check_shareable(delta)
        partitions = list(delta.metadata().partition_columns)
        files = apply_json_predicate(list_files(delta), request_spec.predicate, partitions)
        files = apply_limit_hint(files, request_spec.limit)
        end = len(files) if request_spec.max_files is None else offset + request_spec.max_files
        page_files = files[offset:end]
        request.state.files = len(page_files)
        now = self.clock()
        actions = table_header_actions(delta, served.name, fmt)
        urls = [self._file_url(request, agreement, served, f, now) for f in page_files]
        make_file = delta_file_action if fmt == "delta" else file_action
        for data_file, url in zip(page_files, urls, strict=True):
            actions.append(
                make_file(data_file, served.subpath, url.url, url.expiration_timestamp_ms)
            )
        paging = request_spec.max_files is not None or request_spec.page_token is not None
        if paging or include_end_stream:
            actions.append(
                self._end_stream(agreement, served, request_spec, delta, end, len(files), urls)
            )
        return ndjson_response(actions, delta.version(), fmt, include_end_stream)

    def _page_start(
        self, agreement: Agreement, served: ServedTable, spec: _QuerySpec
    ) -> tuple[DeltaTable, int]:
        """The table version and file offset a query (page) starts from."""
        if spec.page_token is None:
            return served.delta, 0
        page = self.page_tokens.decode(spec.page_token)
        if page.get("k") != self._page_key(agreement, served, spec):
            raise ProtocolError("invalid pageToken: it belongs to another query")
        # Later pages come from the version the first page listed, so pages are consistent.
        return self._open(served.uri, int(page["v"])), int(page["o"])

    @staticmethod
    def _page_key(agreement: Agreement, served: ServedTable, spec: _QuerySpec) -> str:
        # Binds a page token to the agreement, the table it served, and the query's hints.
        return f"{agreement.id}|{served.store}/{served.subpath}|{spec.fingerprint}"

    def _end_stream(
        self,
        agreement: Agreement,
        served: ServedTable,
        spec: _QuerySpec,
        delta: DeltaTable,
        end: int,
        total: int,
        urls: list[SignedUrl],
    ) -> dict[str, Any]:
        action: dict[str, Any] = {}
        if end < total:
            key = self._page_key(agreement, served, spec)
            action["nextPageToken"] = self.page_tokens.encode(
                {"k": key, "v": delta.version(), "o": end}
            )
        if urls:
            action["minUrlExpirationTimestamp"] = min(u.expiration_timestamp_ms for u in urls)
        return {"endStreamAction": action}

    def _file_url(
        self,
        request: Request,
        agreement: Agreement,
        served: ServedTable,
        data_file: DataFile,
        now: float,
    ) -> SignedUrl:
        ttl = self.config.url_ttl_seconds
        if is_s3(served.uri):
            return self.presigner.url(f"{served.uri}/{data_file.path}", ttl, now)
        relpath = f"{served.subpath}/{data_file.path}"
        base = self.files_base(request)
        return self.signer.url(base, served.store, relpath, agreement.id, now + ttl)

    def files_base(self, request: Request) -> str:
        base = self.config.public_url or str(request.base_url)
        return f"{base.rstrip('/')}{self.config.prefix}/files"

    # --- local file downloads ------------------------------------------------------------

    def local_file(self, request: Request, store: str, relpath: str) -> Path:
        """The file a signed `/files/...` URL names, if it may still be downloaded."""
        roots = {"published": self.config.published_root, "restricted": self.config.restricted_root}
        root = roots.get(store)
        if root is None or is_s3(root):
            raise not_found(f"no local file store '{store}'")
        parts = relpath.split("/")
        if any(part in ("", ".", "..") or "\\" in part for part in parts):
            raise invalid_request("file paths may not contain empty, '.' or '..' segments")
        agreement_id, problem = self.signer.check(
            store, relpath, dict(request.query_params), self.clock()
        )
        request.state.agreement_id = agreement_id
        request.state.table = parts[1] if store == "restricted" and len(parts) > 1 else parts[0]
        if problem is not None:
            raise denied(problem)
        try:
            agreement = self.register.get(agreement_id)
        except KeyError:
            raise denied(f"agreement '{agreement_id}' no longer exists") from None
        self._require_live(agreement)
        self._require_same_grant(agreement, store, parts)
        base = Path(root).resolve()
        path = (base / relpath).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            raise not_found("file not found (the table may have been republished)")
        return path

    @staticmethod
    def _require_same_grant(agreement: Agreement, store: str, parts: list[str]) -> None:
        """A URL stays usable only while the grant it was issued under is unchanged in kind:
        if a table's grant became restricted, URLs to the full published files stop working."""
        if store == "restricted":
            owner, table = parts[0], parts[1] if len(parts) > 1 else ""
            grant = agreement.grant(table) if owner == agreement.id else None
            allowed = grant is not None and grant.restricted
        else:
            grant = agreement.grant(parts[0])
            allowed = grant is not None and not grant.restricted
        if not allowed:
            raise denied(f"agreement '{agreement.id}' no longer grants this file")


@dataclass(frozen=True)
class _QuerySpec:
    predicate: str | None
    limit: int | None
    max_files: int | None
    page_token: str | None

    @classmethod
    def parse(cls, body: dict[str, Any]) -> _QuerySpec:
        asked = [f for f in _HISTORY_FIELDS if body.get(f) is not None]
        if asked:
            raise ProtocolError(
                f"{', '.join(asked)}: history is not shared; query the current version"
            )
        predicate = body.get("jsonPredicateHints")
        if predicate is not None and not isinstance(predicate, str):
            raise ProtocolError("jsonPredicateHints must be a JSON string")
        page_token = body.get("pageToken")
        if page_token is not None and not isinstance(page_token, str):
            raise ProtocolError("pageToken must be a string")
        return cls(
            predicate=predicate,
            limit=_optional_int(body, "limitHint", minimum=0),
            max_files=_optional_int(body, "maxFiles", minimum=1),
            page_token=page_token or None,
        )

    @property
    def fingerprint(self) -> str:
        return f"{self.predicate}|{self.limit}"


def _optional_int(body: dict[str, Any], field: str, minimum: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProtocolError(f"{field} must be an integer >= {minimum}")
    return value


def table_header_actions(delta: DeltaTable, name: str, fmt: str) -> list[dict[str, Any]]:
    """The protocol and metaData lines that open metadata and query responses."""
    if fmt == "delta":
        return [delta_protocol_action(delta), delta_metadata_action(delta, name)]
    return [protocol_action(), metadata_action(delta, name)]


def ndjson_response(
    actions: list[dict[str, Any]], version: int, fmt: str, include_end_stream: bool = False
) -> Response:
    capabilities = f"responseformat={fmt}"
    if include_end_stream:
        capabilities += ";includeendstreamaction=true"
    headers = {VERSION_HEADER: str(version), CAPABILITIES_HEADER: capabilities}
    return Response(ndjson(actions), media_type=NDJSON, headers=headers)


def _exists(uri: str, config: SharingConfig) -> bool:
    return DeltaTable.is_deltatable(uri, storage_options=storage_options_for(uri, config.settings))


def _wants_end_stream(capabilities: str | None) -> bool:
    return "includeendstreamaction=true" in (capabilities or "").replace(" ", "").lower()
