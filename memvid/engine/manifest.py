"""Commit manifests and segment directories: the JSON documents of the format.

Both are decoded defensively: every field is type- and range-checked, and every
block they reference must lie wholly before the document itself. Since a
manifest's parent also lies strictly before it, following parents always
terminates: a commit chain cannot contain a cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from memvid.errors import CorruptCapsuleError, LimitExceededError
from memvid.format.block import BlockRef
from memvid.format.limits import MAX_EMBEDDING_DIM, MAX_JSON_ITEMS, MAX_SEGMENTS

MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One frames block of a segment."""

    ref: BlockRef
    first_id: int
    last_id: int
    rows: int
    nbytes: int

    def to_json(self) -> list[Any]:
        return [*self.ref.to_json(), self.first_id, self.last_id, self.rows, self.nbytes]


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """A segment as a manifest lists it: where its directory is and what it spans."""

    ref: BlockRef
    first_id: int
    last_id: int
    rows: int
    level: int

    def to_json(self) -> list[Any]:
        return [*self.ref.to_json(), self.first_id, self.last_id, self.rows, self.level]


@dataclass(frozen=True, slots=True)
class TombstoneEntry:
    """A tombstones block as a manifest lists it."""

    ref: BlockRef
    count: int
    level: int

    def to_json(self) -> list[Any]:
        return [*self.ref.to_json(), self.count, self.level]


@dataclass(frozen=True, slots=True)
class SegmentDir:
    """The directory of one segment: its frame batches, in frame-id order."""

    batches: tuple[BatchEntry, ...]
    first_ids: tuple[int, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_ids", tuple(b.first_id for b in self.batches))

    def encode(self) -> bytes:
        return json.dumps({"batches": [b.to_json() for b in self.batches]}, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class ParentRef:
    ref: BlockRef
    commit_hash: bytes


@dataclass(frozen=True, slots=True)
class Manifest:
    """One commit: the live segments, the chain link, and what changed."""

    seq: int
    time_us: int
    parent: ParentRef | None
    segments: tuple[SegmentEntry, ...]
    tombstones: tuple[TombstoneEntry, ...]
    next_frame_id: int
    frames_total: int
    frames_dead: int
    added: int
    removed: int
    added_first: int | None
    added_last: int | None
    message: str | None = None
    embedding_dim: int | None = None
    embedder: dict[str, Any] | None = None
    refs: dict[str, str] = field(default_factory=dict)
    branch: str = "main"
    indexes: dict[str, Any] = field(default_factory=dict)
    """Search indexes of this commit; opaque to the engine, read by :mod:`memvid.index`."""

    def encode(self) -> bytes:
        doc = {
            "v": MANIFEST_VERSION,
            "seq": self.seq,
            "time_us": self.time_us,
            "parent": None
            if self.parent is None
            else {"ref": self.parent.ref.to_json(), "hash": self.parent.commit_hash.hex()},
            "segments": [s.to_json() for s in self.segments],
            "tombstones": [t.to_json() for t in self.tombstones],
            "next_frame_id": self.next_frame_id,
            "frames_total": self.frames_total,
            "frames_dead": self.frames_dead,
            "added": self.added,
            "removed": self.removed,
            "added_range": None if self.added_first is None else [self.added_first, self.added_last],
            "message": self.message,
            "embedding_dim": self.embedding_dim,
            "embedder": self.embedder,
            "refs": self.refs,
            "branch": self.branch,
            "indexes": self.indexes,
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def frames_live(self) -> int:
        return self.frames_total - self.frames_dead


# -- decoding -------------------------------------------------------------------------


def _bad(what: str, offset: int) -> CorruptCapsuleError:
    return CorruptCapsuleError(f"{what} (document at offset {offset})", offset=offset)


def _load(payload: bytes, offset: int, what: str) -> dict[str, Any]:
    items = 0
    for mark in (b",", b"[", b"{"):  # each count is a pass over up to 64 MiB: stop once over
        items += payload.count(mark)
        if items > MAX_JSON_ITEMS:
            break
    if items > MAX_JSON_ITEMS:
        raise LimitExceededError(f"{what} at offset {offset} holds {items} JSON items (limit {MAX_JSON_ITEMS})")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise _bad(f"{what} is not valid JSON", offset) from None
    except RecursionError:
        raise _bad(f"{what} nests too deeply", offset) from None
    if not isinstance(doc, dict):
        raise _bad(f"{what} is not a JSON object", offset)
    return doc


def _int(doc: dict[str, Any], key: str, offset: int, *, optional: bool = False) -> int:
    value = doc.get(key)
    if value is None and optional:
        return -1
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 63:
        raise _bad(f"field {key!r} is {value!r:.40}, expected a non-negative integer", offset)
    return value


def _ints(value: Any, n: int, offset: int) -> list[int]:
    if not isinstance(value, list) or len(value) != n:
        raise _bad(f"malformed entry {value!r:.80}", offset)
    for v in value:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v >= 1 << 63:
            raise _bad(f"malformed entry {value!r:.80}", offset)
    return value


def _ref_before(value: Any, limit: int, offset: int) -> BlockRef:
    ref = BlockRef.from_json(value)
    if ref.offset + ref.length > limit:
        raise _bad(f"reference to offset {ref.offset} points at or after the document", offset)
    return ref


def decode_segment_dir(payload: bytes, offset: int) -> SegmentDir:
    doc = _load(payload, offset, "segment directory")
    raw_batches = doc.get("batches")
    if not isinstance(raw_batches, list):
        raise _bad("segment directory has no batch list", offset)
    batches = []
    previous_last = -1
    for item in raw_batches:
        if not isinstance(item, list) or len(item) != 7:
            raise _bad(f"malformed batch entry {item!r:.80}", offset)
        ref = _ref_before(item[:3], offset, offset)
        first_id, last_id, rows, nbytes = _ints(item[3:], 4, offset)
        if first_id > last_id or rows < 1 or rows > last_id - first_id + 1 or first_id <= previous_last:
            raise _bad(f"batch entry {item!r:.80} is out of order or inconsistent", offset)
        previous_last = last_id
        batches.append(BatchEntry(ref, first_id, last_id, rows, nbytes))
    if not batches:
        raise _bad("segment directory lists no batches", offset)
    return SegmentDir(batches=tuple(batches))


def decode_manifest(payload: bytes, offset: int) -> Manifest:
    doc = _load(payload, offset, "commit manifest")
    if doc.get("v") != MANIFEST_VERSION:
        raise _bad(f"unknown manifest version {doc.get('v')!r:.20}", offset)
    parent = None
    raw_parent = doc.get("parent")
    if raw_parent is not None:
        if not isinstance(raw_parent, dict) or not isinstance(raw_parent.get("hash"), str):
            raise _bad("malformed parent link", offset)
        try:
            commit_hash = bytes.fromhex(raw_parent["hash"])
        except ValueError:
            raise _bad("malformed parent hash", offset) from None
        parent = ParentRef(_ref_before(raw_parent.get("ref"), offset, offset), commit_hash)
    raw_segments = doc.get("segments")
    if not isinstance(raw_segments, list):
        raise _bad("manifest has no segment list", offset)
    if len(raw_segments) > MAX_SEGMENTS:
        raise LimitExceededError(
            f"manifest at offset {offset} lists {len(raw_segments)} segments (limit {MAX_SEGMENTS})"
        )
    segments = []
    previous_last = -1
    for item in raw_segments:
        if not isinstance(item, list) or len(item) != 7:
            raise _bad(f"malformed segment entry {item!r:.80}", offset)
        ref = _ref_before(item[:3], offset, offset)
        first_id, last_id, rows, level = _ints(item[3:], 4, offset)
        if first_id > last_id or rows < 1 or first_id <= previous_last:
            raise _bad(f"segment entry {item!r:.80} is out of order or inconsistent", offset)
        previous_last = last_id
        segments.append(SegmentEntry(ref, first_id, last_id, rows, level))
    raw_tombstones = doc.get("tombstones")
    if not isinstance(raw_tombstones, list) or len(raw_tombstones) > MAX_SEGMENTS:
        raise _bad("manifest has no valid tombstone list", offset)
    tombstones = []
    for item in raw_tombstones:
        if not isinstance(item, list) or len(item) != 5:
            raise _bad(f"malformed tombstone entry {item!r:.80}", offset)
        ref = _ref_before(item[:3], offset, offset)
        count, level = _ints(item[3:], 2, offset)
        if count < 1:
            raise _bad(f"tombstone entry {item!r:.80} is empty", offset)
        tombstones.append(TombstoneEntry(ref, count, level))
    added_range = doc.get("added_range")
    added_first = added_last = None
    if added_range is not None:
        added_first, added_last = _ints(added_range, 2, offset)
    dim = doc.get("embedding_dim")
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or not 0 < dim <= MAX_EMBEDDING_DIM):
        raise _bad(f"invalid embedding dimension {dim!r:.20}", offset)
    message = doc.get("message")
    embedder = doc.get("embedder")
    refs = doc.get("refs", {})
    branch = doc.get("branch", "main")
    indexes = doc.get("indexes", {})
    if (
        (message is not None and not isinstance(message, str))
        or (embedder is not None and not isinstance(embedder, dict))
        or not isinstance(refs, dict)
        or not isinstance(branch, str)
        or not isinstance(indexes, dict)
    ):
        raise _bad("manifest has malformed descriptive fields", offset)
    manifest = Manifest(
        seq=_int(doc, "seq", offset),
        time_us=_int(doc, "time_us", offset),
        parent=parent,
        segments=tuple(segments),
        tombstones=tuple(tombstones),
        next_frame_id=_int(doc, "next_frame_id", offset),
        frames_total=_int(doc, "frames_total", offset),
        frames_dead=_int(doc, "frames_dead", offset),
        added=_int(doc, "added", offset),
        removed=_int(doc, "removed", offset),
        added_first=added_first,
        added_last=added_last,
        message=message,
        embedding_dim=dim,
        embedder=embedder,
        refs={str(k): str(v) for k, v in refs.items()},
        branch=branch,
        indexes=indexes,
    )
    if (
        manifest.frames_dead > manifest.frames_total
        or manifest.frames_total != sum(s.rows for s in segments)
        or manifest.frames_dead != sum(t.count for t in tombstones)
        or (segments and segments[-1].last_id >= manifest.next_frame_id)
        or (parent is None) != (manifest.seq == 0)
    ):
        raise _bad("manifest counts are inconsistent", offset)
    return manifest
