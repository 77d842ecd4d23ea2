"""The read side: finding the latest commit, and reading one commit's state.

Opening reads the header, the file's tail and one manifest: its cost does not
depend on the capsule's size. Everything else (segment directories, frame
batches, tombstones) is read on demand, verified block by block, and cached.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from memvid._time import from_us
from memvid.engine.manifest import (
    BatchEntry,
    Manifest,
    SegmentDir,
    SegmentEntry,
    TombstoneEntry,
    decode_manifest,
    decode_segment_dir,
)
from memvid.engine.rows import decode_batch, decode_batch_text, frames_of
from memvid.errors import ChecksumError, CorruptCapsuleError, LimitExceededError
from memvid.filters import Predicate
from memvid.format.block import BLOCK_HEADER_SIZE, BlockKind, BlockRef, decode_block, kind_name
from memvid.format.checksum import commit_digest
from memvid.format.header import HEADER_SIZE, Header, Slot, best_slot, decode_header
from memvid.format.limits import MAX_BLOCK_STORED, MAX_MANIFEST_RAW
from memvid.format.trailer import TRAILER_MAGIC, TRAILER_SIZE, Trailer, decode_trailer
from memvid.frame import Frame, decode_metadata
from memvid.storage import Storage

DELETED: Final = (1 << 64) - 1
"""The cause recorded for a frame removed by delete (an update records the new frame's id)."""

_SCAN_CHUNK: Final = 1 << 20
BATCH_CACHE_BYTES: Final = 256 << 20
"""Decoded frame batches a handle keeps in memory (all its snapshots together), counted by
the buffers each holds."""


class _LRU:
    """Least-recently-used values, at most ``capacity`` of them and, with ``size``, at most
    ``max_bytes`` of them by that measure (the newest value always stays)."""

    def __init__(self, capacity: int, *, max_bytes: int = 0, size: Callable[[Any], int] | None = None) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._size = size
        self._sizes: dict[Any, int] = {}
        self._bytes = 0

    def get(self, key: Any, load: Callable[[], Any], accept: Callable[[Any], bool] | None = None) -> Any:
        """The value of ``key``, loaded when missing or when ``accept`` turns the cached one down."""
        try:
            self._data.move_to_end(key)
            value = self._data[key]
        except KeyError:
            pass
        else:
            if accept is None or accept(value):
                return value
            del self._data[key]
            self._bytes -= self._sizes.pop(key, 0)
        value = load()
        self._data[key] = value
        self._bytes -= self._sizes.pop(key, 0)  # another thread may have loaded it meanwhile
        if self._size is not None:
            self._sizes[key] = n = self._size(value)
            self._bytes += n
        while len(self._data) > 1 and (
            len(self._data) > self._capacity or (self._size is not None and self._bytes > self._max_bytes)
        ):
            old, _ = self._data.popitem(last=False)
            self._bytes -= self._sizes.pop(old, 0)
        return value


class _Strings:
    """One row at a time of a string column, read from its Arrow buffers (zero-copy): a
    hit list reads ten values of a column, where ``to_pylist`` or ``take`` would convert
    or copy whole columns."""

    __slots__ = ("_data", "_offsets", "_valid")

    def __init__(self, array: pa.Array[Any]) -> None:
        buffers: list[Any] = array.buffers()
        _, offsets, data = buffers[:3]
        n = len(array)
        self._offsets = np.frombuffer(offsets, dtype=np.int32, count=array.offset + n + 1)[array.offset :]
        self._data = memoryview(data) if data is not None else memoryview(b"")
        self._valid = None if array.null_count == 0 else np.asarray(array.is_valid(), dtype=bool)

    def get(self, row: int) -> str | None:
        if self._valid is not None and not self._valid[row]:
            return None
        return str(self._data[self._offsets[row] : self._offsets[row + 1]], "utf-8")


class BatchRows:
    """A decoded frames batch, and per-row reads of what a search hit shows (uri, title,
    kind, tags, time, text) straight from its buffers. Built once per batch and cached with
    it; the readers of each column are made on first use.

    A batch read for search hits leaves its vectors undecoded (``complete`` is false when
    the block holds vectors that ``batch`` lacks): that is half the decoding and half the
    memory of a block with 384-d vectors. ``entry`` is where it was read from."""

    __slots__ = ("_first", "_ids", "_strings", "_tags", "_times", "batch", "complete", "dim", "entry", "nbytes")

    def __init__(
        self, batch: pa.RecordBatch, entry: BatchEntry | None = None, *, vector_dim: int | None = None
    ) -> None:
        self.batch = batch
        self.entry = entry
        schema = batch.schema
        has_vectors = "embedding" in schema.names
        self.dim: int | None = schema.field("embedding").type.list_size if has_vectors else vector_dim
        self.complete = has_vectors or vector_dim is None
        self.nbytes = int(batch.nbytes)
        ids = batch.column(0).to_numpy()
        # decode_batch checks that ids rise strictly, so a batch as long as its id range holds every id in it.
        dense = batch.num_rows > 0 and int(ids[-1]) - int(ids[0]) + 1 == batch.num_rows
        self._first = int(ids[0]) if dense else -1
        self._ids = None if dense else ids
        self._strings: dict[str, _Strings] = {}
        self._tags: tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_] | None, _Strings, _Strings] | None = None
        self._times: npt.NDArray[np.int64] | None = None

    def row_of(self, frame_id: int) -> int | None:
        """The row holding ``frame_id``, or ``None``."""
        if self._ids is None:
            row = frame_id - self._first
            return row if 0 <= row < self.batch.num_rows else None
        row = int(np.searchsorted(self._ids, frame_id))
        return row if row < len(self._ids) and int(self._ids[row]) == frame_id else None

    def string(self, name: str, row: int) -> str | None:
        """``row``'s value in the string column ``name`` (uri, title, kind, text, metadata)."""
        column = self._strings.get(name)
        if column is None:
            column = self._strings[name] = _Strings(self.batch.column(name))
        return column.get(row)

    def time(self, row: int) -> Any:
        """``row``'s effective time: its ``timestamp`` when it has one, else ``created_at``."""
        if self._times is None:
            created = self.batch.column("created_at")
            stamp = self.batch.column("timestamp")
            times = _int64s(created)
            if stamp.null_count < len(stamp):
                given = _int64s(stamp)
                times = (
                    given if stamp.null_count == 0 else np.where(np.asarray(stamp.is_valid(), dtype=bool), given, times)
                )
            self._times = times
        return from_us(int(self._times[row]))

    def tags(self, row: int) -> dict[str, str]:
        if self._tags is None:
            column = cast("pa.MapArray[Any, Any]", self.batch.column("tags"))
            offsets = np.asarray(column.offsets, dtype=np.int32)
            valid = None if column.null_count == 0 else np.asarray(column.is_valid(), dtype=bool)
            self._tags = (offsets, valid, _Strings(column.keys), _Strings(column.items))
        offsets, valid, keys, items = self._tags
        start, end = int(offsets[row]), int(offsets[row + 1])
        if start == end or (valid is not None and not valid[row]):
            return {}
        return {keys.get(i) or "": items.get(i) or "" for i in range(start, end)}

    def frames(self, rows: list[int]) -> list[Frame]:
        """Whole :class:`Frame` objects for ``rows`` (ascending); only from a complete batch."""
        if not self.complete:
            raise RuntimeError("frames of a batch read without its vectors")
        return frames_of(self.batch, rows)


def _complete(rows: BatchRows) -> bool:
    return rows.complete


def _int64s(array: pa.Array[Any]) -> npt.NDArray[np.int64]:
    """The values of a 64-bit column as int64, zero-copy, whatever its null slots hold."""
    values: Any = array.buffers()[1]
    ints: npt.NDArray[np.int64] = np.frombuffer(values, dtype=np.int64, count=array.offset + len(array))
    return ints[array.offset :]


class BlockReader:
    """Verified, cached block reads for every snapshot of one open capsule."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # Decoded frame batches, by bytes: a search's hits land in many batches, and a miss costs a
        # block read, checksum and decompression (~6 ms for a full batch with 384-d vectors).
        self._batches = _LRU(1 << 16, max_bytes=BATCH_CACHE_BYTES, size=lambda rows: int(rows.nbytes))
        self._dirs = _LRU(4096)
        self._tombstones = _LRU(4096)
        self._lock = threading.Lock()
        self._until_close: weakref.WeakSet[Any] = weakref.WeakSet()

    def hold_until_close(self, reads: Any) -> None:
        """Have ``reads.settle()`` run before the capsule closes, unless ``reads`` is gone by
        then: what a result read lazily from the capsule must read while it still can."""
        with self._lock:
            self._until_close.add(reads)

    def close(self) -> None:
        """Settle what :meth:`hold_until_close` was given (call before closing the storage)."""
        with self._lock:
            waiting = list(self._until_close)
            self._until_close.clear()
        for reads in waiting:
            reads.settle()

    def raw(self, ref: BlockRef, kind: BlockKind, limit: int) -> bytes:
        if ref.length > MAX_BLOCK_STORED + BLOCK_HEADER_SIZE:
            raise LimitExceededError(f"block reference at offset {ref.offset} declares {ref.length} bytes")
        if ref.offset < HEADER_SIZE or ref.offset + ref.length > limit:
            raise CorruptCapsuleError(
                f"{kind_name(kind)} block reference at offset {ref.offset} lies outside the commit",
                offset=ref.offset,
                kind=kind_name(kind),
            )
        return decode_block(self.storage.read(ref.offset, ref.length), ref, kind)

    def manifest(self, ref: BlockRef, commit_hash: bytes, limit: int) -> Manifest:
        payload = self.raw(ref, BlockKind.MANIFEST, limit)
        if len(payload) > MAX_MANIFEST_RAW:
            raise LimitExceededError(f"manifest at offset {ref.offset} is {len(payload)} bytes")
        if commit_digest(payload) != commit_hash:
            raise ChecksumError(
                f"commit manifest at offset {ref.offset} does not match its commit hash",
                offset=ref.offset,
                kind="manifest",
            )
        return decode_manifest(payload, ref.offset)

    def segment_dir(self, entry: SegmentEntry, limit: int) -> SegmentDir:
        def load() -> SegmentDir:
            d = decode_segment_dir(self.raw(entry.ref, BlockKind.SEGMENT, limit), entry.ref.offset)
            rows = sum(b.rows for b in d.batches)
            if rows != entry.rows or d.batches[0].first_id != entry.first_id or d.batches[-1].last_id != entry.last_id:
                raise CorruptCapsuleError(
                    f"segment directory at offset {entry.ref.offset} does not match its manifest entry",
                    offset=entry.ref.offset,
                )
            return d

        result: SegmentDir = self._dirs.get(entry.ref.offset, load)
        return result

    def batch(self, entry: BatchEntry, limit: int) -> pa.RecordBatch:
        return self.rows(entry, limit).batch

    def rows(self, entry: BatchEntry, limit: int, *, vectors: bool = True) -> BatchRows:
        """The batch of ``entry``; without ``vectors``, one whose vectors may be left undecoded
        (a complete one when the cache has it)."""

        def load() -> BatchRows:
            payload = self.raw(entry.ref, BlockKind.FRAMES, limit)
            where = {"offset": entry.ref.offset, "rows": entry.rows, "first_id": entry.first_id}
            if vectors:
                return BatchRows(decode_batch(payload, **where, last_id=entry.last_id), entry)
            batch, dim = decode_batch_text(payload, **where, last_id=entry.last_id)
            return BatchRows(batch, entry, vector_dim=dim)

        result: BatchRows = self._batches.get(entry.ref.offset, load, _complete if vectors else None)
        return result

    def tombstones(self, entry: TombstoneEntry, limit: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        def load() -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
            payload = self.raw(entry.ref, BlockKind.TOMBSTONES, limit)
            if len(payload) != 16 * entry.count:
                raise CorruptCapsuleError(
                    f"tombstones block at offset {entry.ref.offset} holds {len(payload)} bytes, "
                    f"expected {16 * entry.count}",
                    offset=entry.ref.offset,
                )
            values = np.frombuffer(payload, dtype="<u8")
            return values[: entry.count], values[entry.count :]

        result: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]] = self._tombstones.get(entry.ref.offset, load)
        return result


def encode_tombstones(dead: dict[int, int]) -> bytes:
    ids = np.fromiter(sorted(dead), dtype="<u8", count=len(dead))
    causes = np.fromiter((dead[int(i)] for i in ids), dtype="<u8", count=len(dead))
    return ids.tobytes() + causes.tobytes()


# -- finding the head -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    header: Header
    trailer: Trailer
    trailer_offset: int
    slot: Slot | None
    file_size: int
    manifest_ref: BlockRef

    @property
    def end(self) -> int:
        """Where the committed data ends: everything after is a torn tail."""
        return self.trailer_offset + TRAILER_SIZE


def manifest_ref_of(trailer: Trailer, digest: bytes) -> BlockRef:
    return BlockRef(trailer.manifest_offset, trailer.manifest_length, digest)


def read_trailer(storage: Storage, offset: int) -> Trailer | None:
    if offset < HEADER_SIZE:
        return None
    return decode_trailer(storage.read(offset, TRAILER_SIZE), offset)


def _trailer_candidates(storage: Storage, size: int) -> Iterator[int]:
    """Offsets of the trailer magic, from the end of the file backwards."""
    pos = size - TRAILER_SIZE
    if pos < HEADER_SIZE:
        return
    # The common case first: the file ends with a trailer.
    yield pos
    hi = pos  # candidates are < hi from here on
    while hi > HEADER_SIZE:
        lo = max(HEADER_SIZE, hi - _SCAN_CHUNK)
        buf = storage.read(lo, hi - lo + len(TRAILER_MAGIC) - 1)
        end = len(buf)
        while True:
            i = buf.rfind(TRAILER_MAGIC, 0, end)
            if i < 0:
                break
            if lo + i < hi:
                yield lo + i
            end = i + len(TRAILER_MAGIC) - 1
        hi = lo


def manifest_digest(storage: Storage, trailer: Trailer) -> bytes:
    """The block digest stored in the manifest block's header (checked when the block is read)."""
    return storage.read(trailer.manifest_offset + 48, 16)


def find_head(storage: Storage, reader: BlockReader) -> tuple[Head, Manifest]:
    """The latest intact commit, and its manifest.

    The last valid trailer wins. A trailer whose manifest does not verify is a
    torn write when no durable record says that commit finished, and damage
    when the header slot (written only after the commit's fsync) names it.
    A slot naming a later commit that lies inside the file but cannot be
    found is damage too; one past the end of the file means truncation.
    """
    size = storage.size()
    header_bytes = storage.read(0, HEADER_SIZE)
    header = decode_header(header_bytes)
    slot = best_slot(header_bytes)
    for offset in _trailer_candidates(storage, size):
        trailer = read_trailer(storage, offset)
        if trailer is None or trailer.manifest_offset < HEADER_SIZE:
            continue
        ref = manifest_ref_of(trailer, manifest_digest(storage, trailer))
        try:
            manifest = reader.manifest(ref, trailer.commit_hash, offset)
        except (CorruptCapsuleError, LimitExceededError) as exc:
            if slot is not None and slot.trailer_offset == offset and slot.seq == trailer.seq:
                raise ChecksumError(
                    f"the latest durable commit (seq {trailer.seq}) is damaged: {exc}",
                    offset=trailer.manifest_offset,
                    kind="manifest",
                ) from None
            continue
        if manifest.seq != trailer.seq:
            raise CorruptCapsuleError(f"commit at offset {offset} disagrees with its trailer on its sequence number")
        if slot is not None and slot.seq > trailer.seq and slot.trailer_offset + TRAILER_SIZE <= size:
            raise ChecksumError(
                f"the latest durable commit (seq {slot.seq}, trailer at offset {slot.trailer_offset}) is damaged",
                offset=slot.trailer_offset,
                kind="trailer",
            )
        head = Head(header, trailer, offset, slot, size, ref)
        return head, manifest
    raise CorruptCapsuleError("no intact commit found in the capsule (is the file truncated?)")


# -- one commit's state ---------------------------------------------------------------


def _uri_key(uri: str) -> bytes:
    return hashlib.blake2b(uri.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class UriIndex:
    """uri -> ids of the frames with that uri, ascending: sorted arrays of 16-byte uri
    digests and frame ids (24 bytes a frame; a dict of uri strings and lists took ~250),
    and a dict of the frames later commits added, merged into the arrays once it holds
    more than :data:`URI_RECENT_MAX` or an eighth of them."""

    __slots__ = ("_ids", "_keys", "_recent", "_recent_count")

    def __init__(self, pairs: list[tuple[str, int]]) -> None:
        """``pairs``: ``(uri, frame id)`` in ascending frame id."""
        keys = np.array([_uri_key(uri) for uri, _ in pairs], "S16")
        ids = np.array([fid for _, fid in pairs], np.int64)
        order = np.argsort(keys, kind="stable")  # one uri's ids stay ascending
        self._keys: npt.NDArray[np.bytes_] = keys[order]
        self._ids: npt.NDArray[np.int64] = ids[order]
        self._recent: dict[bytes, list[int]] = {}
        self._recent_count = 0

    def ids(self, uri: str) -> list[int]:
        key = _uri_key(uri)
        lo = int(np.searchsorted(self._keys, key, side="left"))
        hi = int(np.searchsorted(self._keys, key, side="right"))
        held: list[int] = self._ids[lo:hi].tolist()
        return held + self._recent.get(key, [])  # later commits' frames have larger ids

    def add(self, pairs: list[tuple[str, int]]) -> None:
        """Frames of a new commit (ids above every id held)."""
        for uri, fid in pairs:
            self._recent.setdefault(_uri_key(uri), []).append(fid)
        self._recent_count += len(pairs)
        if self._recent_count > max(URI_RECENT_MAX, len(self._ids) // 8):
            self._merge()

    def _merge(self) -> None:
        pairs = sorted((fid, key) for key, ids in self._recent.items() for fid in ids)
        keys = np.concatenate([self._keys, np.array([k for _, k in pairs], "S16")])
        ids = np.concatenate([self._ids, np.array([f for f, _ in pairs], np.int64)])
        order = np.argsort(keys, kind="stable")  # held ids first, then the new, ascending
        self._keys, self._ids = keys[order], ids[order]
        self._recent.clear()
        self._recent_count = 0


URI_RECENT_MAX: Final = 4096


class Snapshot:
    """The state of the capsule as of one commit. Immutable; safe to share."""

    def __init__(
        self, reader: BlockReader, manifest: Manifest, commit_hash: bytes, manifest_ref: BlockRef, end: int
    ) -> None:
        self.reader = reader
        self.manifest = manifest
        self.commit_hash = commit_hash
        self.manifest_ref = manifest_ref
        self.end = end
        self._seg_firsts = [s.first_id for s in manifest.segments]
        self._dead: dict[int, int] | None = None
        self._uris: UriIndex | None = None
        self.extras: dict[Any, Any] = {}
        """Per-snapshot caches of the layers above (open search indexes)."""

    @property
    def commit_id(self) -> str:
        return self.commit_hash.hex()

    def parent(self) -> Snapshot | None:
        """The previous commit, verified against the hash this one recorded for it."""
        link = self.manifest.parent
        if link is None:
            return None
        limit = link.ref.offset + link.ref.length
        manifest = self.reader.manifest(link.ref, link.commit_hash, limit)
        if manifest.seq + 1 != self.manifest.seq:
            raise CorruptCapsuleError(
                f"commit {self.manifest.seq}'s parent has sequence {manifest.seq}", offset=link.ref.offset
            )
        return Snapshot(self.reader, manifest, link.commit_hash, link.ref, limit + TRAILER_SIZE)

    # segments and batches

    def segment_dir(self, entry: SegmentEntry) -> SegmentDir:
        return self.reader.segment_dir(entry, self.end)

    def batch(self, entry: BatchEntry) -> pa.RecordBatch:
        return self.rows(entry).batch

    def rows(self, entry: BatchEntry, *, vectors: bool = True) -> BatchRows:
        """The batch of ``entry`` with its per-row readers; ``vectors=False`` when the caller
        reads no vectors (see :class:`BatchRows`)."""
        rows = self.reader.rows(entry, self.end, vectors=vectors)
        if rows.dim is not None and rows.dim != self.manifest.embedding_dim:
            raise CorruptCapsuleError(
                f"frames block at offset {entry.ref.offset} holds {rows.dim}-d vectors; "
                f"its commit records {self.manifest.embedding_dim}",
                offset=entry.ref.offset,
            )
        return rows

    def batch_entries(self) -> Iterator[BatchEntry]:
        for segment in self.manifest.segments:
            yield from self.segment_dir(segment).batches

    @property
    def next_frame_id(self) -> int:
        return self.manifest.next_frame_id

    def locate(self, frame_id: int) -> tuple[BatchEntry, int] | None:
        """The batch holding ``frame_id`` and its row in it, dead or alive."""
        entry = self._entry_of(frame_id)
        if entry is None:
            return None
        row = self.rows(entry).row_of(frame_id)
        return None if row is None else (entry, row)

    def _entry_of(self, frame_id: int, dirs: dict[int, SegmentDir] | None = None) -> BatchEntry | None:
        """The batch that would hold ``frame_id``; ``dirs`` keeps the segment directories
        already fetched, for a caller that looks up many ids."""
        segments = self.manifest.segments
        i = bisect.bisect_right(self._seg_firsts, frame_id) - 1
        if i < 0 or frame_id > segments[i].last_id:
            return None
        directory = None if dirs is None else dirs.get(i)
        if directory is None:
            directory = self.segment_dir(segments[i])
            if dirs is not None:
                dirs[i] = directory
        batches = directory.batches
        j = bisect.bisect_right(directory.first_ids, frame_id) - 1
        if j < 0 or frame_id > batches[j].last_id:
            return None
        return batches[j]

    def rows_by_id(self, frame_ids: list[int], *, vectors: bool = True) -> dict[int, tuple[BatchRows, int]]:
        """Where each frame lives (dead or alive): its batch and row. Ids not here are left out."""
        out: dict[int, tuple[BatchRows, int]] = {}
        read: dict[int, BatchRows] = {}  # hits often share batches: each is fetched once
        dirs: dict[int, SegmentDir] = {}
        for fid in frame_ids:
            entry = self._entry_of(fid, dirs)
            if entry is None:
                continue
            rows = read.get(entry.ref.offset)
            if rows is None:
                rows = read[entry.ref.offset] = self.rows(entry, vectors=vectors)
            row = rows.row_of(fid)
            if row is not None:
                out[fid] = (rows, row)
        return out

    # liveness

    @property
    def dead(self) -> dict[int, int]:
        """Removed frame id -> the frame that superseded it, or :data:`DELETED`."""
        if self._dead is None:
            dead: dict[int, int] = {}
            for entry in self.manifest.tombstones:
                ids, causes = self.reader.tombstones(entry, self.end)
                dead.update(zip(ids.tolist(), causes.tolist(), strict=True))
            if len(dead) != self.manifest.frames_dead:
                raise CorruptCapsuleError("tombstones name a frame twice; the capsule is inconsistent")
            self._dead = dead
        return self._dead

    def inherit(self, parent: Snapshot, dead: dict[int, int], uris: list[tuple[str, int]]) -> None:
        """Take over the parent's loaded indexes and apply one commit's changes: O(change).

        The parent gives them up (it rebuilds them lazily if it is read again), so
        a commit never copies an index whose size grows with the capsule.
        """
        if parent._dead is not None:
            self._dead, parent._dead = parent._dead, None
            self._dead.update(dead)
        if parent._uris is not None:
            self._uris, parent._uris = parent._uris, None
            self._uris.add(uris)

    def frame(self, frame_id: int) -> Frame | None:
        """The frame with this id, dead or alive; ``None`` if it never existed here."""
        found = self.locate(frame_id)
        if found is None:
            return None
        entry, row = found
        return frames_of(self.batch(entry), [row])[0]

    def frames_by_id(self, frame_ids: list[int]) -> dict[int, Frame]:
        """Many frames at once (dead or alive), decoding each batch once."""
        by_batch: dict[int, tuple[BatchRows, list[int]]] = {}
        for rows, row in self.rows_by_id(frame_ids).values():
            by_batch.setdefault(id(rows), (rows, []))[1].append(row)
        out: dict[int, Frame] = {}
        for rows, wanted in by_batch.values():
            for frame in rows.frames(sorted(wanted)):
                out[frame.id] = frame
        return out

    # uri lookups

    @property
    def uris(self) -> UriIndex:
        """uri -> ids of every frame with that uri, ascending (dead ones included)."""
        if self._uris is None:
            pairs: list[tuple[str, int]] = []
            for entry in self.batch_entries():
                batch = self.rows(entry, vectors=False).batch
                ids = batch.column(0).to_numpy().tolist()
                pairs.extend((uri, fid) for fid, uri in zip(ids, batch.column("uri").to_pylist(), strict=True) if uri)
            self._uris = UriIndex(pairs)
        return self._uris

    def live_ids_for_uri(self, uri: str) -> list[int]:
        dead = self.dead
        return [fid for fid in self.uris.ids(uri) if fid not in dead]

    # iteration

    def iter_frames(
        self,
        *,
        kind: str | None = None,
        tags: dict[str, str] | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        uri_prefix: str | None = None,
        where: Predicate | None = None,
        include_dead: bool = False,
        min_id: int = 0,
    ) -> Iterator[Frame]:
        dead = {} if include_dead else self.dead
        for entry in self.batch_entries():
            if entry.last_id < min_id:
                continue
            batch = self.batch(entry)
            mask = _filter_mask(batch, kind, tags, since_us, until_us, uri_prefix, where)
            ids = batch.column(0).to_numpy()
            keep = [
                i
                for i in (range(batch.num_rows) if mask is None else np.flatnonzero(mask).tolist())
                if int(ids[i]) not in dead and int(ids[i]) >= min_id
            ]
            if keep:
                yield from frames_of(batch, keep)


def _filter_mask(
    batch: pa.RecordBatch,
    kind: str | None,
    tags: dict[str, str] | None,
    since_us: int | None,
    until_us: int | None,
    uri_prefix: str | None,
    where: Predicate | None = None,
) -> npt.NDArray[np.bool_] | None:
    mask: npt.NDArray[np.bool_] | None = None

    def both(m: Any) -> None:
        nonlocal mask
        arr = np.asarray(pc.fill_null(m, False).to_numpy(zero_copy_only=False), dtype=bool)
        mask = arr if mask is None else mask & arr

    if kind is not None:
        both(pc.equal(batch.column("kind"), pa.scalar(kind, pa.string())))
    if uri_prefix is not None:
        both(pc.starts_with(batch.column("uri"), uri_prefix))
    if since_us is not None or until_us is not None:
        t = pc.coalesce(batch.column("timestamp"), batch.column("created_at")).cast(pa.int64())
        if since_us is not None:
            both(pc.greater_equal(t, pa.scalar(since_us, pa.int64())))
        if until_us is not None:
            both(pc.less(t, pa.scalar(until_us, pa.int64())))
    if tags:
        column = batch.column("tags")
        for key, value in tags.items():
            values = pc.map_lookup(column, key, "first")
            both(pc.equal(values, pa.scalar(value, pa.string())))
    if where is not None:
        texts = batch.column("metadata").to_pylist()
        keep = np.fromiter((where(decode_metadata(t)) for t in texts), dtype=bool, count=len(texts))
        mask = keep if mask is None else mask & keep
    return mask
