"""Frames as portable records, the reports of an export or import, and the import driver.

Every format maps a frame to a :class:`FrameRecord` and back. Exports read the
live frames of one commit; imports go through :func:`import_records`, which
validates the whole source before it writes anything (two passes over it), then
adds the frames in bounded batches, one commit per batch.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from memvid._time import from_us, to_us
from memvid.errors import InvalidInputError, LimitExceededError, MemvidError
from memvid.format.limits import MAX_EMBEDDING_DIM
from memvid.frame import Frame, PutOptions

if TYPE_CHECKING:
    from memvid.api import CapsuleView, Memvid
    from memvid.engine.rows import Row

__all__ = [
    "FIELDS",
    "ExportReport",
    "FrameRecord",
    "ImportReport",
    "import_records",
    "record_from_json",
    "record_of_frame",
    "record_to_json",
    "records_of",
]

COMMIT_ROWS: Final = 8192
COMMIT_BYTES: Final = 64 * 1024 * 1024
"""An import commits after this many frames or bytes of text and payload, so memory stays bounded."""

MAX_ID: Final = (1 << 63) - 1
_FLOAT32_MAX: Final = float(np.finfo(np.float32).max)

FIELDS: Final = (
    "id",
    "created_at",
    "timestamp",
    "uri",
    "title",
    "kind",
    "tags",
    "metadata",
    "text",
    "payload",
    "checksum",
    "supersedes",
    "embedding",
)
"""The fields of a record, in the order every format writes them."""


@dataclass(frozen=True, slots=True, eq=False)
class FrameRecord:
    """One frame as exported: everything a live frame has, times in microseconds.

    ``id``, ``created_at_us`` and ``checksum`` are ``None`` in records that come
    from outside memvid; an import then assigns an id, takes the current time and
    computes the checksum.
    """

    text: str
    id: int | None = None
    created_at_us: int | None = None
    timestamp_us: int | None = None
    uri: str | None = None
    title: str | None = None
    kind: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    payload: bytes | None = None
    checksum: bytes | None = None
    supersedes: int | None = None
    embedding: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an export wrote: ``frames`` written, ``skipped`` (frames the target cannot
    hold, such as frames without a vector for Chroma), ``vectors`` written, and where."""

    frames: int
    skipped: int
    vectors: int
    destination: str

    def to_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "skipped": self.skipped,
            "vectors": self.vectors,
            "destination": self.destination,
        }


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import added: ``frames`` and ``vectors``, whether the records' own frame
    ids were kept (``ids_kept``), and the commits it made (``commits``, the last one's
    ``commit_seq``; ``None`` when there was nothing to import)."""

    frames: int
    vectors: int
    ids_kept: bool
    commits: int
    commit_seq: int | None
    source: str

    def to_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "vectors": self.vectors,
            "ids_kept": self.ids_kept,
            "commits": self.commits,
            "commit_seq": self.commit_seq,
            "source": self.source,
        }


# -- export -------------------------------------------------------------------------------


def record_of_frame(frame: Frame, *, include_vectors: bool = True, include_payload: bool = True) -> FrameRecord:
    """The record of one frame. Without its payload, a record has no checksum either
    (the checksum covers the payload, and an import checks it)."""
    payload = frame.payload if include_payload else None
    keep_checksum = include_payload or frame.payload is None
    return FrameRecord(
        id=frame.id,
        created_at_us=to_us(frame.created_at),
        timestamp_us=None if frame.timestamp is None else to_us(frame.timestamp),
        uri=frame.uri,
        title=frame.title,
        kind=frame.kind,
        tags=dict(frame.tags),
        metadata=dict(frame.metadata),
        text=frame.text,
        payload=payload,
        checksum=bytes.fromhex(frame.checksum) if keep_checksum else None,
        supersedes=frame.supersedes,
        embedding=frame.embedding if include_vectors else None,
    )


def records_of(
    source: Memvid | CapsuleView, *, include_vectors: bool = True, include_payload: bool = True
) -> Iterator[FrameRecord]:
    """The live frames of the commit ``source`` reads, in id order, as records."""
    for frame in source.frames():
        yield record_of_frame(frame, include_vectors=include_vectors, include_payload=include_payload)


# -- JSON: the shape of a JSONL line, also used inside Chroma metadata ------------------------


def _time_text(us: int | None) -> str | None:
    return None if us is None else from_us(us).isoformat()


def record_to_json(record: FrameRecord, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A JSON-ready dict: times as ISO 8601 with microseconds, the payload as base64
    (``payload_b64``), the checksum as hex, the embedding as a list of numbers whose
    float32 values read back bit for bit. Keys in ``exclude`` are left out."""
    out: dict[str, Any] = {
        "id": record.id,
        "created_at": _time_text(record.created_at_us),
        "timestamp": _time_text(record.timestamp_us),
        "uri": record.uri,
        "title": record.title,
        "kind": record.kind,
        "tags": dict(record.tags),
        "metadata": dict(record.metadata),
        "text": record.text,
        "payload_b64": None if record.payload is None else base64.b64encode(record.payload).decode("ascii"),
        "checksum": None if record.checksum is None else record.checksum.hex(),
        "supersedes": record.supersedes,
        # A float32 widened to a float64 prints exactly and parses back to the same float32.
        "embedding": None if record.embedding is None else [float(x) for x in record.embedding],
    }
    for key in exclude:
        out.pop(key, None)
    return out


_JSON_KEYS: Final = frozenset(
    {
        "id",
        "created_at",
        "timestamp",
        "uri",
        "title",
        "kind",
        "tags",
        "metadata",
        "text",
        "payload_b64",
        "checksum",
        "supersedes",
        "embedding",
    }
)


def record_from_json(obj: object, where: str) -> FrameRecord:
    """Check and convert one JSON object (a JSONL line) into a record. ``where`` names
    it in errors (``"frames.jsonl line 3"``). Unknown keys are refused."""
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {_json_type(obj)}")
    unknown = set(obj) - _JSON_KEYS
    if unknown:
        raise InvalidInputError(f"{where}: unknown fields {', '.join(sorted(map(repr, unknown)))}")
    payload = None
    if obj.get("payload_b64") is not None:
        try:
            payload = base64.b64decode(_expect(obj, "payload_b64", str, where), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"{where}: payload_b64 is not valid base64") from None
    if obj.get("text") is not None:
        text = _expect(obj, "text", str, where)
    else:  # as put_bytes does: the payload's UTF-8 text, if it is text
        text = payload.decode("utf-8", errors="strict") if payload is not None and _is_utf8(payload) else ""
    return FrameRecord(
        id=_expect_id(obj.get("id"), "id", where),
        created_at_us=_expect_time(obj.get("created_at"), "created_at", where),
        timestamp_us=_expect_time(obj.get("timestamp"), "timestamp", where),
        uri=_optional_str(obj, "uri", where),
        title=_optional_str(obj, "title", where),
        kind=_optional_str(obj, "kind", where),
        tags=_expect_tags(obj.get("tags"), where),
        metadata=_expect_metadata(obj.get("metadata"), where),
        text=text,
        payload=payload,
        checksum=_expect_checksum(obj.get("checksum"), where),
        supersedes=_expect_id(obj.get("supersedes"), "supersedes", where),
        embedding=_expect_embedding(obj.get("embedding"), where),
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _expect(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidInputError(f"{where}: {key} must be {_json_type(kind())}, not {_json_type(value)}")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _expect(obj, key, str, where)


def _expect_id(value: object, key: str, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise InvalidInputError(f"{where}: {key} must be a whole number from 0 to {MAX_ID}")
    return value


def _expect_time(value: object, key: str, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInputError(f"{where}: {key} must be an ISO 8601 time string")
    try:
        return to_us(value, field=key)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def _expect_tags(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInputError(f"{where}: tags must be an object of strings")
    return value


def _expect_metadata(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: metadata must be an object")
    return value


def _expect_checksum(value: object, where: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 32:
        raise InvalidInputError(f"{where}: checksum must be 32 hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidInputError(f"{where}: checksum must be 32 hex digits") from None


def _expect_embedding(value: object, where: str) -> npt.NDArray[np.float32] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_EMBEDDING_DIM:
        raise InvalidInputError(f"{where}: embedding must be a non-empty array of at most {MAX_EMBEDDING_DIM} numbers")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value):
        raise InvalidInputError(f"{where}: embedding must hold finite numbers only")
    if any(abs(x) > _FLOAT32_MAX for x in value):
        raise InvalidInputError(f"{where}: embedding holds a number too large for float32")
    return np.asarray(value, dtype=np.float32)


def json_default(value: object) -> object:
    """``json.dumps`` fallback for values read from foreign stores (dates, bytes, numpy)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# -- import -------------------------------------------------------------------------------


def _row_of(mem: Memvid, record: FrameRecord, where: str) -> Row:
    """A pending row for ``record``, checked the way ``put`` checks its arguments."""
    options = PutOptions(
        title=record.title,
        uri=record.uri,
        tags=record.tags,
        kind=record.kind,
        metadata=record.metadata,
        embedding=record.embedding,
    )
    try:
        row = mem._row(record.text, record.payload, options)
    except (InvalidInputError, LimitExceededError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    row.timestamp_us = record.timestamp_us
    if record.created_at_us is not None:
        row.created_at_us = record.created_at_us
    if record.checksum is not None and record.checksum != row.checksum:
        raise InvalidInputError(
            f"{where}: checksum {record.checksum.hex()} does not match the text and payload "
            f"({row.checksum.hex()}); the record was altered or damaged"
        )
    return row


@dataclass(slots=True)
class _Survey:
    """What the validating pass learned about a source."""

    count: int = 0
    vectors: int = 0
    dim: int | None = None
    ids_increasing: bool = True
    first_id: int | None = None
    last_id: int = -1


def import_records(
    mem: Memvid,
    open_records: Callable[[], Iterator[tuple[str, FrameRecord]]],
    *,
    source: str,
    keep_ids: bool | None,
    message: str | None,
) -> ImportReport:
    """Add every record ``open_records()`` yields (with a name for errors) to ``mem``.

    The source is read twice: the first pass checks every record and writes
    nothing, so a bad record anywhere leaves the capsule untouched; the second
    adds the frames, committing every :data:`COMMIT_ROWS` frames or
    :data:`COMMIT_BYTES` bytes. ``keep_ids``: ``True`` keeps the records' frame ids
    (and ``supersedes``) or raises; ``False`` gives new ids; ``None`` keeps them
    when every record has one, they increase, and all are free in ``mem``.
    """
    mem._writer_or_raise()
    if mem.pending:
        raise InvalidInputError("commit or roll back pending changes before an import")
    embedder = mem._embedder
    survey = _Survey(dim=mem._dim if mem._dim is not None or embedder is None else embedder.dim)
    for where, record in open_records():
        row = _row_of(mem, record, where)
        survey.count += 1
        if row.embedding is not None:
            survey.vectors += 1
            if survey.dim is None:
                survey.dim = len(row.embedding)
            elif len(row.embedding) != survey.dim:
                raise InvalidInputError(
                    f"{where}: embedding has dimension {len(row.embedding)}, not {survey.dim} like the others"
                    + (" in this capsule" if mem._dim is not None else "")
                )
        if record.id is None or record.id <= survey.last_id:
            survey.ids_increasing = False
        else:
            survey.last_id = record.id
            if survey.first_id is None:
                survey.first_id = record.id
    free = survey.first_id is None or survey.first_id >= mem._next_id
    can_keep = survey.count > 0 and survey.ids_increasing and free
    if keep_ids and survey.count and not can_keep:
        raise InvalidInputError(
            "cannot keep the records' frame ids: "
            + (
                "some record has no id, or the ids do not increase"
                if not survey.ids_increasing
                else f"this capsule already used ids up to {mem._next_id - 1}"
            )
        )
    ids_kept = can_keep if keep_ids is None else bool(keep_ids and can_keep)
    label = message if message is not None else f"import from {source}"
    commits, last_seq, added, vectors = 0, None, 0, 0
    batch: list[Row] = []
    size = 0

    def flush() -> None:
        nonlocal commits, last_seq, batch, size
        if not batch:
            return
        mem._add(batch)
        if ids_kept:
            mem._next_id = max(mem._next_id, batch[-1].frame_id + 1)
        last_seq = mem.commit(label).seq
        commits += 1
        batch, size = [], 0

    try:
        for where, record in open_records():
            row = _row_of(mem, record, where)
            if ids_kept:
                assert record.id is not None
                row.frame_id = record.id
                row.supersedes = record.supersedes
            batch.append(row)
            added += 1
            vectors += row.embedding is not None
            size += row.nbytes
            if len(batch) >= COMMIT_ROWS or size >= COMMIT_BYTES:
                flush()
        flush()
    except BaseException:
        if mem.pending:
            mem.rollback()
        raise
    if added != survey.count:
        raise InvalidInputError(f"{source} changed during the import ({survey.count} records, then {added})")
    return ImportReport(added, vectors, ids_kept, commits, last_seq, source)


def wrap_errors(what: str) -> Callable[[BaseException], MemvidError]:
    """A converter from a third-party library's exception to an :class:`InvalidInputError`
    naming ``what`` (a file or store); memvid's own errors pass through unchanged."""

    def convert(exc: BaseException) -> MemvidError:
        if isinstance(exc, MemvidError):
            return exc
        detail = " ".join(str(exc).split())[:500] or type(exc).__name__
        return InvalidInputError(f"{what} could not be read: {detail}")

    return convert


def dumps(value: object) -> str:
    """Compact JSON, unicode kept, NaN refused, foreign values converted."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=json_default)
