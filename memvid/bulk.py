"""Columnar input for :meth:`Memvid.put_many`: frames from an Arrow table.

Each column is checked as a whole where Arrow can (types, nulls, sizes,
finite vectors), so a large batch costs a few microseconds a frame instead of
the tens that a Python mapping per frame costs.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from memvid._time import now_us, to_us
from memvid.engine.rows import Row
from memvid.errors import InvalidInputError, LimitExceededError, MemvidError
from memvid.format.checksum import content_digest
from memvid.format.limits import MAX_EMBEDDING_DIM, MAX_FRAME_BYTES
from memvid.frame import check_tags, encode_metadata

__all__ = ["COLUMNS", "rows_from_table"]

COLUMNS: Final = ("text", "title", "uri", "kind", "tags", "timestamp", "metadata", "embedding", "payload")
"""The columns :func:`rows_from_table` reads; ``text`` is required."""


def rows_from_table(table: pa.Table | pa.RecordBatch) -> list[Row]:
    """Check every column of ``table`` and return one pending row per table row.
    Nothing is kept from a table that fails a check."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    names = table.column_names
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise InvalidInputError(
            f"put_many: unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(COLUMNS)}"
        )
    if len(set(names)) != len(names):
        raise InvalidInputError("put_many: a column name appears twice")
    if "text" not in names:
        raise InvalidInputError("put_many: the table needs a 'text' column")
    n = table.num_rows
    texts = _strings(table, "text", nullable=False)
    assert texts is not None
    payloads = _payloads(table)
    encoded = []
    for i, text in enumerate(texts):
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"put_many: row {i}: text is not valid Unicode ({exc.reason})") from None
        size = len(data) + (len(payloads[i] or b"") if payloads is not None else 0)
        if size > MAX_FRAME_BYTES:
            raise LimitExceededError(
                f"put_many: row {i}: frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit"
            )
        encoded.append(data)
    titles = _strings(table, "title")
    uris = _strings(table, "uri")
    kinds = _strings(table, "kind")
    tags = _per_row(table, "tags", check_tags)
    metadata = _per_row(table, "metadata", encode_metadata)
    timestamps = _timestamps(table)
    vectors, present = _embeddings(table)
    created = now_us()
    none: list[Any] = [None] * n
    return [
        Row(
            frame_id=-1,
            created_at_us=created,
            timestamp_us=(timestamps or none)[i],
            uri=(uris or none)[i],
            title=(titles or none)[i],
            kind=(kinds or none)[i],
            tags=(tags or none)[i] or {},
            metadata=(metadata or none)[i],
            text=texts[i],
            payload=(payloads or none)[i],
            checksum=content_digest(encoded[i], (payloads or none)[i]),
            supersedes=None,
            embedding=None if vectors is None or not present[i] else vectors[i],
        )
        for i in range(n)
    ]


def _column(table: pa.Table, name: str) -> pa.ChunkedArray[Any] | None:
    return table.column(name) if name in table.column_names else None


def _strings(table: pa.Table, name: str, *, nullable: bool = True) -> list[Any] | None:
    column = _column(table, name)
    if column is None:
        return None
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        values = column.to_pylist()  # Arrow strings are valid UTF-8 already
    elif pa.types.is_null(column.type) and nullable:
        return None
    else:
        raise InvalidInputError(f"put_many: column {name!r} must be strings, not {column.type}")
    if not nullable and column.null_count:
        raise InvalidInputError(f"put_many: column {name!r} has {column.null_count} null value(s)")
    return values


def _payloads(table: pa.Table) -> list[bytes | None] | None:
    column = _column(table, "payload")
    if column is None or pa.types.is_null(column.type):
        return None
    if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        raise InvalidInputError(f"put_many: column 'payload' must be binary, not {column.type}")
    values: list[bytes | None] = column.to_pylist()
    return values


def _per_row(table: pa.Table, name: str, check: Any) -> list[Any] | None:
    column = _column(table, name)
    if column is None or pa.types.is_null(column.type):
        return None
    out = []
    for i, value in enumerate(column.to_pylist()):
        if isinstance(value, list) and pa.types.is_map(column.type):
            value = dict(value)
        try:
            out.append(None if value is None else check(value))
        except MemvidError as exc:
            raise type(exc)(f"put_many: row {i}: {exc}") from None
    return out


def _timestamps(table: pa.Table) -> list[int | None] | None:
    column = _column(table, "timestamp")
    if column is None or pa.types.is_null(column.type):
        return None
    if pa.types.is_timestamp(column.type):
        # A naive timestamp means UTC, as everywhere in memvid; the stored ticks are UTC either way.
        values: list[int | None] = column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64()).to_pylist()
        return values
    out: list[int | None] = []
    for i, value in enumerate(column.to_pylist()):
        try:
            out.append(None if value is None else to_us(value, field="timestamp"))
        except MemvidError as exc:
            raise type(exc)(f"put_many: row {i}: {exc}") from None
    return out


def _embeddings(table: pa.Table) -> tuple[npt.NDArray[np.float32] | None, npt.NDArray[np.bool_]]:
    """The vectors as one float32 matrix (a fresh copy) and which rows have one."""
    column = _column(table, "embedding")
    n = table.num_rows
    if column is None or pa.types.is_null(column.type) or column.null_count == n:
        return None, np.zeros(n, dtype=bool)
    array: Any = column.combine_chunks()
    if not (pa.types.is_fixed_size_list(array.type) or pa.types.is_list(array.type)) or not (
        pa.types.is_floating(array.type.value_type) or pa.types.is_integer(array.type.value_type)
    ):
        raise InvalidInputError(f"put_many: column 'embedding' must be lists of numbers, not {array.type}")
    present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_fixed_size_list(array.type):
        dim = array.type.list_size
    else:
        lengths = pc.list_value_length(array).drop_null().unique().to_pylist()
        if len(lengths) != 1:
            raise InvalidInputError(f"put_many: embeddings have several dimensions: {sorted(lengths)[:5]}")
        dim = lengths[0]
        array = array.cast(pa.list_(array.type.value_type, dim))
    if not 1 <= dim <= MAX_EMBEDDING_DIM:
        raise LimitExceededError(f"put_many: embedding dimension {dim} is not between 1 and {MAX_EMBEDDING_DIM}")
    flat = array.values.slice(array.offset * dim, n * dim)
    if flat.null_count:
        raise InvalidInputError("put_many: an embedding holds a null number")
    matrix = np.array(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, dim)
    if not np.all(np.isfinite(matrix[present])):
        bad = int(np.flatnonzero(present & ~np.isfinite(matrix).all(axis=1))[0])
        raise InvalidInputError(f"put_many: row {bad}: the embedding holds a NaN or an infinity")
    return matrix, present
