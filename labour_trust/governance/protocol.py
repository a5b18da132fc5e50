"""Delta Sharing protocol messages built from a Delta table.

Only what a snapshot query needs: the protocol and metaData actions, one `file` action per
data file (in the protocol's parquet or delta response format), best-effort
`jsonPredicateHints` on partition values and `limitHint`, and page tokens for `maxFiles`
paging. See https://github.com/delta-io/delta-sharing/blob/main/PROTOCOL.md
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

NDJSON = "application/x-ndjson; charset=utf-8"
# Features whose tables cannot be read from plain parquet files (parquet response format).
_UNSHAREABLE_FEATURES = {"deletionVectors", "columnMapping"}


class ProtocolError(ValueError):
    """The request cannot be answered as asked (mapped to 400 by the server)."""


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the table root, percent-decoded
    size: int
    modification_time: int  # unix milliseconds
    partition_values: dict[str, str | None]
    num_records: int | None
    stats: str | None  # the protocol's per-file statistics, as a JSON string


def protocol_action() -> dict[str, Any]:
    return {"protocol": {"minReaderVersion": 1}}


def metadata_action(table: DeltaTable, name: str) -> dict[str, Any]:
    metadata = table.metadata()
    return {
        "metaData": {
            "id": metadata.id,
            "name": name,
            "description": metadata.description,
            "format": {"provider": "parquet"},
            "schemaString": table.schema().to_json(),
            "partitionColumns": list(metadata.partition_columns),
            "configuration": {},
        }
    }


def check_shareable(table: DeltaTable) -> None:
    features = set(table.protocol().reader_features or [])
    blocked = features & _UNSHAREABLE_FEATURES
    if blocked:
        raise ProtocolError(
            f"the table uses reader features {sorted(blocked)} which cannot be shared as parquet"
        )


def list_files(table: DeltaTable) -> list[DataFile]:
    """Every data file of the table's current snapshot, in a stable order (for paging)."""
    actions = pa.table(table.get_add_actions(flatten=False)).to_pylist()
    files = [_data_file(action) for action in actions]
    return sorted(files, key=lambda f: f.path)


def _data_file(action: dict[str, Any]) -> DataFile:
    partition = action.get("partition") or {}
    values = {k: None if v is None else str(v) for k, v in partition.items()}
    num_records = action.get("num_records")
    stats = {
        "numRecords": num_records,
        "minValues": _drop_partitions(action.get("min"), values),
        "maxValues": _drop_partitions(action.get("max"), values),
        "nullCount": _drop_partitions(action.get("null_count"), values),
    }
    return DataFile(
        path=unquote(action["path"]),
        size=int(action["size_bytes"]),
        modification_time=int(action["modification_time"]),
        partition_values=values,
        num_records=num_records,
        stats=json.dumps({k: v for k, v in stats.items() if v is not None}, default=str),
    )


def _drop_partitions(values: dict[str, Any] | None, partitions: dict[str, Any]) -> Any:
    if not values:
        return None
    return {k: v for k, v in values.items() if k not in partitions}


def file_action(
    data_file: DataFile, table_key: str, url: str, expiration_ms: int
) -> dict[str, Any]:
    return {
        "file": {
            "url": url,
            "id": _file_id(table_key, data_file),
            "partitionValues": data_file.partition_values,
            "size": data_file.size,
            "stats": data_file.stats,
            "expirationTimestamp": expiration_ms,
        }
    }


def response_format(capabilities: str | None) -> str:
    """ "delta" only when the client asks for delta and not parquet (our tables need nothing
    beyond parquet, and the parquet format is what every client reads)."""
    formats: set[str] = set()
    for capability in (capabilities or "").lower().replace(" ", "").split(";"):
        key, _, values = capability.partition("=")
        if key == "responseformat":
            formats.update(values.split(","))
    return "delta" if "delta" in formats and "parquet" not in formats else "parquet"


def delta_protocol_action(table: DeltaTable) -> dict[str, Any]:
    protocol = table.protocol()
    delta_protocol: dict[str, Any] = {
        "minReaderVersion": protocol.min_reader_version,
        "minWriterVersion": protocol.min_writer_version,
    }
    if protocol.reader_features:
        delta_protocol["readerFeatures"] = list(protocol.reader_features)
    if protocol.writer_features:
        delta_protocol["writerFeatures"] = list(protocol.writer_features)
    return {"protocol": {"deltaProtocol": delta_protocol}}


def delta_metadata_action(table: DeltaTable, name: str) -> dict[str, Any]:
    metadata = table.metadata()
    return {
        "metaData": {
            "version": table.version(),
            "deltaMetadata": {
                "id": metadata.id,
                "name": name,
                "description": metadata.description,
                "format": {"provider": "parquet", "options": {}},
                "schemaString": table.schema().to_json(),
                "partitionColumns": list(metadata.partition_columns),
                "configuration": {},
                "createdTime": metadata.created_time,
            },
        }
    }


def delta_file_action(
    data_file: DataFile, table_key: str, url: str, expiration_ms: int
) -> dict[str, Any]:
    """A file in the delta response format: an `add` action whose path is the URL."""
    return {
        "file": {
            "id": _file_id(table_key, data_file),
            "expirationTimestamp": expiration_ms,
            "deltaSingleAction": {
                "add": {
                    "path": url,
                    "partitionValues": data_file.partition_values,
                    "size": data_file.size,
                    "modificationTime": data_file.modification_time,
                    "dataChange": True,
                    "stats": data_file.stats,
                }
            },
        }
    }


def _file_id(table_key: str, data_file: DataFile) -> str:
    # Stable across requests (the protocol lets clients cache by id).
    return hashlib.sha256(f"{table_key}/{data_file.path}".encode()).hexdigest()[:32]


def ndjson(actions: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(a, separators=(",", ":")) + "\n" for a in actions)


# ---------------------------------------------------------------------------- hints


def apply_json_predicate(
    files: list[DataFile], hint: str | None, partition_columns: list[str]
) -> list[DataFile]:
    """Keep files whose partition values may satisfy the predicate (best effort).

    Filtering is only a hint in the protocol: anything not understood keeps the file, and
    a malformed predicate disables filtering altogether.
    """
    if not hint:
        return files
    try:
        predicate = json.loads(hint)
        return [f for f in files if _eval(predicate, f.partition_values, partition_columns)]
    except (ValueError, KeyError, TypeError):
        return files


def _eval(op: dict[str, Any], values: dict[str, str | None], partitions: list[str]) -> bool:
    """True unless the predicate is certainly false for these partition values."""
    name = op["op"]
    children = op.get("children", [])
    if name == "and":
        return all(_eval(c, values, partitions) for c in children)
    if name == "or":
        return any(_eval(c, values, partitions) for c in children)
    if name in _COMPARISONS:
        left, right = (_operand(c, values, partitions) for c in children)
        if left is _UNKNOWN or right is _UNKNOWN:
            return True
        if left is None or right is None:
            return False
        return _COMPARISONS[name](left, right)
    if name == "isNull":
        (value,) = (_operand(c, values, partitions) for c in children)
        return True if value is _UNKNOWN else value is None
    return True  # `not` and anything newer: cannot prune safely


_UNKNOWN = object()
_COMPARISONS = {
    "equal": lambda a, b: a == b,
    "lessThan": lambda a, b: a < b,
    "lessThanOrEqual": lambda a, b: a <= b,
    "greaterThan": lambda a, b: a > b,
    "greaterThanOrEqual": lambda a, b: a >= b,
}


def _operand(op: dict[str, Any], values: dict[str, str | None], partitions: list[str]) -> Any:
    if op["op"] == "column":
        if op["name"] not in partitions:
            return _UNKNOWN  # a data column: only the reader can evaluate it
        return _typed(values.get(op["name"]), op.get("valueType", "string"))
    if op["op"] == "literal":
        return _typed(op["value"], op.get("valueType", "string"))
    return _UNKNOWN


def _typed(value: str | None, value_type: str) -> Any:
    if value is None or value == "":
        return None
    if value_type in ("int", "long"):
        return int(value)
    if value_type in ("float", "double"):
        return float(value)
    return str(value)  # string, date (ISO dates order as text), boolean


def apply_limit_hint(files: list[DataFile], limit: int | None) -> list[DataFile]:
    """Enough files to cover `limit` rows, using per-file record counts (best effort)."""
    if limit is None:
        return files
    kept, rows = [], 0
    for data_file in files:
        if rows >= limit:
            break
        kept.append(data_file)
        if data_file.num_records is None:
            return files  # unknown counts: cannot tell where to stop
        rows += data_file.num_records
    return kept


# ---------------------------------------------------------------------------- paging


class PageTokens:
    """Opaque, signed page tokens: a consumer can neither forge nor reuse another's."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, state: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode()
        return f"{payload}.{self._sign(payload)}"

    def decode(self, token: str) -> dict[str, Any]:
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            raise ProtocolError("invalid pageToken")
        try:
            return json.loads(base64.urlsafe_b64decode(payload.encode()))
        except ValueError as exc:
            raise ProtocolError("invalid pageToken") from exc

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]
