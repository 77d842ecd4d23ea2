"""Search indexes inside the capsule: lexical (tantivy) and vector (usearch, numpy).

Indexes are derived caches: the canonical text, metadata and vectors live in
the frames segments, and :meth:`Memvid.reindex` rebuilds every index from them.
A commit's manifest records its indexes under ``indexes``; this package keeps
them in step with commits (:class:`IndexMaintainer`, the engine's
:class:`~memvid.engine.writer.IndexHook`) and opens them for a snapshot.

The lexical index is stored as a *checkpoint*: the files of a tantivy index of
every frame below a frame id (``through``), written into the capsule only when
at least :data:`CHECKPOINT_FRAMES` frames have come since the last one. Frames
after it are indexed by the writer in its private working index, and by a
reader once per commit, into the disposable cache, when a search needs them.
When the working index is in step (it made the last checkpoint, or a search
caught it up), a commit between checkpoints also hands its frames to the
working index's open tantivy writer, whose thread indexes them beside the
caller, so the next checkpoint neither reads them back nor indexes them at
once. Commits between checkpoints therefore write nothing lexical, and a
capsule does not grow with every merge tantivy makes. Removed frames are
dropped from results at query time and deleted from the index at the next
checkpoint.

The commit also records the calibration of its vectors for ``adaptive`` fusion
(``indexes["fusion"]``, see :mod:`memvid.index.calibration`), computed only when the live
frames moved by more than a tenth since the parent's entry; otherwise the parent's is
repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

import numpy as np

from memvid._time import to_us
from memvid.engine.manifest import SegmentEntry
from memvid.engine.rows import Row
from memvid.engine.snapshot import Snapshot
from memvid.engine.writer import IndexChange
from memvid.format.block import BlockKind, BlockRef
from memvid.frame import Frame
from memvid.index.calibration import Calibration, calibrate, needs_calibration
from memvid.index.lex import SCHEMA_VERSION, LexDoc, LexIndex, LexState, LexWorkspace
from memvid.index.vec import (
    HNSW_MIN_ROWS,
    HnswShape,
    HnswView,
    Ids,
    Matrix,
    SegmentVectors,
    VecDtype,
    VecState,
    build_hnsw,
    hnsw_max_rows,
    segment_vectors,
)
from memvid.storage.cache import sweep_scratch

__all__ = [
    "CHECKPOINT_FRAMES",
    "IndexMaintainer",
    "carry_over",
    "fusion_calibration",
    "index_refs",
    "lex_index",
    "vec_segments",
]

CHECKPOINT_FRAMES: Final = 4096
"""A commit writes a new lexical checkpoint once this many frames came since the last."""


def _lex_doc_of_row(row: Row) -> LexDoc:
    time_us = row.timestamp_us if row.timestamp_us is not None else row.created_at_us
    return LexDoc(row.frame_id, row.title, row.text, row.tags, row.kind, row.uri, time_us, row.created_at_us)


def _lex_doc_of_frame(frame: Frame) -> LexDoc:
    return LexDoc(
        frame.id, frame.title, frame.text, frame.tags, frame.kind, frame.uri, to_us(frame.time), to_us(frame.created_at)
    )


def lex_state(snapshot: Snapshot, *, current: bool = True) -> LexState | None:
    """The lexical checkpoint ``snapshot`` records; with ``current``, only one of this
    library's schema (an older one is ignored: its frames are indexed again)."""
    raw = snapshot.manifest.indexes.get("lex")
    if raw is None:
        return None
    state = snapshot.extras.get("lex-state")  # parsed once per commit: the writer's searches ask each time
    if state is None:
        state = snapshot.extras["lex-state"] = LexState.from_json(raw, snapshot.manifest_ref.offset)
    assert isinstance(state, LexState)
    return state if state.current or not current else None


def _reader_for(snapshot: Snapshot, state: LexState) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        parts = [snapshot.reader.raw(ref, BlockKind.LEX_FILE, snapshot.end) for ref in state.files[name]]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    return read


def _tail_docs(snapshot: Snapshot, start: int) -> Iterator[LexDoc]:
    """The live frames of ``snapshot`` with ids from ``start`` on."""
    for frame in snapshot.iter_frames(min_id=start):
        yield _lex_doc_of_frame(frame)


def lex_index(snapshot: Snapshot, capsule_uuid: str) -> LexIndex | None:
    """The lexical index of ``snapshot`` (its checkpoint caught up to its last frame),
    opened once and cached on it."""
    cached = snapshot.extras.get("lex")
    if cached is None:
        state = lex_state(snapshot)
        if state is None:
            if lex_state(snapshot, current=False) is None:
                return None  # nothing was ever indexed: no frames yet
            # A checkpoint of an older schema: index every frame again, once, into the cache.
            key = f"v{SCHEMA_VERSION}-{snapshot.commit_id}"
            cached = LexIndex.open(capsule_uuid, None, _no_files, (key, lambda: _tail_docs(snapshot, 0)))
            snapshot.extras["lex"] = cached
            return cached
        read = _reader_for(snapshot, state)
        tail = None
        if state.through < snapshot.next_frame_id:
            tail = (f"{state.key}-{snapshot.commit_id}", lambda: _tail_docs(snapshot, state.through))
        cached = LexIndex.open(capsule_uuid, state, read, tail)
        snapshot.extras["lex"] = cached
    return cached if isinstance(cached, LexIndex) else None


def vec_state(snapshot: Snapshot) -> VecState | None:
    raw = snapshot.manifest.indexes.get("vec")
    if raw is None:
        return None
    return VecState.from_json(raw, snapshot.manifest_ref.offset)


def _constant(vectors: Matrix) -> Callable[[], Matrix]:
    return lambda: vectors


def vec_segments(snapshot: Snapshot) -> list[SegmentVectors]:
    """Every segment's vectors (with its HNSW view if it has one), cached on the snapshot;
    segments a predecessor had loaded are taken from it (:func:`carry_over`)."""
    cached = snapshot.extras.get("vec")
    if cached is None:
        state = vec_state(snapshot)
        donor: dict[tuple[int, int | None], SegmentVectors] = snapshot.extras.pop("vec-donor", {})
        cached, keys = [], []
        for segment in snapshot.manifest.segments:

            def load(segment: SegmentEntry = segment) -> Matrix:
                return segment_vectors([snapshot.batch(b) for b in snapshot.segment_dir(segment).batches])[1]

            ref = None if state is None else state.segments.get(segment.ref.offset)
            key = (segment.ref.offset, None if ref is None else ref.offset)
            keys.append(key)
            given = donor.get(key)
            if given is not None:
                # The view and ids are the predecessor's; what loads the vectors reads through this
                # snapshot, so the predecessor (and its caches) can be let go.
                cached.append(given if given.hnsw is None else SegmentVectors(given.ids, load, given.hnsw))
            elif state is None or ref is None:
                ids, vectors = segment_vectors([snapshot.batch(b) for b in snapshot.segment_dir(segment).batches])
                cached.append(SegmentVectors(ids, _constant(vectors), None))
            else:
                shape = HnswShape(
                    state.dtype, snapshot.manifest.embedding_dim, segment.first_id, segment.last_id, segment.rows
                )
                view = HnswView(snapshot.reader.raw(ref, BlockKind.VEC_INDEX, snapshot.end), shape)
                ids = np.asarray(view.index.keys, dtype=np.uint64)
                cached.append(SegmentVectors(ids, load, view))
        snapshot.extras["vec"] = cached
        snapshot.extras["vec-keys"] = keys
    result: list[SegmentVectors] = cached
    return result


def carry_over(parent: Snapshot, child: Snapshot) -> None:
    """Offer ``child`` (the next commit of the same capsule, or a refreshed head) the vector
    segments ``parent`` has loaded: a commit keeps all but its new and merged segments, so the
    child's first vector search opens only those (a 1-frame commit into 30,000 vectors: the
    first search after it took 100 ms, verifying and opening the whole HNSW block again).
    Segments are matched by their block offsets, which no other segment can have."""
    if "vec" in child.extras:
        return
    loaded = parent.extras.get("vec")
    keys = parent.extras.get("vec-keys")
    if loaded is not None and keys is not None:
        child.extras["vec-donor"] = dict(zip(keys, loaded, strict=True))
    elif "vec-donor" in parent.extras:  # not searched since it was offered: offered on
        child.extras["vec-donor"] = parent.extras.pop("vec-donor")


def fusion_calibration(snapshot: Snapshot) -> Calibration | None:
    """The calibration ``snapshot``'s manifest records (``None`` without one, or with an
    entry of another version). A malformed entry is a :class:`CorruptCapsuleError`."""
    raw = snapshot.manifest.indexes.get("fusion")
    if raw is None:
        return None
    return Calibration.from_json(raw, snapshot.manifest.embedding_dim)


def index_refs(snapshot: Snapshot) -> Iterator[tuple[BlockRef, BlockKind]]:
    """Every index block a commit references (for verify)."""
    state = lex_state(snapshot, current=False)
    if state is not None:
        for refs in state.files.values():
            for ref in refs:
                yield ref, BlockKind.LEX_FILE
    vstate = vec_state(snapshot)
    if vstate is not None:
        for ref in vstate.segments.values():
            yield ref, BlockKind.VEC_INDEX


class IndexMaintainer:
    """Keeps a capsule's indexes in step with its commits (the engine's index hook),
    and holds the writer's live lexical index."""

    def __init__(self, capsule_uuid: str, *, vec_dtype: VecDtype = "f16") -> None:
        sweep_scratch()
        self._lex = LexWorkspace(capsule_uuid)
        self._unconfirmed = False
        self.vec_dtype: VecDtype = vec_dtype
        self.rebuild = False
        """Set to rebuild every index from the frames at the next commit (reindex)."""

    def update(self, change: IndexChange) -> dict[str, Any]:
        self._forget_unconfirmed()
        self._unconfirmed = True  # until confirm(): the working index may hold this commit's frames
        indexes = dict(change.parent.manifest.indexes)
        lex = self._update_lex(change)
        if lex is not None:
            indexes["lex"] = lex.to_json()
        # A new segment's vectors, read from its batches once for its HNSW and its calibration
        # (kept for the calibration only when this commit calibrates).
        read: dict[int, tuple[Ids, Matrix]] | None = {} if self._calibrates(change) else None
        vec = self._update_vec(change, read)
        if vec is not None:
            indexes["vec"] = vec.to_json()
        fusion = self._update_fusion(change, read)
        if fusion is None:
            indexes.pop("fusion", None)
        else:
            indexes["fusion"] = fusion
        return indexes

    def _calibrates(self, change: IndexChange) -> bool:
        """Whether the commit computes a new calibration: it has vectors, and the live frames
        moved by more than a tenth since the parent's entry was computed (or the dimension
        changed, or on reindex)."""
        parent = change.parent
        dim = parent.manifest.embedding_dim
        if dim is None:
            dim = next((len(r.embedding) for r in change.rows if r.embedding is not None), None)
            if dim is None:
                return False
        frames = parent.manifest.frames_live + len(change.rows) - len(change.dead)
        return self.rebuild or needs_calibration(fusion_calibration(parent), frames, dim)

    def _update_fusion(self, change: IndexChange, read: dict[int, tuple[Ids, Matrix]] | None) -> dict[str, Any] | None:
        """The commit's calibration entry. ``read`` is ``None`` when the commit does not
        calibrate (:meth:`_calibrates`, asked once by :meth:`update`): the parent's entry
        stands (``None`` while the capsule has no vectors). Otherwise it holds the new
        segments' vectors the HNSW builds read, and the entry is computed from the commit's
        vectors (the parent's HNSW for segments it had, the new segments exactly)."""
        parent = change.parent
        if read is None:
            return dict(parent.manifest.indexes["fusion"]) if "fusion" in parent.manifest.indexes else None
        frames = parent.manifest.frames_live + len(change.rows) - len(change.dead)
        kept: dict[int, SegmentVectors] = {}
        if not self.rebuild:
            kept = {s.ref.offset: v for s, v in zip(parent.manifest.segments, vec_segments(parent), strict=True)}
        segments = []
        for segment in change.segments:
            vectors = kept.get(segment.ref.offset)
            if vectors is None:
                ids, matrix = _segment_vectors(change, segment, read)
                vectors = SegmentVectors(ids, _constant(matrix), None)
            segments.append(vectors)
        return calibrate(segments, {**parent.dead, **change.dead}, frames=frames).to_json()

    def _update_lex(self, change: IndexChange) -> LexState | None:
        """A new checkpoint when one is due (the first, a rebuild, or enough new frames);
        otherwise the commit's frames go to the working index's open writer, when it is in step."""
        parent = change.parent
        state = None if self.rebuild else lex_state(parent)
        if state is not None and change.next_frame_id - state.through < CHECKPOINT_FRAMES:
            # The parent's checkpoint stands; the frames since are indexed when searched, or
            # handed to the working index now if it holds every frame before them.
            if change.rows:
                own = [_lex_doc_of_row(r) for r in change.rows]
                self._lex.add(state.key, parent.next_frame_id, own, change.next_frame_id, CHECKPOINT_FRAMES)
            return None
        read = _reader_for(parent, state) if state is not None else _no_files
        removed = sorted({*parent.dead, *change.dead})
        added = [_lex_doc_of_row(r) for r in change.rows]
        base = (state, read, lambda start: _tail_docs(parent, start), parent.next_frame_id)
        names, fresh = self._lex.checkpoint(base, added, removed, change.next_frame_id)
        files: dict[str, tuple[BlockRef, ...]] = {}
        for name in names:
            pieces = fresh(name)
            if pieces is None:
                assert state is not None
                files[name] = state.files[name]
            else:  # a file over FILE_PART_BYTES in parts, each a block: one block may hold at most 256 MiB
                files[name] = tuple(change.add_block(BlockKind.LEX_FILE, piece) for piece in pieces)
        docs = parent.manifest.frames_live + len(change.rows) - len(change.dead)
        return LexState(files=files, docs=docs, through=change.next_frame_id)

    def live_index(self, snapshot: Snapshot) -> LexIndex | None:
        """The writer's own lexical index, caught up to ``snapshot`` (its head)."""
        self._forget_unconfirmed()
        state = lex_state(snapshot)
        if state is None and lex_state(snapshot, current=False) is None:
            return None  # nothing was ever indexed: no frames yet
        read = _reader_for(snapshot, state) if state is not None else _no_files
        index = self._lex.catch_up(state, read, lambda start: _tail_docs(snapshot, start), snapshot.next_frame_id)
        return LexIndex(index)

    def _update_vec(self, change: IndexChange, read: dict[int, tuple[Ids, Matrix]] | None) -> VecState | None:
        """HNSW for every new segment of at least HNSW_MIN_ROWS frames with vectors; each
        extends the index of its largest input segment when it has one. Segments the parent
        already had are never read again."""
        parent = change.parent
        old = None if self.rebuild else vec_state(parent)
        if parent.manifest.embedding_dim is None and not any(r.embedding is not None for r in change.rows):
            return None
        dtype = old.dtype if old is not None else self.vec_dtype
        indexed = {} if old is None else dict(old.segments)
        by_offset = {s.ref.offset: s for s in parent.manifest.segments}
        result: dict[int, BlockRef] = {}
        for segment in change.segments:
            ref = indexed.get(segment.ref.offset)
            if ref is None and segment.rows >= HNSW_MIN_ROWS and (self.rebuild or segment.ref.offset not in by_offset):
                ids, vectors = _segment_vectors(change, segment, read)
                if len(ids):
                    inputs = [
                        (by_offset[o], r)
                        for o, r in indexed.items()
                        if o in by_offset and segment.first_id <= by_offset[o].first_id <= segment.last_id
                    ]
                    base = None
                    if inputs:
                        largest, best = max(inputs, key=lambda x: x[0].rows)
                        shape = HnswShape(
                            dtype, parent.manifest.embedding_dim, largest.first_id, largest.last_id, largest.rows
                        )
                        base = (parent.reader.raw(best, BlockKind.VEC_INDEX, parent.end), shape)
                    ref = change.add_block(BlockKind.VEC_INDEX, build_hnsw(ids, vectors, dtype, base=base))
            if ref is not None:
                result[segment.ref.offset] = ref
        if not result and old is None:
            return None
        return VecState(dtype=dtype, segments=result)

    def max_merge_rows(self, head: Snapshot, dim: int | None) -> int | None:
        """A merged segment's HNSW must fit in one block (see :func:`hnsw_max_rows`)."""
        if dim is None:
            return None
        state = None if self.rebuild else vec_state(head)
        return hnsw_max_rows(dim, state.dtype if state is not None else self.vec_dtype)

    def _forget_unconfirmed(self) -> None:
        """A commit this maintainer updated the working index for did not become durable (it
        raised, or was rolled back before writing): the working index may hold its frames, so
        it is started again from the capsule when next needed."""
        if self._unconfirmed:
            self._lex.close()
            self._unconfirmed = False

    def confirm(self, indexes: dict[str, Any]) -> None:
        self._unconfirmed = False
        raw = indexes.get("lex")
        if raw is not None:
            self._lex.confirm(LexState.from_json(raw, 1 << 62))
        self.rebuild = False

    def close(self) -> None:
        self._lex.close()


def _segment_vectors(
    change: IndexChange, segment: SegmentEntry, read: dict[int, tuple[Ids, Matrix]] | None
) -> tuple[Ids, Matrix]:
    """A segment of the commit's: its frame ids and unit vectors, read from its batches the first
    time the commit asks and kept in ``read`` (when given: the HNSW build and the calibration
    both need them)."""
    found = None if read is None else read.get(segment.ref.offset)
    if found is None:
        with np.errstate(over="ignore", invalid="ignore"):  # a vector too long for float32's norm
            found = segment_vectors(change.batches(segment))
        if read is not None:
            read[segment.ref.offset] = found
    return found


def _no_files(name: str) -> bytes:
    raise KeyError(name)
