"""The write side: commits and compaction.

A commit appends, in order: the frames blocks of its new frames, their
segment directory, a tombstones block for what it removed, any blocks that
compaction produced; then fdatasync; then the manifest block and its trailer;
then fdatasync; then the inactive header slot (a hint, not synced). A crash at
any point leaves the previous commit intact: whatever follows the last valid
trailer is a torn tail, ignored by readers and cut off by the next writer. The
blocks before the first fdatasync go out in one write, or, for a commit larger
than :data:`SPILL_BYTES`, in writes of about that size as they are laid out,
so a commit's memory does not grow with its size; if such a commit then fails
for another reason than I/O (a limit, an interrupt) before its manifest, the
writer cuts the file back to its parent's end and stays usable.

Compaction is size-tiered, like an LSM tree: a segment's level is ``floor(log8(rows))``;
the newest segment takes in the run of lower-level ones just before it, and when the
newest eight share a level they are merged into one (:func:`merge_width`), so at most
seven of each level remain. Full frame batches are carried over by reference, so a merge
rewrites only small batches and a directory. Old segments stay in the file, reachable
from older commits for ``at(...)``. The number of live segments stays O(log N), so a
commit's cost is O(frames it adds), not O(capsule size); in a capsule with vectors, a
merge whose segment's HNSW would not fit in a block is not made (the index hook's
``max_merge_rows``), and segments too large to be one of eight under that cap merge in
runs that fit it instead (:func:`merge_width`): one segment per ~125,000-250,000 vectors
of 384 dimensions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import pyarrow as pa

from memvid._failpoints import failpoint
from memvid._memory import TRIM_AFTER_BYTES, release_free_memory
from memvid._threads import quick_gil_handoff, thread_pool
from memvid._time import now_us
from memvid.engine.manifest import (
    BatchEntry,
    Manifest,
    ParentRef,
    SegmentDir,
    SegmentEntry,
    TombstoneEntry,
)
from memvid.engine.rows import (
    BATCH_MAX_BYTES,
    EncodedBatch,
    Row,
    batch_max_rows,
    encode_rows,
    encode_table,
    schema,
)
from memvid.engine.snapshot import BlockReader, Snapshot, encode_tombstones
from memvid.errors import DurabilityError
from memvid.format.block import BlockKind, BlockRef, align, encode_block, pack, place
from memvid.format.checksum import commit_digest
from memvid.format.header import Slot, slot_offset_for
from memvid.format.trailer import TRAILER_SIZE, Trailer
from memvid.storage import Storage

MERGE_WIDTH: Final = 8
_PARALLEL_BYTES: Final = 2 << 20
"""Below this many payload bytes a commit codes its blocks on the calling thread."""
SPILL_BYTES: Final = 32 << 20
"""A commit writes its blocks out whenever this many have gathered in memory (see :class:`Appender`)."""


def level_of(rows: int) -> int:
    return max(0, (rows.bit_length() - 1) // 3)


def merge_width(segments: Sequence[SegmentEntry], cap: int | None) -> int:
    """How many of the newest segments compaction merges into one now (0: none).

    The newest segment takes in every segment of a lower level just before it (so levels
    never rise from the oldest segment to the newest), and eight that share a level merge,
    each when together they hold at most ``cap`` rows (``None``: no cap; a capped merge's
    segment must have an index that fits in a block). Levels so fall from the oldest
    segment to the newest, with at most seven of each: with commits of any sizes a
    capsule keeps at most seven segments per level (eight times more rows each) below the
    cap, where eight of a level alone never met when commits of different sizes came in
    turn (3,000 commits of 1 to 450 frames kept 2,986 segments). A segment of
    more than ``cap / 8`` rows could never be one of eight, so the newest run of such
    segments merges as soon as two or more of them fit under the cap together: with
    commits of 100,000 384-d vectors (cap ~253,000), every second commit merges its
    segment into the one before, and a capsule keeps one segment per ~200,000 vectors
    instead of one per commit. Such a run is never two old segments (they would have
    merged when the newer arrived), so the merged index extends the older segment's and
    inserts only the new rows, as building the new segment's own index would have."""
    width = _tier_width([(s.level, s.rows) for s in segments], cap)
    if width or cap is None:
        return width
    width = rows = 0
    for segment in reversed(segments):
        if segment.rows * MERGE_WIDTH <= cap or rows + segment.rows > cap:
            break
        width += 1
        rows += segment.rows
    return width if width >= 2 else 0


def _tier_width(tiers: Sequence[tuple[int, int]], cap: int | None) -> int:
    """The two size-tiered rules of :func:`merge_width` over ``(level, rows)``, oldest first
    (tombstone blocks use them too, without a cap): the newest with the run of lower levels
    just before it, else the newest eight if they share a level; either only when their rows
    together are at most ``cap``."""
    if not tiers:
        return 0
    lower = 1
    while lower < len(tiers) and tiers[-lower - 1][0] < tiers[-1][0]:
        lower += 1
    tail = tiers[-MERGE_WIDTH:]
    eight = MERGE_WIDTH if len(tail) == MERGE_WIDTH and len({level for level, _ in tail}) == 1 else 0
    for width in (lower, eight):
        if width >= 2 and (cap is None or sum(rows for _, rows in tiers[-width:]) <= cap):
            return width
    return 0


class Appender:
    """Lays out blocks one after another at aligned offsets, in memory, for one write.

    With ``spill``, whatever is laid out is handed to it (``spill(offset, data)``, which
    writes it) whenever :data:`SPILL_BYTES` have gathered, so a commit holds at most that
    much of its blocks in memory however large it is (a lexical checkpoint of a large
    capsule, a compaction). Bytes written before the manifest are harmless: until the
    manifest and trailer land, the file's last commit is its parent's, and recovery drops
    the tail. :meth:`flush` hands over the rest."""

    def __init__(self, start: int, spill: Callable[[int, bytearray], None] | None = None) -> None:
        self.start = start
        self.pos = start
        self.buf = bytearray()
        self._spill = spill
        self._buf_at = start  # the offset of buf's first byte

    def flush(self) -> None:
        """Hand every byte laid out and not yet handed over to ``spill``."""
        if self.buf and self._spill is not None:
            self._spill(self._buf_at, self.buf)
            self._buf_at += len(self.buf)
            self.buf = bytearray()

    def _spill_if_full(self) -> None:
        if len(self.buf) >= SPILL_BYTES:
            self.flush()

    def add(self, kind: BlockKind, payload: bytes, *, compress: bool) -> BlockRef:
        offset = align(self.pos)
        block = encode_block(kind, payload, offset, compress=compress)
        self.buf += b"\x00" * (offset - self.pos)
        self.buf += block
        self.pos = offset + len(block)
        self._spill_if_full()
        return BlockRef(offset, len(block), block[48:64])

    def add_many(self, kind: BlockKind, payloads: Sequence[bytes], *, compress: bool) -> list[BlockRef]:
        """Add blocks one after another, coding and checksumming them on several threads
        when there is enough to do (zstd and BLAKE2b release the GIL)."""
        if sum(len(p) for p in payloads) < _PARALLEL_BYTES or len(payloads) < 2:
            return [self.add(kind, p, compress=compress) for p in payloads]
        pool = thread_pool("pack")
        packed = list(pool.map(lambda p: pack(kind, p, compress=compress), payloads))
        offsets = []
        pos = self.pos
        for item in packed:
            offsets.append(align(pos))
            pos = offsets[-1] + item.length
        blocks = list(pool.map(place, packed, offsets))
        refs = []
        for offset, block in zip(offsets, blocks, strict=True):
            self.buf += b"\x00" * (offset - self.pos)
            self.buf += block
            self.pos = offset + len(block)
            refs.append(BlockRef(offset, len(block), block[48:64]))
            self._spill_if_full()
        return refs

    def add_raw(self, data: bytes) -> int:
        offset = self.pos
        self.buf += data
        self.pos += len(data)
        return offset


@dataclass(frozen=True, slots=True)
class IndexChange:
    """What a commit changes, handed to the search layer so it can index just that."""

    parent: Snapshot
    rows: Sequence[Row]
    dead: Mapping[int, int]
    segments: Sequence[SegmentEntry]
    next_frame_id: int
    add_block: Callable[[BlockKind, bytes], BlockRef]
    batches: Callable[[SegmentEntry], list[pa.RecordBatch]]


class IndexHook(Protocol):
    """The search layer's part in a commit (see :mod:`memvid.index`)."""

    def update(self, change: IndexChange) -> dict[str, Any]:
        """Append index blocks for the change; return the new manifest's ``indexes``."""
        ...

    def confirm(self, indexes: dict[str, Any]) -> None:
        """The commit holding ``indexes`` is durable."""
        ...

    def max_merge_rows(self, head: Snapshot, dim: int | None) -> int | None:
        """The most rows a merged segment may have (its index must fit in a block), or ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    snapshot: Snapshot
    frame_ids: tuple[int, ...]
    removed: tuple[int, ...]
    trailer_offset: int


class Writer:
    """Turns pending rows and tombstones into commits on one storage."""

    def __init__(
        self, storage: Storage, reader: BlockReader, head: Snapshot, generation: int, hook: IndexHook | None = None
    ) -> None:
        self.storage = storage
        self.reader = reader
        self.head = head
        self.generation = generation
        self.hook = hook
        self.failed: BaseException | None = None  # set by a commit that raised after writing
        self._manifest_going = False  # the commit in progress has started writing its manifest
        # Blocks laid out by the commit in progress, not yet on disk, that compaction may merge.
        self._fresh_dirs: dict[int, SegmentDir] = {}
        self._fresh_batches: dict[int, pa.RecordBatch] = {}
        self._fresh_tombstones: dict[int, dict[int, int]] = {}

    def commit(
        self,
        rows: Sequence[Row],
        dead: dict[int, int],
        *,
        next_frame_id: int,
        embedding_dim: int | None,
        message: str | None,
        time_us: int | None = None,
        embedder: dict[str, Any] | None = None,
    ) -> CommitOutcome:
        """Commit ``rows`` and ``dead``; ``embedder`` (an identity) replaces the parent's when given."""
        if self.failed is not None:
            raise DurabilityError(
                f"an earlier commit failed after writing to the capsule ({self.failed!r}); this handle refuses "
                "further writes. Reopen the capsule to continue from its last durable commit."
            )
        head = self.head
        self._manifest_going = False
        try:
            rows = sorted(rows, key=lambda r: r.frame_id)
            # tantivy, usearch, zstd and the hash take the GIL back thousands of times in a commit:
            # without a quick hand-off, a busy thread of the caller's makes each wait 5 ms
            with quick_gil_handoff():
                outcome = self._commit(rows, dead, next_frame_id, embedding_dim, message, time_us, embedder)
        except BaseException as exc:
            # Once the manifest went out, the commit may be on disk (even durable) although it
            # raised: a retry through this handle would write over it, so the handle is poisoned.
            # Blocks a large commit wrote before it (see Appender) are a torn tail that no commit
            # names: when the commit failed for another reason than I/O (a limit, an interrupt),
            # they are cut off and the handle stays usable, as for a commit that wrote nothing.
            wrote = self.head is not head or self.storage.size() > head.end
            io_failed = isinstance(exc, (OSError, DurabilityError))
            if wrote and (self._manifest_going or io_failed or not self._cut(head.end)):
                self.failed = exc
            raise
        finally:
            self._fresh_dirs.clear()
            self._fresh_batches.clear()
            self._fresh_tombstones.clear()
        if outcome.snapshot.end - head.end >= TRIM_AFTER_BYTES:
            release_free_memory()  # what indexing threads and the coding pool freed (see memvid._memory)
        return outcome

    def _cut(self, end: int) -> bool:
        """Cut the file back to ``end`` (the head's end); False if that failed."""
        try:
            self.storage.truncate(end)
        except Exception:
            return False
        return True

    def _commit(
        self,
        rows: list[Row],
        dead: dict[int, int],
        next_frame_id: int,
        embedding_dim: int | None,
        message: str | None,
        time_us: int | None,
        embedder: dict[str, Any] | None,
    ) -> CommitOutcome:
        head = self.head
        parent = head.manifest
        wrote = False

        def spill(offset: int, data: bytearray) -> None:
            nonlocal wrote
            if not wrote:
                failpoint("commit.before_data_write")
                wrote = True
            self.storage.write(offset, data)

        app = Appender(head.end, spill)
        segments = list(parent.segments)
        if rows:
            batches = self._write_batches(app, encode_rows(rows, embedding_dim))
            segments.append(self._write_segment(app, batches))
        tombstones = list(parent.tombstones)
        if dead:
            tombstones.append(self._write_tombstones(app, dead))
        segments = self._compact_segments(app, segments, embedding_dim)
        tombstones = self._compact_tombstones(app, tombstones)
        indexes = parent.indexes
        if self.hook is not None:
            change = IndexChange(
                parent=head,
                rows=rows,
                dead=dead,
                segments=segments,
                next_frame_id=next_frame_id,
                add_block=lambda kind, payload: app.add(kind, payload, compress=True),
                batches=self._segment_batches,
            )
            indexes = self.hook.update(change)

        app.flush()
        if wrote:
            failpoint("commit.after_data_write")
            self.storage.sync()
            failpoint("commit.after_data_sync")

        manifest = Manifest(
            seq=parent.seq + 1,
            time_us=max(time_us if time_us is not None else now_us(), parent.time_us),
            parent=ParentRef(head.manifest_ref, head.commit_hash),
            segments=tuple(segments),
            tombstones=tuple(tombstones),
            next_frame_id=next_frame_id,
            frames_total=parent.frames_total + len(rows),
            frames_dead=parent.frames_dead + len(dead),
            added=len(rows),
            removed=len(dead),
            added_first=rows[0].frame_id if rows else None,
            added_last=rows[-1].frame_id if rows else None,
            message=message,
            embedding_dim=embedding_dim,
            embedder=embedder if embedder is not None else parent.embedder,
            refs=parent.refs,
            branch=parent.branch,
            indexes=indexes,
        )
        self._manifest_going = True
        snapshot, trailer_offset = write_manifest(
            self.storage, self.reader, align(app.pos), manifest, self.generation + 1
        )
        self.generation += 1
        self.head = snapshot
        if self.hook is not None:
            self.hook.confirm(indexes)
        snapshot.inherit(head, dead, [(r.uri, r.frame_id) for r in rows if r.uri is not None])
        return CommitOutcome(snapshot, tuple(r.frame_id for r in rows), tuple(sorted(dead)), trailer_offset)

    # -- frames ---------------------------------------------------------------------

    def _write_batches(self, app: Appender, encoded_batches: Sequence[EncodedBatch]) -> list[BatchEntry]:
        out = []
        refs = app.add_many(BlockKind.FRAMES, [e.payload for e in encoded_batches], compress=True)
        for encoded, ref in zip(encoded_batches, refs, strict=True):
            self._fresh_batches[ref.offset] = encoded.batch
            out.append(BatchEntry(ref, encoded.first_id, encoded.last_id, encoded.rows, encoded.nbytes))
        return out

    def _write_segment(self, app: Appender, batches: Sequence[BatchEntry]) -> SegmentEntry:
        directory = SegmentDir(tuple(batches))
        ref = app.add(BlockKind.SEGMENT, directory.encode(), compress=True)
        self._fresh_dirs[ref.offset] = directory
        rows = sum(b.rows for b in batches)
        return SegmentEntry(ref, batches[0].first_id, batches[-1].last_id, rows, level_of(rows))

    # -- compaction -----------------------------------------------------------------

    def _compact_segments(self, app: Appender, segments: list[SegmentEntry], dim: int | None) -> list[SegmentEntry]:
        cap = None if self.hook is None else self.hook.max_merge_rows(self.head, dim)
        while width := merge_width(segments, cap):
            batches: list[BatchEntry] = []
            for segment in segments[-width:]:
                fresh = self._fresh_dirs.get(segment.ref.offset)
                batches.extend((fresh or self.head.segment_dir(segment)).batches)
            segments[-width:] = [self._write_segment(app, self._repack(app, batches, dim))]
            failpoint("compact.after_merge")
        return segments

    def _repack(self, app: Appender, batches: list[BatchEntry], dim: int | None) -> list[BatchEntry]:
        """Keep full batches by reference; rewrite each run of small ones as full ones."""
        out: list[BatchEntry] = []
        run: list[BatchEntry] = []
        full_rows = batch_max_rows(dim) // 2

        def flush() -> None:
            if len(run) == 1:
                out.append(run[0])
            elif run:
                tables = [_with_dim(self._batch(b), dim) for b in run]
                out.extend(self._write_batches(app, encode_table(pa.Table.from_batches(tables), dim)))
            run.clear()

        for entry in batches:
            if entry.rows >= full_rows or entry.nbytes >= BATCH_MAX_BYTES // 2:
                flush()
                out.append(entry)
            else:
                run.append(entry)
        flush()
        return out

    def _compact_tombstones(self, app: Appender, entries: list[TombstoneEntry]) -> list[TombstoneEntry]:
        while width := _tier_width([(t.level, t.count) for t in entries], None):
            merged: dict[int, int] = {}
            for entry in entries[-width:]:
                fresh = self._fresh_tombstones.get(entry.ref.offset)
                if fresh is None:
                    ids, causes = self.reader.tombstones(entry, self.head.end)
                    fresh = dict(zip(ids.tolist(), causes.tolist(), strict=True))
                merged.update(fresh)
            entries[-width:] = [self._write_tombstones(app, merged)]
        return entries

    def _write_tombstones(self, app: Appender, dead: dict[int, int]) -> TombstoneEntry:
        ref = app.add(BlockKind.TOMBSTONES, encode_tombstones(dead), compress=True)
        self._fresh_tombstones[ref.offset] = dead
        return TombstoneEntry(ref, len(dead), level_of(len(dead)))

    def _segment_batches(self, segment: SegmentEntry) -> list[pa.RecordBatch]:
        directory = self._fresh_dirs.get(segment.ref.offset) or self.head.segment_dir(segment)
        return [self._batch(b) for b in directory.batches]

    def _batch(self, entry: BatchEntry) -> pa.RecordBatch:
        fresh = self._fresh_batches.get(entry.ref.offset)
        return fresh if fresh is not None else self.head.batch(entry)


def write_manifest(
    storage: Storage, reader: BlockReader, start: int, manifest: Manifest, generation: int
) -> tuple[Snapshot, int]:
    """Append a manifest and its trailer at ``start``, make them durable, then write the
    header slot for ``generation``. Returns the new snapshot and the trailer's offset."""
    app = Appender(start)
    payload = manifest.encode()
    ref = app.add(BlockKind.MANIFEST, payload, compress=True)
    commit_hash = commit_digest(payload)
    trailer = Trailer(seq=manifest.seq, manifest_offset=ref.offset, manifest_length=ref.length, commit_hash=commit_hash)
    trailer_offset = app.add_raw(trailer.encode())
    storage.write(app.start, bytes(app.buf))
    failpoint("commit.after_manifest_write")
    storage.sync()
    failpoint("commit.after_manifest_sync")
    storage.write(slot_offset_for(generation), Slot(generation, trailer_offset, manifest.seq, commit_hash).encode())
    failpoint("commit.after_slot_write")
    return Snapshot(reader, manifest, commit_hash, ref, trailer_offset + TRAILER_SIZE), trailer_offset


def write_slot(storage: Storage, head: Snapshot, trailer_offset: int, generation: int) -> None:
    """Point the header slot for ``generation`` at ``head`` and make it durable."""
    slot = Slot(generation, trailer_offset, head.manifest.seq, head.commit_hash)
    storage.write(slot_offset_for(generation), slot.encode())
    storage.sync()


def _with_dim(batch: pa.RecordBatch, dim: int | None) -> pa.RecordBatch:
    """Batches written before the capsule had embeddings lack the column; add it as nulls."""
    if dim and "embedding" not in batch.schema.names:
        target = schema(dim)
        column = pa.nulls(batch.num_rows, target.field("embedding").type)
        return pa.RecordBatch.from_arrays([*batch.columns, column], schema=target)
    return batch
