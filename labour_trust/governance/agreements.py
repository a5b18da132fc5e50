"""The data-sharing-agreement register (`agreements.yaml`).

One entry per agreement: who receives data (consumer department), why (purpose, Five Safes
"safe projects"), under which law (legal gateway), which published tables (optionally only
some columns or some ITL1 regions of a table), from when until when, and its status.

The register is validated as a whole on every load, so a typo can never silently widen
access: every error names the entry id and the field. `AgreementRegister` reloads the file
when it changes on disk (a running sharing server picks up revocations and edits on its
next request) and rewrites only the `status:` value when an agreement is revoked, so the
comments and layout a data steward wrote survive.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from labour_trust.governance._files import atomic_write, file_fingerprint, file_lock
from labour_trust.governance.tokens import TokenStore

PUBLISHED_TABLES: tuple[str, ...] = (
    "local_labour_market",
    "sector_view",
    "claimant_outcomes",
    "skills_outcomes",
)
STATUSES: tuple[str, ...] = ("active", "revoked", "suspended")
TOKENS_FILENAME = "sharing_tokens.json"

# Agreement ids end up in URLs, file paths (restricted tables) and log lines.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
COLUMN_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

_AGREEMENT_FIELDS = {
    "id",
    "consumer",
    "purpose",
    "legal_gateway",
    "tables",
    "start",
    "expires",
    "status",
    "contact",
    "notes",
}
_REQUIRED_TEXT_FIELDS = ("consumer", "purpose", "legal_gateway")
_GRANT_FIELDS = {"name", "columns", "regions", "region_column"}


class RegisterError(ValueError):
    """The register file is invalid; `errors` lists every problem found."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(
            f"invalid agreement register {source}:\n" + "\n".join(f"  - {e}" for e in errors)
        )


@dataclass(frozen=True)
class TableGrant:
    """Permission to read one published table, possibly only some columns or regions."""

    name: str
    columns: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None  # ITL1 codes
    region_column: str | None = None  # overrides the table's default region column

    @property
    def restricted(self) -> bool:
        """True if the consumer may see only part of the table (served from a copy)."""
        return self.columns is not None or self.regions is not None


@dataclass(frozen=True)
class Agreement:
    id: str
    consumer: str
    purpose: str
    legal_gateway: str
    tables: tuple[TableGrant, ...]
    start: date
    expires: date  # inclusive: the agreement is live on this day
    status: str

    def state_on(self, today: date) -> str:
        """The effective state: active, revoked, suspended, expired or not_started."""
        if self.status != "active":
            return self.status
        if today > self.expires:
            return "expired"
        if today < self.start:
            return "not_started"
        return "active"

    def is_live(self, today: date | None = None) -> bool:
        return self.state_on(today or utc_today()) == "active"

    def grant(self, table: str) -> TableGrant | None:
        return next((g for g in self.tables if g.name == table), None)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.tables)


def utc_today() -> date:
    return datetime.now(UTC).date()


@cache
def itl1_codes() -> frozenset[str]:
    from labour_trust.reference.geography import lads

    return frozenset(lad.itl1_code for lad in lads())


# --------------------------------------------------------------------------- validation


class _Errors:
    """Collects errors, each prefixed with the entry and the field it concerns."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, label: str, field: str, problem: str) -> None:
        self.items.append(f"{label} field '{field}': {problem}")


def parse_register(
    data: Any,
    *,
    source: str = "<register>",
    known_tables: tuple[str, ...] = PUBLISHED_TABLES,
    known_regions: frozenset[str] | None = None,
) -> tuple[Agreement, ...]:
    """Validate parsed YAML and build the agreements; raises RegisterError listing all errors."""
    regions = itl1_codes() if known_regions is None else known_regions
    if not isinstance(data, Mapping) or not isinstance(data.get("agreements"), list):
        raise RegisterError(source, ["top level must be a mapping with an 'agreements' list"])
    errors = _Errors()
    agreements: list[Agreement] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["agreements"], start=1):
        label = _label(entry, index)
        if not isinstance(entry, Mapping):
            errors.items.append(f"{label}: must be a mapping of fields")
            continue
        agreement = _parse_agreement(entry, label, errors, known_tables, regions)
        if agreement is None:
            continue
        if agreement.id in seen:
            errors.add(label, "id", "duplicate id (ids must be unique)")
            continue
        seen.add(agreement.id)
        agreements.append(agreement)
    if errors.items:
        raise RegisterError(source, errors.items)
    return tuple(agreements)


def _label(entry: Any, index: int) -> str:
    if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
        return f"agreement '{entry['id']}'"
    return f"agreement #{index} (no id)"


def _parse_agreement(
    entry: Mapping[str, Any],
    label: str,
    errors: _Errors,
    known_tables: tuple[str, ...],
    known_regions: frozenset[str],
) -> Agreement | None:
    before = len(errors.items)
    for unknown in sorted(set(entry) - _AGREEMENT_FIELDS):
        errors.add(label, str(unknown), "unknown field")
    agreement_id = entry.get("id")
    if not isinstance(agreement_id, str) or not ID_PATTERN.match(agreement_id):
        errors.add(label, "id", "required; lower-case letters, digits, '-' or '_' (max 64)")
    for name in _REQUIRED_TEXT_FIELDS:
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.add(label, name, "required non-empty text")
    start = _parse_date(entry.get("start"), label, "start", errors)
    expires = _parse_date(entry.get("expires"), label, "expires", errors)
    if start and expires and expires < start:
        errors.add(label, "expires", f"{expires} is before start {start}")
    status = entry.get("status")
    if status not in STATUSES:
        errors.add(label, "status", f"{status!r} is not one of {', '.join(STATUSES)}")
    grants = _parse_grants(entry.get("tables"), label, errors, known_tables, known_regions)
    if len(errors.items) > before:
        return None
    return Agreement(
        id=agreement_id,
        consumer=entry["consumer"].strip(),
        purpose=" ".join(entry["purpose"].split()),
        legal_gateway=" ".join(entry["legal_gateway"].split()),
        tables=grants,
        start=start,
        expires=expires,
        status=status,
    )


def _parse_date(value: Any, label: str, field: str, errors: _Errors) -> date | None:
    # PyYAML turns unquoted YYYY-MM-DD into a date; quoted or malformed values stay text.
    if isinstance(value, datetime):
        errors.add(label, field, f"{value} is a timestamp; give a date (YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    if value is None:
        errors.add(label, field, "required date (YYYY-MM-DD)")
    else:
        errors.add(label, field, f"{value!r} is not a valid date (YYYY-MM-DD)")
    return None


def _parse_grants(
    value: Any,
    label: str,
    errors: _Errors,
    known_tables: tuple[str, ...],
    known_regions: frozenset[str],
) -> tuple[TableGrant, ...]:
    if not isinstance(value, list) or not value:
        errors.add(label, "tables", "required non-empty list of published tables")
        return ()
    grants: list[TableGrant] = []
    for item in value:
        grant = _parse_grant(item, label, errors, known_tables, known_regions)
        if grant is None:
            continue
        if any(g.name == grant.name for g in grants):
            errors.add(label, "tables", f"table {grant.name!r} is listed twice")
            continue
        grants.append(grant)
    return tuple(grants)


def _parse_grant(
    item: Any,
    label: str,
    errors: _Errors,
    known_tables: tuple[str, ...],
    known_regions: frozenset[str],
) -> TableGrant | None:
    spec: Mapping[str, Any] = {"name": item} if isinstance(item, str) else item
    if not isinstance(spec, Mapping):
        errors.add(label, "tables", f"{item!r} must be a table name or a mapping with 'name'")
        return None
    name = spec.get("name")
    if name not in known_tables:
        errors.add(
            label, "tables", f"unknown table {name!r} (published: {', '.join(known_tables)})"
        )
        return None
    field = f"tables.{name}"
    for unknown in sorted(set(spec) - _GRANT_FIELDS):
        errors.add(label, f"{field}.{unknown}", "unknown field")
    columns = _parse_names(spec.get("columns"), label, f"{field}.columns", errors, COLUMN_PATTERN)
    regions = _parse_regions(spec.get("regions"), label, f"{field}.regions", errors, known_regions)
    region_column = spec.get("region_column")
    if region_column is not None and (
        not isinstance(region_column, str) or not COLUMN_PATTERN.match(region_column)
    ):
        errors.add(label, f"{field}.region_column", f"{region_column!r} is not a column name")
        region_column = None
    return TableGrant(name, columns, regions, region_column)


def _parse_names(
    value: Any, label: str, field: str, errors: _Errors, pattern: re.Pattern[str]
) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        errors.add(label, field, "must be a non-empty list (omit it to grant every value)")
        return None
    bad = [v for v in value if not isinstance(v, str) or not pattern.match(v)]
    if bad:
        errors.add(label, field, f"invalid names {bad!r}")
        return None
    if len(set(value)) != len(value):
        errors.add(label, field, "lists a name twice")
        return None
    return tuple(value)


def _parse_regions(
    value: Any, label: str, field: str, errors: _Errors, known_regions: frozenset[str]
) -> tuple[str, ...] | None:
    regions = _parse_names(value, label, field, errors, re.compile(r"^[A-Z0-9]{2,9}$"))
    if regions is None:
        return None
    unknown = [r for r in regions if r not in known_regions]
    if unknown:
        errors.add(label, field, f"unknown ITL1 codes {unknown!r}")
        return None
    return regions


def load_agreements(
    path: Path, *, known_tables: tuple[str, ...] = PUBLISHED_TABLES
) -> tuple[Agreement, ...]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegisterError(str(path), [f"not valid YAML: {exc}"]) from exc
    return parse_register(data, source=str(path), known_tables=known_tables)


# ----------------------------------------------------------------------------- register


class AgreementRegister:
    """The register file plus the token file beside it, reloaded whenever either changes.

    Reads are cheap (a `stat` per call); a reload re-validates the whole file. If an edit
    makes the file invalid, every lookup raises RegisterError until it is fixed: access
    fails closed rather than continuing under a register nobody can read.
    """

    def __init__(
        self,
        path: Path,
        *,
        known_tables: tuple[str, ...] = PUBLISHED_TABLES,
        tokens_path: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.known_tables = known_tables
        self.tokens = TokenStore(tokens_path or self.path.parent / TOKENS_FILENAME)
        self._lock = threading.Lock()
        self._fingerprint: tuple[int, int, int] | None = None
        self._agreements: tuple[Agreement, ...] = ()
        self._error: RegisterError | None = None

    @classmethod
    def load(
        cls, path: Path, *, known_tables: tuple[str, ...] = PUBLISHED_TABLES
    ) -> AgreementRegister:
        """Open a register, validating it now (raises RegisterError if it is invalid)."""
        register = cls(path, known_tables=known_tables)
        register.agreements()
        return register

    @property
    def tokens_path(self) -> Path:
        return self.tokens.path

    def agreements(self) -> tuple[Agreement, ...]:
        self._refresh()
        return self._agreements

    def get(self, agreement_id: str) -> Agreement:
        for agreement in self.agreements():
            if agreement.id == agreement_id:
                return agreement
        raise KeyError(f"no agreement {agreement_id!r} in {self.path}")

    def _refresh(self) -> None:
        with self._lock:
            fingerprint = file_fingerprint(self.path)
            if fingerprint is None:
                raise FileNotFoundError(f"agreement register {self.path} does not exist")
            if fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                try:
                    self._agreements = load_agreements(self.path, known_tables=self.known_tables)
                    self._error = None
                except RegisterError as exc:
                    self._agreements, self._error = (), exc
            if self._error is not None:
                raise self._error

    # --- status changes -----------------------------------------------------------------

    def set_status(self, agreement_id: str, status: str) -> Agreement:
        """Rewrite one agreement's status in the YAML file (comments and layout preserved)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with file_lock(self.path):
            text = self.path.read_text(encoding="utf-8")
            new_text = _replace_status(text, agreement_id, status)
            # Validate before writing: a status change must never break the register.
            parse_register(
                yaml.safe_load(new_text), source=str(self.path), known_tables=self.known_tables
            )
            atomic_write(self.path, new_text)
        return self.get(agreement_id)

    def revoke(self, agreement_id: str) -> Agreement:
        return self.set_status(agreement_id, "revoked")

    # --- tokens -------------------------------------------------------------------------

    def issue_token(self, agreement_id: str, *, today: date | None = None) -> str:
        """A new bearer token for a live agreement (replacing any earlier one).

        Only its SHA-256 hash is stored; the token itself is returned once, to be handed
        to the consumer in a profile file.
        """
        agreement = self.get(agreement_id)
        state = agreement.state_on(today or utc_today())
        if state != "active":
            raise ValueError(f"agreement {agreement_id!r} is {state}; no token issued")
        return self.tokens.issue(agreement_id)

    def agreement_for_token(self, token: str) -> Agreement | None:
        """The agreement a bearer token belongs to (whatever its state), or None."""
        agreement_id = self.tokens.agreement_for(token)
        if agreement_id is None:
            return None
        try:
            return self.get(agreement_id)
        except KeyError:
            return None  # the agreement was deleted from the register


def _replace_status(text: str, agreement_id: str, status: str) -> str:
    root = yaml.compose(text)
    entries = _mapping_value(root, "agreements")
    if not isinstance(entries, yaml.SequenceNode):
        raise RegisterError("<register>", ["top level must have an 'agreements' list"])
    for entry in entries.value:
        if not isinstance(entry, yaml.MappingNode):
            continue
        id_node = _mapping_value(entry, "id")
        if id_node is None or id_node.value != agreement_id:
            continue
        status_node = _mapping_value(entry, "status")
        if status_node is None:
            raise RegisterError("<register>", [f"agreement '{agreement_id}' has no status"])
        start, end = status_node.start_mark.index, status_node.end_mark.index
        return text[:start] + status + text[end:]
    raise KeyError(f"no agreement {agreement_id!r} in the register")


def _mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if getattr(k, "value", None) == key), None)
