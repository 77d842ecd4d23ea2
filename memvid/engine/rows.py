"""Frames as Arrow: the schema of a frames block and its encoding.

A frames block holds one Arrow IPC stream with one record batch. Arrow's own
buffer compression is off: the block codec compresses the whole stream with
zstd instead, which is four times smaller for the small batches of one-frame
commits (no per-buffer framing) and keeps every decompression inside the
block layer's bounded decoder, so pyarrow never sizes a buffer from bytes it
has not been able to check. Rows are sorted by ``frame_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from memvid._time import from_us
from memvid.errors import CorruptCapsuleError
from memvid.frame import Frame, decode_metadata

BATCH_MAX_ROWS: Final = 1024
BATCH_MAX_BYTES: Final = 1 << 20
"""A batch is cut at this many rows or bytes of text and payload, whichever comes first."""

_TS = pa.timestamp("us", tz="UTC")
_BASE_FIELDS: Final[list[pa.Field[Any]]] = [
    pa.field("frame_id", pa.uint64(), nullable=False),
    pa.field("created_at", _TS, nullable=False),
    pa.field("timestamp", _TS),
    pa.field("uri", pa.string()),
    pa.field("title", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("tags", pa.map_(pa.string(), pa.string())),
    pa.field("metadata", pa.string()),
    pa.field("text", pa.string(), nullable=False),
    pa.field("payload", pa.binary()),
    pa.field("checksum", pa.binary(16), nullable=False),
    pa.field("supersedes", pa.uint64()),
]
COLUMNS: Final = [f.name for f in _BASE_FIELDS] + ["embedding"]
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression=None)


def schema(dim: int | None) -> pa.Schema:
    fields = list(_BASE_FIELDS)
    if dim:
        fields.append(pa.field("embedding", pa.list_(pa.float32(), dim)))
    return pa.schema(fields)


@dataclass(slots=True)
class Row:
    """A frame not yet committed (or being rewritten by compaction or recovery)."""

    frame_id: int
    created_at_us: int
    timestamp_us: int | None
    uri: str | None
    title: str | None
    kind: str | None
    tags: dict[str, str]
    metadata: str | None
    text: str
    payload: bytes | None
    checksum: bytes
    supersedes: int | None
    embedding: npt.NDArray[np.float32] | None

    @property
    def nbytes(self) -> int:
        """Bytes of UTF-8 text and payload."""
        return len(self.text.encode("utf-8")) + (len(self.payload) if self.payload is not None else 0)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    payload: bytes
    first_id: int
    last_id: int
    rows: int
    nbytes: int
    batch: pa.RecordBatch


def _chunks(rows: Sequence[Row]) -> Iterator[tuple[Sequence[Row], int]]:
    """Consecutive runs of rows under both batch limits, each with its byte size."""
    start, size = 0, 0
    for i, row in enumerate(rows):
        n = row.nbytes
        if i > start and (i - start >= BATCH_MAX_ROWS or size + n > BATCH_MAX_BYTES):
            yield rows[start:i], size
            start, size = i, 0
        size += n
    if start < len(rows):
        yield rows[start:], size


def encode_rows(rows: Sequence[Row], dim: int | None) -> list[EncodedBatch]:
    """Encode rows (sorted by frame id) into frames-block payloads of bounded size."""
    return [_encode_batch(chunk, size, dim) for chunk, size in _chunks(rows)]


def _embedding_array(chunk: Sequence[Row], dim: int) -> pa.Array[Any]:
    values = np.zeros((len(chunk), dim), dtype=np.float32)
    missing = np.zeros(len(chunk), dtype=bool)
    for i, row in enumerate(chunk):
        if row.embedding is None:
            missing[i] = True
        else:
            values[i] = row.embedding
    return pa.FixedSizeListArray.from_arrays(
        pa.array(values.reshape(-1)), dim, mask=pa.array(missing) if missing.any() else None
    )


def _encode_batch(chunk: Sequence[Row], nbytes: int, dim: int | None) -> EncodedBatch:
    arrays: list[pa.Array[Any]] = [
        pa.array([r.frame_id for r in chunk], pa.uint64()),
        pa.array([r.created_at_us for r in chunk], pa.int64()).cast(_TS),
        pa.array([r.timestamp_us for r in chunk], pa.int64()).cast(_TS),
        pa.array([r.uri for r in chunk], pa.string()),
        pa.array([r.title for r in chunk], pa.string()),
        pa.array([r.kind for r in chunk], pa.string()),
        pa.array([list(r.tags.items()) for r in chunk], pa.map_(pa.string(), pa.string())),
        pa.array([r.metadata for r in chunk], pa.string()),
        pa.array([r.text for r in chunk], pa.string()),
        pa.array([r.payload for r in chunk], pa.binary()),
        pa.array([r.checksum for r in chunk], pa.binary(16)),
        pa.array([r.supersedes for r in chunk], pa.uint64()),
    ]
    if dim:
        arrays.append(_embedding_array(chunk, dim))
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema(dim))
    return _write(batch, nbytes)


def _write(batch: pa.RecordBatch, nbytes: int) -> EncodedBatch:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=_WRITE_OPTIONS) as writer:
        writer.write_batch(batch)
    ids = batch.column(0)
    return EncodedBatch(
        payload=sink.getvalue().to_pybytes(),
        first_id=int(ids[0].as_py()),
        last_id=int(ids[-1].as_py()),
        rows=batch.num_rows,
        nbytes=nbytes,
        batch=batch,
    )


def encode_table(table: pa.Table, dim: int | None) -> list[EncodedBatch]:
    """Re-cut already-committed rows (compaction) into bounded batches."""
    target = schema(dim)
    table = table.select(target.names).cast(target).combine_chunks()
    sizes = _row_sizes(table)
    out: list[EncodedBatch] = []
    start, size = 0, 0
    for i in range(table.num_rows):
        if i > start and (i - start >= BATCH_MAX_ROWS or size + sizes[i] > BATCH_MAX_BYTES):
            out.append(_write(table.slice(start, i - start).to_batches()[0], size))
            start, size = i, 0
        size += int(sizes[i])
    if start < table.num_rows:
        out.append(_write(table.slice(start).to_batches()[0], size))
    return out


def _row_sizes(table: pa.Table) -> npt.NDArray[np.int64]:
    import pyarrow.compute as pc

    text = pc.fill_null(pc.binary_length(table.column("text")), 0).to_numpy()
    payload = pc.fill_null(pc.binary_length(table.column("payload")), 0).to_numpy()
    return np.asarray(text, dtype=np.int64) + np.asarray(payload, dtype=np.int64)


def decode_batch(payload: bytes, *, offset: int, rows: int, first_id: int, last_id: int) -> pa.RecordBatch:
    """Parse a verified frames-block payload and check it against its directory entry."""
    try:
        reader = pa.ipc.open_stream(payload)
        batches = list(reader)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CorruptCapsuleError(f"frames block at offset {offset} is not valid Arrow: {exc}", offset=offset) from None
    if len(batches) != 1:
        raise CorruptCapsuleError(f"frames block at offset {offset} holds {len(batches)} batches, expected 1")
    batch = batches[0]
    names = batch.schema.names
    expected = schema(None)
    if names[: len(expected)] != expected.names or not batch.schema.field("frame_id").type.equals(pa.uint64()):
        raise CorruptCapsuleError(f"frames block at offset {offset} has an unexpected schema", offset=offset)
    for f in expected:
        if not batch.schema.field(f.name).type.equals(f.type):
            raise CorruptCapsuleError(f"frames block at offset {offset}: column {f.name} has the wrong type")
    ids = batch.column(0).to_numpy()
    if (
        batch.num_rows != rows
        or rows == 0
        or int(ids[0]) != first_id
        or int(ids[-1]) != last_id
        or (rows > 1 and not bool(np.all(ids[1:] > ids[:-1])))
    ):
        raise CorruptCapsuleError(f"frames block at offset {offset} does not match its directory entry", offset=offset)
    try:
        batch.validate(full=True)
    except pa.ArrowException as exc:
        raise CorruptCapsuleError(f"frames block at offset {offset} fails validation: {exc}", offset=offset) from None
    return batch


def frames_of(batch: pa.RecordBatch, indices: Sequence[int] | None = None) -> list[Frame]:
    """Build :class:`Frame` objects for some (default: all) rows of a batch."""
    if indices is not None:
        first = indices[0] if indices else 0
        if list(indices) == list(range(first, first + len(indices))):
            batch = batch.slice(first, len(indices))  # zero-copy
        else:
            batch = batch.take(pa.array(indices, pa.int64()))
    cols: dict[str, list[Any]] = {}
    for name in _BASE_FIELDS:
        column = batch.column(name.name)
        if name.name in ("created_at", "timestamp"):
            cols[name.name] = column.view(pa.int64()).to_pylist()  # same layout, no cast
        else:
            cols[name.name] = column.to_pylist()
    vectors: npt.NDArray[np.float32] | None = None
    valid: list[bool | None] | None = None
    if "embedding" in batch.schema.names:
        emb = cast("pa.FixedSizeListArray[Any, Any]", batch.column("embedding"))
        dim = emb.type.list_size
        # A fixed-size list keeps child slots for null entries too, so values line up by row.
        flat = emb.values.to_numpy(zero_copy_only=False)
        vectors = np.asarray(flat, dtype=np.float32).reshape(-1, dim)[emb.offset : emb.offset + len(emb)]
        valid = emb.is_valid().to_pylist()
    out = []
    for i in range(batch.num_rows):
        ts = cols["timestamp"][i]
        embedding = None
        if vectors is not None and valid is not None and valid[i]:
            embedding = vectors[i].copy()
        out.append(
            Frame(
                id=cols["frame_id"][i],
                created_at=from_us(cols["created_at"][i]),
                timestamp=None if ts is None else from_us(ts),
                uri=cols["uri"][i],
                title=cols["title"][i],
                kind=cols["kind"][i],
                tags=dict(cols["tags"][i] or ()),
                metadata=decode_metadata(cols["metadata"][i]),
                text=cols["text"][i],
                payload=cols["payload"][i],
                checksum=cols["checksum"][i].hex(),
                supersedes=cols["supersedes"][i],
                embedding=embedding,
            )
        )
    return out
