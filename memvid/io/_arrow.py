"""Records as Arrow: the explicit schema Parquet and LanceDB exports use, and its reader."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from memvid.errors import InvalidInputError
from memvid.format.limits import MAX_EMBEDDING_DIM
from memvid.io.records import MAX_ID, FrameRecord, dumps

__all__ = ["BatchReader", "arrow_schema", "records_to_batch"]

_TS: Final = pa.timestamp("us", tz="UTC")

_TYPES: Final[dict[str, pa.DataType]] = {
    "id": pa.uint64(),
    "created_at": _TS,
    "timestamp": _TS,
    "uri": pa.string(),
    "title": pa.string(),
    "kind": pa.string(),
    "tags": pa.map_(pa.string(), pa.string()),
    "metadata": pa.string(),  # JSON text: nested metadata has no fixed Arrow type
    "text": pa.string(),
    "payload": pa.binary(),
    "checksum": pa.string(),  # 32 hex digits, as Frame.checksum
    "supersedes": pa.uint64(),
}
_NOT_NULL: Final = frozenset({"text"})


def arrow_schema(dim: int | None, *, names: Mapping[str, str] | None = None) -> pa.Schema:
    """The schema of exported frames; ``embedding`` is ``fixed_size_list<float32>[dim]``,
    present only with a ``dim``. ``names`` renames fields (LanceDB calls it ``vector``)."""
    names = names or {}
    fields = [pa.field(names.get(n, n), t, nullable=n not in _NOT_NULL) for n, t in _TYPES.items()]
    if dim:
        fields.append(pa.field(names.get("embedding", "embedding"), pa.list_(pa.float32(), dim)))
    return pa.schema(fields, metadata={b"memvid": b'{"records": "frames", "version": 1}'})


def records_to_batch(
    records: list[FrameRecord], schema: pa.Schema, names: Mapping[str, str] | None = None
) -> pa.RecordBatch:
    names = names or {}
    columns: dict[str, pa.Array[Any]] = {
        "id": pa.array([r.id for r in records], pa.uint64()),
        "created_at": pa.array([r.created_at_us for r in records], pa.int64()).cast(_TS),
        "timestamp": pa.array([r.timestamp_us for r in records], pa.int64()).cast(_TS),
        "uri": pa.array([r.uri for r in records], pa.string()),
        "title": pa.array([r.title for r in records], pa.string()),
        "kind": pa.array([r.kind for r in records], pa.string()),
        "tags": pa.array([list(r.tags.items()) for r in records], _TYPES["tags"]),
        "metadata": pa.array([dumps(dict(r.metadata)) if r.metadata else None for r in records], pa.string()),
        "text": pa.array([r.text for r in records], pa.string()),
        "payload": pa.array([r.payload for r in records], pa.binary()),
        "checksum": pa.array([None if r.checksum is None else r.checksum.hex() for r in records], pa.string()),
        "supersedes": pa.array([r.supersedes for r in records], pa.uint64()),
    }
    vector_name = names.get("embedding", "embedding")
    if vector_name in schema.names:
        dim = schema.field(vector_name).type.list_size
        values = np.zeros((len(records), dim), dtype=np.float32)
        missing = np.zeros(len(records), dtype=bool)
        for i, r in enumerate(records):
            if r.embedding is None:
                missing[i] = True
            else:
                values[i] = r.embedding
        columns["embedding"] = pa.FixedSizeListArray.from_arrays(
            pa.array(values.reshape(-1)), dim, mask=pa.array(missing) if missing.any() else None
        )
    arrays = [columns[n] for n in (*_TYPES, "embedding") if names.get(n, n) in schema.names]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class BatchReader:
    """Turns Arrow batches with some of the export's columns into records.

    ``names`` maps a record field to its column. Columns that map to no field are
    refused, unless ``extra_to_metadata``: then their values join each record's
    metadata under the column's name.
    """

    def __init__(
        self,
        schema: pa.Schema,
        *,
        what: str,
        names: Mapping[str, str] | None = None,
        extra_to_metadata: bool = False,
    ) -> None:
        names = dict(names or {})
        unknown_fields = set(names) - {*_TYPES, "embedding"}
        if unknown_fields:
            raise InvalidInputError(f"no such frame field: {', '.join(sorted(unknown_fields))}")
        self.what = what
        self.columns: dict[str, str] = {}  # field -> column present in the schema
        for name in (*_TYPES, "embedding"):
            column = names.get(name, name)
            if column in schema.names:
                self.columns[name] = column
        if len(set(schema.names)) != len(schema.names):
            raise InvalidInputError(f"{what} has two columns with the same name")
        mapped = set(self.columns.values())
        self.extra = [n for n in schema.names if n not in mapped]
        if self.extra and not extra_to_metadata:
            raise InvalidInputError(f"{what} has columns that are not frame fields: {', '.join(self.extra)}")
        if "text" not in self.columns and "payload" not in self.columns:
            raise InvalidInputError(f"{what} has no text column ({names.get('text', 'text')!r})")
        for name, column in self.columns.items():
            if name == "embedding":
                _check_vector_type(schema.field(column).type, f"{what}: column {column!r}")
            elif name in ("created_at", "timestamp") and not pa.types.is_timestamp(schema.field(column).type):
                raise InvalidInputError(f"{what}: column {column!r} must be a timestamp")

    def records(self, batch: pa.RecordBatch, first_row: int) -> Iterator[tuple[str, FrameRecord]]:
        values: dict[str, list[Any]] = {}
        for name, column in self.columns.items():
            array = batch.column(column)
            if name == "embedding":
                continue
            values[name] = self._cast(array, name, column).to_pylist()
        vectors = self._vectors(batch.column(self.columns["embedding"])) if "embedding" in self.columns else None
        extras = {name: batch.column(name).to_pylist() for name in self.extra}
        for i in range(batch.num_rows):
            where = f"{self.what} row {first_row + i}"
            yield where, self._record({k: v[i] for k, v in values.items()}, vectors, extras, i, where)

    def _cast(self, array: pa.Array[Any], name: str, column: str) -> pa.Array[Any]:
        target = _TYPES[name]
        try:
            if name in ("created_at", "timestamp"):
                return array.cast(_TS).cast(pa.int64())
            if name == "checksum" and pa.types.is_fixed_size_binary(array.type):
                return array
            return array.cast(target)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InvalidInputError(f"{self.what}: column {column!r} cannot be read as {target}: {exc}") from None

    def _vectors(self, array: pa.Array[Any]) -> list[npt.NDArray[np.float32] | None]:
        valid = array.is_valid().to_pylist()
        rows: list[npt.NDArray[np.float32] | None] = [None] * len(array)
        try:
            if pa.types.is_fixed_size_list(array.type):
                fixed = cast("pa.FixedSizeListArray[Any, Any]", array)
                dim = fixed.type.list_size
                flat = fixed.values.to_numpy(zero_copy_only=False)
                with np.errstate(over="ignore", invalid="ignore"):
                    table = np.asarray(flat, dtype=np.float32)
                table = table.reshape(-1, dim)[array.offset : array.offset + len(array)] if dim else table
                for i, ok in enumerate(valid):
                    if ok:
                        rows[i] = self._check_vector(table[i])
            else:
                for i, value in enumerate(array.to_pylist()):
                    if value is not None:
                        with np.errstate(over="ignore", invalid="ignore"):
                            rows[i] = self._check_vector(np.asarray(value, dtype=np.float32))
        except (TypeError, ValueError):
            raise InvalidInputError(f"{self.what}: an embedding holds something other than numbers") from None
        return rows

    def _check_vector(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if vector.ndim != 1 or not 0 < vector.size <= MAX_EMBEDDING_DIM or not np.all(np.isfinite(vector)):
            raise InvalidInputError(f"{self.what}: an embedding is empty, too long, or not finite float32")
        return vector.copy()

    def _record(
        self,
        row: dict[str, Any],
        vectors: list[npt.NDArray[np.float32] | None] | None,
        extras: dict[str, list[Any]],
        i: int,
        where: str,
    ) -> FrameRecord:
        metadata = _metadata(row.get("metadata"), where)
        for name, column_values in extras.items():
            metadata.setdefault(name, column_values[i])
        if extras:
            metadata = json.loads(dumps(metadata))  # dates, bytes and numbers from foreign columns, as JSON
        text = row.get("text")
        payload = row.get("payload")
        if text is None:
            if "text" in self.columns:
                raise InvalidInputError(f"{where}: text is null")
            text = _utf8_or_empty(payload)
        return FrameRecord(
            id=_id(row.get("id"), "id", where),
            created_at_us=row.get("created_at"),
            timestamp_us=row.get("timestamp"),
            uri=row.get("uri"),
            title=row.get("title"),
            kind=row.get("kind"),
            tags=_tags(row.get("tags"), where),
            metadata=metadata,
            text=text,
            payload=payload,
            checksum=_checksum(row.get("checksum"), where),
            supersedes=_id(row.get("supersedes"), "supersedes", where),
            embedding=None if vectors is None else vectors[i],
        )


def _check_vector_type(kind: pa.DataType, where: str) -> None:
    if (
        pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
    ) and pa.types.is_floating(kind.value_type):
        return
    raise InvalidInputError(f"{where} must be a list of floats, not {kind}")


def _metadata(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        raise InvalidInputError(f"{where}: metadata is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidInputError(f"{where}: metadata must be a JSON object")
    return parsed


def _tags(value: Iterable[tuple[str, str | None]] | None, where: str) -> dict[str, str]:
    if value is None:
        return {}
    tags: dict[str, str] = {}
    for key, item in value:
        if item is None:
            raise InvalidInputError(f"{where}: tag {key!r} has no value")
        tags[key] = item
    return tags


def _id(value: int | None, name: str, where: str) -> int | None:
    if value is not None and not 0 <= value <= MAX_ID:
        raise InvalidInputError(f"{where}: {name} must be from 0 to {MAX_ID}")
    return value


def _checksum(value: str | bytes | None, where: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        if len(value) != 16:
            raise InvalidInputError(f"{where}: checksum must be 16 bytes")
        return value
    try:
        digest = bytes.fromhex(value)
    except ValueError:
        digest = b""
    if len(digest) != 16:
        raise InvalidInputError(f"{where}: checksum must be 32 hex digits")
    return digest


def _utf8_or_empty(payload: bytes | None) -> str:
    if payload is None:
        return ""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return ""
