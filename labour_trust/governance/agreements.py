"""The data-sharing-agreement register (`agreements.yaml`).

One entry per agreement: who receives data (consumer department), why (purpose, Five Safes
"safe projects"), under which law (legal gateway), which published tables (optionally only
some columns or some ITL1 regions of a table), from when until when, and its status.

The register is validated as a whole on every load (pydantic models, one per entry and per
table grant), so a typo can never silently widen access: every error names the file, the
entry and the field. The tables an agreement may grant are the trust datasets' names.
`AgreementRegister` reloads the register when it changes in the trust's store (a file, or
an S3 object shared by every sharing-server replica: a running server picks up revocations
and edits on its next request) and rewrites only the `status:` value when an agreement is
revoked, so the comments and layout a data steward wrote survive.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from labour_trust.governance.tokens import (
    TOKENS_FILENAME,
    TokenStore,
    store_and_name,
    writer_lock,
)
from labour_trust.store import Store, StoredObject

STATUSES: tuple[str, ...] = ("active", "revoked", "suspended")
REGISTER_FILENAME = "agreements.yaml"

# Agreement ids end up in URLs, file paths (restricted tables) and log lines.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
COLUMN_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
REGION_PATTERN = re.compile(r"^[A-Z0-9]{2,9}$")
ID_RULE = "required; lower-case letters, digits, '-' or '_' (max 64)"


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
def published_tables() -> tuple[str, ...]:
    """The tables an agreement may grant: the trust datasets, each published under its name."""
    from labour_trust.trust.datasets import TRUST_DATASETS

    return tuple(TRUST_DATASETS)


@cache
def itl1_codes() -> frozenset[str]:
    from labour_trust.reference.geography import lads

    return frozenset(lad.itl1_code for lad in lads())


# --------------------------------------------------------------------------- validation
#
# Each field's type carries its rule: a validator raising the message a steward reads.
# `_describe` turns pydantic's errors into "agreement 'x' field 'f': problem" lines.


@dataclass(frozen=True)
class _Known:
    """The validation context: the tables and ITL1 codes a register may name."""

    tables: tuple[str, ...]
    regions: frozenset[str]


def _known(info: ValidationInfo) -> _Known:
    context = info.context
    return context if isinstance(context, _Known) else _Known(published_tables(), itl1_codes())


def _agreement_id(value: Any) -> Any:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ValueError(ID_RULE)
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("required non-empty text")
    return value.strip()


def _one_line(value: str) -> str:
    return " ".join(value.split())  # folded YAML (>-) keeps line breaks in long texts


def _date(value: Any) -> date:
    # PyYAML turns unquoted YYYY-MM-DD into a date; quoted or malformed values stay text.
    if isinstance(value, datetime):
        raise ValueError(f"{value} is a timestamp; give a date (YYYY-MM-DD)")
    if isinstance(value, date):
        return value
    if value is None:
        raise ValueError("required date (YYYY-MM-DD)")
    with suppress(TypeError, ValueError):
        return date.fromisoformat(value)
    raise ValueError(f"{value!r} is not a valid date (YYYY-MM-DD)")


def _status(value: Any) -> Any:
    if value not in STATUSES:
        raise ValueError(f"{value!r} is not one of {', '.join(STATUSES)}")
    return value


def _table(value: Any, info: ValidationInfo) -> Any:
    tables = _known(info).tables
    if value not in tables:
        raise ValueError(f"unknown table {value!r} (published: {', '.join(tables)})")
    return value


def _names(value: Any, pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list (omit it to grant every value)")
    bad = [v for v in value if not isinstance(v, str) or not pattern.match(v)]
    if bad:
        raise ValueError(f"invalid names {bad!r}")
    if len(set(value)) != len(value):
        raise ValueError("lists a name twice")
    return tuple(value)


def _columns(value: Any) -> tuple[str, ...] | None:
    return _names(value, COLUMN_PATTERN)


def _regions(value: Any, info: ValidationInfo) -> tuple[str, ...] | None:
    regions = _names(value, REGION_PATTERN)
    unknown = [r for r in regions or () if r not in _known(info).regions]
    if unknown:
        raise ValueError(f"unknown ITL1 codes {unknown!r}")
    return regions


def _column(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not COLUMN_PATTERN.match(value)):
        raise ValueError(f"{value!r} is not a column name")
    return value


def _non_empty(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise ValueError("required non-empty list of published tables")
    return value


def _each_once(grants: tuple[GrantModel, ...]) -> tuple[GrantModel, ...]:
    names = [g.name for g in grants]
    repeated = {n: names.count(n) for n in names if names.count(n) > 1}
    if repeated:
        times = {n: "twice" if c == 2 else f"{c} times" for n, c in repeated.items()}
        raise ValueError("; ".join(f"table {n!r} is listed {c}" for n, c in times.items()))
    return grants


Text = Annotated[str, BeforeValidator(_text)]
OneLine = Annotated[str, BeforeValidator(_text), AfterValidator(_one_line)]
Day = Annotated[date, BeforeValidator(_date)]
Names = tuple[str, ...] | None


class _Strict(BaseModel):
    # A missing field is None, validated like a given one: its message says what it needs.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class GrantModel(_Strict):
    """One item of an agreement's `tables`: a table name, or a mapping with `name`."""

    name: Annotated[str, BeforeValidator(_table)] = None
    columns: Annotated[Names, BeforeValidator(_columns)] = None
    regions: Annotated[Names, BeforeValidator(_regions)] = None
    region_column: Annotated[str | None, BeforeValidator(_column)] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}  # the whole table
        if not isinstance(value, Mapping):
            raise ValueError(f"{value!r} must be a table name or a mapping with 'name'")
        return value


class AgreementModel(_Strict):
    """One entry of the register as written; `to_agreement` gives the `Agreement`."""

    id: Annotated[str, BeforeValidator(_agreement_id)] = None
    consumer: Text = None
    purpose: OneLine = None
    legal_gateway: OneLine = None
    tables: Annotated[
        tuple[GrantModel, ...], BeforeValidator(_non_empty), AfterValidator(_each_once)
    ] = None
    start: Day = None
    expires: Day = None  # declared after start: its check reads the validated start
    status: Annotated[str, BeforeValidator(_status)] = None
    contact: Any = None  # free text for the steward, not checked
    notes: Any = None

    @field_validator("expires")
    @classmethod
    def _not_before_start(cls, expires: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and expires < start:
            raise ValueError(f"{expires} is before start {start}")
        return expires

    def to_agreement(self) -> Agreement:
        grants = (TableGrant(g.name, g.columns, g.regions, g.region_column) for g in self.tables)
        fields = self.model_dump(exclude={"tables", "contact", "notes"})
        return Agreement(**fields, tables=tuple(grants))


def parse_register(
    data: Any,
    *,
    source: str = "<register>",
    known_tables: tuple[str, ...] | None = None,
    known_regions: frozenset[str] | None = None,
) -> tuple[Agreement, ...]:
    """Validate parsed YAML and build the agreements; raises RegisterError listing all errors."""
    known = _Known(
        published_tables() if known_tables is None else tuple(known_tables),
        itl1_codes() if known_regions is None else frozenset(known_regions),
    )
    if not isinstance(data, Mapping) or not isinstance(data.get("agreements"), list):
        raise RegisterError(source, ["top level must be a mapping with an 'agreements' list"])
    errors: list[str] = []
    agreements: list[Agreement] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["agreements"], start=1):
        label = _label(entry, index)
        if not isinstance(entry, Mapping):
            errors.append(f"{label}: must be a mapping of fields")
            continue
        try:
            model = AgreementModel.model_validate(entry, context=known)
        except ValidationError as exc:
            errors.extend(_describe(exc, entry, label))
            continue
        if model.id in seen:
            errors.append(f"{label} field 'id': duplicate id (ids must be unique)")
            continue
        seen.add(model.id)
        agreements.append(model.to_agreement())
    if errors:
        raise RegisterError(source, errors)
    return tuple(agreements)


def _label(entry: Any, index: int) -> str:
    if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
        return f"agreement '{entry['id']}'"
    return f"agreement #{index} (no id)"


def _describe(error: ValidationError, entry: Mapping[str, Any], label: str) -> list[str]:
    """One line per problem, naming the agreement and the field (as evaluation/spec.py)."""
    lines = []
    for problem in error.errors():
        loc = list(problem["loc"])
        kind = problem["type"]
        if kind == "extra_forbidden":
            message = "unknown field"
        else:
            message = problem["msg"].removeprefix("Value error, ")
            given = problem.get("input")
            if kind != "value_error" and not isinstance(given, dict | list):
                message += f", got {given!r}"
        lines.append(f"{label} field '{_field(loc, entry.get('tables'))}': {message}")
    return lines


def _field(loc: list[Any], tables: Any) -> str:
    """`tables.<table>.<field>` for a grant's field; `tables` for a grant or its name."""
    if len(loc) < 2 or loc[0] != "tables" or not isinstance(loc[1], int):
        return ".".join(str(p) for p in loc)
    rest = [str(p) for p in loc[2:]]
    if rest in ([], ["name"]):
        return "tables"
    item = tables[loc[1]]
    name = item.get("name") if isinstance(item, Mapping) else item
    return ".".join(["tables", name if isinstance(name, str) else f"#{loc[1] + 1}", *rest])


def load_agreements(
    path: Path, *, known_tables: tuple[str, ...] | None = None
) -> tuple[Agreement, ...]:
    text = Path(path).read_text(encoding="utf-8")
    return agreements_from_text(text, str(path), known_tables=known_tables)


def agreements_from_text(
    text: str, source: str, *, known_tables: tuple[str, ...] | None = None
) -> tuple[Agreement, ...]:
    """Parse and validate a register's YAML; errors name `source` (a path or an s3:// URI)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegisterError(source, [f"not valid YAML: {exc}"]) from exc
    return parse_register(data, source=source, known_tables=known_tables)


# ----------------------------------------------------------------------------- register


class AgreementRegister(StoredObject):
    """The register object plus the token object beside it, reloaded whenever either changes.

    Both live in the trust's store (`labour_trust.store.Store`): files in a folder, or S3
    objects that every sharing-server replica and the CLI on any machine read and write.
    Reads are cheap (a `stat`, or an S3 HEAD, per call); a reload re-validates the whole
    register. If an edit makes it invalid, every lookup raises RegisterError (naming the
    file or s3:// URI) until it is fixed: access fails closed rather than continuing under
    a register nobody can read.

    `AgreementRegister(path)` opens a file (or an s3:// URI); `in_store(store)` the store's
    `agreements.yaml`.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        known_tables: tuple[str, ...] | None = None,
        tokens_path: Path | str | None = None,
        store: Store | None = None,
        name: str = REGISTER_FILENAME,
    ) -> None:
        self.store, self.name = store_and_name(path, store, name, "AgreementRegister")
        self.known_tables = published_tables() if known_tables is None else tuple(known_tables)
        self.tokens = (
            TokenStore(tokens_path)
            if tokens_path is not None
            else TokenStore(store=self.store, name=TOKENS_FILENAME)
        )
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._agreements: tuple[Agreement, ...] = ()
        self._error: RegisterError | None = None

    @classmethod
    def in_store(
        cls, store: Store | str, *, known_tables: tuple[str, ...] | None = None
    ) -> AgreementRegister:
        """The store's register (`STORE/agreements.yaml`, tokens beside it), validated now
        (raises RegisterError if it is invalid, FileNotFoundError if it is absent)."""
        store = Store(store) if isinstance(store, str) else store
        register = cls(store=store, known_tables=known_tables)
        register.agreements()
        return register

    @classmethod
    def load(
        cls, path: Path | str, *, known_tables: tuple[str, ...] | None = None
    ) -> AgreementRegister:
        """Open a register, validating it now (raises RegisterError if it is invalid)."""
        register = cls(path, known_tables=known_tables)
        register.agreements()
        return register

    @property
    def tokens_path(self) -> Path | str:
        return self.tokens.path

    def agreements(self) -> tuple[Agreement, ...]:
        self._refresh()
        return self._agreements

    def get(self, agreement_id: str) -> Agreement:
        for agreement in self.agreements():
            if agreement.id == agreement_id:
                return agreement
        raise KeyError(f"no agreement {agreement_id!r} in {self.uri}")

    def _refresh(self) -> None:
        # Taken before the read (and outside the lock: an S3 HEAD need not queue requests):
        # a replacement in between is read now and read again on the next call.
        fingerprint = self.store.fingerprint(self.name)
        with self._lock:
            if fingerprint is None:
                self._fingerprint, self._agreements, self._error = None, (), None
                raise FileNotFoundError(f"agreement register {self.uri} does not exist")
            if fingerprint != self._fingerprint:
                try:
                    self._agreements = self._read()
                    self._error = None
                except RegisterError as exc:
                    self._agreements, self._error = (), exc
                self._fingerprint = fingerprint
            if self._error is not None:
                raise self._error

    def _read(self) -> tuple[Agreement, ...]:
        text = self.store.read_text(self.name)
        if text is None:  # deleted since the fingerprint: fail closed, look again next time
            raise RegisterError(self.uri, ["the register disappeared while being read"])
        return agreements_from_text(text, self.uri, known_tables=self.known_tables)

    # --- status changes -----------------------------------------------------------------

    def set_status(self, agreement_id: str, status: str) -> Agreement:
        """Rewrite one agreement's status in the YAML (comments and layout preserved)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with writer_lock(self.store, self.name):
            text = self.store.read_text(self.name)
            if text is None:
                raise FileNotFoundError(f"agreement register {self.uri} does not exist")
            new_text = _replace_status(text, agreement_id, status)
            # Validate before writing: a status change must never break the register.
            agreements_from_text(new_text, self.uri, known_tables=self.known_tables)
            self.store.write_text(self.name, text=new_text)
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
