"""Frames as Arrow: the schema of a frames block and its encoding.

A frames block holds one Arrow IPC stream with one record batch of every
column but ``embedding``, then, once the capsule has embeddings, the vectors
as a byte-shuffled float32 matrix (see ``docs/explanation/format.md``).
Arrow's own buffer compression is off: the block codec compresses the whole
payload with zstd instead, which is four times smaller for the small batches
of one-frame commits (no per-buffer framing) and keeps every decompression
inside the block layer's bounded decoder, so pyarrow never sizes a buffer
from bytes it has not been able to check. Shuffling the vectors' bytes (all
first bytes, then all second bytes, ...) puts the similar sign and exponent
bytes together, which zstd compresses about 9% better than plain float32.
Rows are sorted by ``frame_id``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from memvid._time import from_us
from memvid.errors import CorruptCapsuleError
from memvid.format.limits import MAX_EMBEDDING_DIM
from memvid.frame import Frame, decode_metadata

BATCH_MAX_ROWS: Final = 1024
BATCH_MAX_BYTES: Final = 1 << 20
"""A batch is cut at this many rows or bytes of text and payload, whichever comes first."""
BATCH_VECTOR_BYTES: Final = 384 << 10
"""In a capsule with vectors a batch is also cut at this many bytes of float32 vectors (256
rows of 384-d). A frames block is checked and decompressed whole, and a search hit reads its
batch without the vectors: at 1,024 rows of 384-d vectors the vectors were more than half of
the 1.6 MB block, and a missed batch took ~4 ms to read (BLAKE2b 1.8 ms, zstd 1.4 ms)."""


def batch_max_rows(dim: int | None) -> int:
    """The most rows of a batch in a capsule with ``dim``-d vectors (``None``: without)."""
    if not dim:
        return BATCH_MAX_ROWS
    return min(BATCH_MAX_ROWS, max(16, BATCH_VECTOR_BYTES // (4 * dim)))


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


def _chunks(rows: Sequence[Row], max_rows: int) -> Iterator[tuple[Sequence[Row], int]]:
    """Consecutive runs of rows under both batch limits, each with its byte size."""
    start, size = 0, 0
    for i, row in enumerate(rows):
        n = row.nbytes
        if i > start and (i - start >= max_rows or size + n > BATCH_MAX_BYTES):
            yield rows[start:i], size
            start, size = i, 0
        size += n
    if start < len(rows):
        yield rows[start:], size


def encode_rows(rows: Sequence[Row], dim: int | None) -> list[EncodedBatch]:
    """Encode rows (sorted by frame id) into frames-block payloads of bounded size."""
    return [_encode_batch(chunk, size, dim) for chunk, size in _chunks(rows, batch_max_rows(dim))]


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


_LEN = struct.Struct("<Q")
_DIM = struct.Struct("<I")


def _write(batch: pa.RecordBatch, nbytes: int) -> EncodedBatch:
    base = batch
    vectors = b""
    if "embedding" in batch.schema.names:
        base = batch.drop_columns(["embedding"])
        vectors = _vector_section(cast("pa.FixedSizeListArray[Any, Any]", batch.column("embedding")))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, base.schema, options=_WRITE_OPTIONS) as writer:
        writer.write_batch(base)
    stream = sink.getvalue()
    ids = batch.column(0)
    return EncodedBatch(
        payload=b"".join((_LEN.pack(stream.size), stream.to_pybytes(), vectors)),
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
    max_rows = batch_max_rows(dim)
    out: list[EncodedBatch] = []
    start, size = 0, 0
    for i in range(table.num_rows):
        if i > start and (i - start >= max_rows or size + sizes[i] > BATCH_MAX_BYTES):
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


def _vector_section(column: pa.FixedSizeListArray[Any, Any]) -> bytes:
    """``dim`` (u32), one presence byte per row, then the rows' float32 values (zeros for a
    row without a vector), byte-shuffled: every value's byte 0, then every byte 1, 2 and 3."""
    dim = column.type.list_size
    n = len(column)
    flat = column.values.slice(column.offset * dim, n * dim).to_numpy(zero_copy_only=False)
    values = np.ascontiguousarray(flat, dtype="<f4").reshape(n, dim)
    present = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.uint8)
    if not present.all():
        values = values * present[:, None]  # null rows may hold anything; store zeros
    planes = values.view(np.uint8).reshape(-1, 4).T
    return b"".join((_DIM.pack(dim), present.tobytes(), np.ascontiguousarray(planes).tobytes()))


def _vector_dim(section: memoryview, rows: int, offset: int) -> int:
    """The dimension a vector section declares, once its length is checked against it."""
    if len(section) < _DIM.size:
        raise CorruptCapsuleError(f"frames block at offset {offset}: vector section cut short", offset=offset)
    (dim,) = _DIM.unpack_from(section)
    if not 1 <= dim <= MAX_EMBEDDING_DIM or len(section) != _DIM.size + rows + rows * dim * 4:
        raise CorruptCapsuleError(f"frames block at offset {offset}: malformed vector section", offset=offset)
    return int(dim)


def _vector_column(section: memoryview, rows: int, offset: int) -> pa.FixedSizeListArray[Any, Any]:
    """The inverse of :func:`_vector_section`, checking every length first."""
    dim = _vector_dim(section, rows, offset)
    present = np.frombuffer(section, dtype=np.uint8, count=rows, offset=_DIM.size)
    if np.any(present > 1):
        raise CorruptCapsuleError(f"frames block at offset {offset}: malformed vector presence bytes", offset=offset)
    planes = np.frombuffer(section, dtype=np.uint8, offset=_DIM.size + rows).reshape(4, rows * dim)
    values = np.ascontiguousarray(planes.T).view("<f4").reshape(-1)
    mask = None if present.all() else pa.array(present == 0)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.astype(np.float32, copy=False)), dim, mask=mask)


def decode_batch(payload: bytes, *, offset: int, rows: int, first_id: int, last_id: int) -> pa.RecordBatch:
    """Parse a verified frames-block payload and check it against its directory entry."""
    view = memoryview(payload)
    batch, end = _decode_stream(view, offset=offset, rows=rows, first_id=first_id, last_id=last_id)
    if end < len(view):
        vectors = _vector_column(view[end:], rows, offset)
        batch = pa.RecordBatch.from_arrays([*batch.columns, vectors], schema=schema(vectors.type.list_size))
    return batch


def decode_batch_text(
    payload: bytes, *, offset: int, rows: int, first_id: int, last_id: int
) -> tuple[pa.RecordBatch, int | None]:
    """:func:`decode_batch` without the vectors: every other column, and the dimension of the
    vectors the block holds (``None`` when it holds none). The vector section's length is
    checked; its values are not read, which saves most of a block's decoding and half its
    memory (search hits show text, not vectors)."""
    view = memoryview(payload)
    batch, end = _decode_stream(view, offset=offset, rows=rows, first_id=first_id, last_id=last_id)
    return batch, (_vector_dim(view[end:], rows, offset) if end < len(view) else None)


def _decode_stream(
    view: memoryview, *, offset: int, rows: int, first_id: int, last_id: int
) -> tuple[pa.RecordBatch, int]:
    """The Arrow batch at the start of a frames-block payload, checked, and where it ends. The
    batch owns a copy of its stream, so it does not keep the rest of the payload alive."""
    if len(view) < _LEN.size or _LEN.unpack_from(view)[0] > len(view) - _LEN.size:
        raise CorruptCapsuleError(f"frames block at offset {offset} has a malformed stream length", offset=offset)
    end = _LEN.size + _LEN.unpack_from(view)[0]
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(view[_LEN.size : end].tobytes()))
        batches = list(reader)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CorruptCapsuleError(f"frames block at offset {offset} is not valid Arrow: {exc}", offset=offset) from None
    if len(batches) != 1:
        raise CorruptCapsuleError(f"frames block at offset {offset} holds {len(batches)} batches, expected 1")
    batch = batches[0]
    try:
        names = batch.schema.names  # a forged stream can carry field names that are not UTF-8
    except ValueError:
        raise CorruptCapsuleError(f"frames block at offset {offset} has an unexpected schema", offset=offset) from None
    expected = schema(None)
    if names != expected.names or not batch.schema.field("frame_id").type.equals(pa.uint64()):
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
    return batch, end


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
