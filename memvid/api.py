"""The public handle on a capsule: :class:`Memvid`, and its as-of views."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import threading
import uuid as uuid_mod
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from memvid import timeline
from memvid._failpoints import failpoint
from memvid._threads import quick_gil_handoff
from memvid._time import TimeLike, from_us, now_us, to_us
from memvid.bulk import rows_from_table
from memvid.embed import Embedder, EmbedderIdentity, embedding_text, identity_of, looks_like_embedder
from memvid.engine.manifest import Manifest
from memvid.engine.rows import Row
from memvid.engine.snapshot import DELETED, BlockReader, Snapshot, find_head
from memvid.engine.verify import VerifyReport, verify_snapshot
from memvid.engine.writer import Writer, write_manifest, write_slot
from memvid.errors import (
    ClosedError,
    EmbedderMismatchError,
    EmbeddingError,
    FrameNotFoundError,
    InvalidInputError,
    LimitExceededError,
    ReadOnlyError,
    ReadOnlyViewError,
)
from memvid.filters import compile_where
from memvid.format.checksum import content_digest
from memvid.format.header import HEADER_SIZE, Header
from memvid.format.limits import MAX_EMBEDDING_DIM, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES
from memvid.frame import (
    Frame,
    PutOptions,
    check_embedding,
    check_tags,
    check_text,
    encode_metadata,
)
from memvid.index import IndexMaintainer, carry_over, index_refs, lex_index
from memvid.index.lex import LexIndex
from memvid.index.vec import VecDtype, check_dtype
from memvid.search import SearchRequest, SearchResults, run_search
from memvid.storage import FileStorage, Storage, create_file_atomically
from memvid.timeline import CommitInfo, CommitResult

if TYPE_CHECKING:
    from memvid.ingest import DedupMode, IngestReport

__all__ = ["CapsuleStats", "CapsuleView", "Memvid"]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
PutItem = str | bytes | PutOptions | Mapping[str, Any] | tuple[str | bytes, PutOptions]


@dataclass(frozen=True, slots=True)
class CapsuleStats:
    """Counts and sizes of a capsule as of the commit a handle reads."""

    path: str | None
    uuid: str
    format_version: int
    created_at: dt.datetime
    commit_seq: int
    commit_id: str
    frames: int
    frame_versions: int
    removed: int
    segments: int
    size_bytes: int
    pending: int
    embedding_dim: int | None
    embedder: str | None = None
    """The name of the embedder that wrote the capsule's vectors, as the capsule records it."""

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "uuid": self.uuid,
            "format_version": self.format_version,
            "created_at": self.created_at.isoformat(),
            "commit_seq": self.commit_seq,
            "commit_id": self.commit_id,
            "frames": self.frames,
            "frame_versions": self.frame_versions,
            "removed": self.removed,
            "segments": self.segments,
            "size_bytes": self.size_bytes,
            "pending": self.pending,
            "embedding_dim": self.embedding_dim,
            "embedder": self.embedder,
        }


class _Reading:
    """Read operations shared by a handle and its as-of views."""

    _snapshot: Snapshot
    _header: Header
    _path: Path | None
    _lock: threading.RLock  # serialises every public call: a handle may be shared by threads

    def _check_open(self) -> None:
        raise NotImplementedError

    def _state(self) -> Snapshot:
        self._check_open()
        return self._snapshot

    # -- frames ---------------------------------------------------------------------

    def get(self, frame_id: int) -> Frame:
        """The live frame with this id. Raises :class:`FrameNotFoundError` if it does not
        exist in this view, was deleted, or was superseded by an update."""
        snapshot = self._state()
        if isinstance(frame_id, bool) or not isinstance(frame_id, int):
            raise InvalidInputError(f"frame id must be an int, not {type(frame_id).__name__}")
        cause = snapshot.dead.get(frame_id)
        if cause is not None:
            why = "was deleted" if cause == DELETED else f"was superseded by frame {cause}"
            raise FrameNotFoundError(f"frame {frame_id} {why}")
        frame = snapshot.frame(frame_id) if frame_id >= 0 else None
        if frame is None:
            raise FrameNotFoundError(f"no frame {frame_id} in commit {snapshot.manifest.seq}")
        return frame

    def get_by_uri(self, uri: str) -> Frame:
        """The latest live frame with this uri."""
        snapshot = self._state()
        ids = snapshot.live_ids_for_uri(uri)
        if not ids:
            raise FrameNotFoundError(f"no live frame with uri {uri!r}")
        frame = snapshot.frame(ids[-1])
        assert frame is not None
        return frame

    def frames(
        self,
        *,
        kind: str | None = None,
        tags: Mapping[str, str] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        uri_prefix: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> Iterator[Frame]:
        """Live frames in id order, filtered. ``since`` (inclusive) and ``until``
        (exclusive) compare with each frame's :attr:`Frame.time`; ``tags`` must all match;
        ``where`` filters on metadata (see :mod:`memvid.filters`)."""
        snapshot = self._state()
        return snapshot.iter_frames(
            where=None if where is None else compile_where(where),
            kind=kind,
            tags=check_tags(tags) if tags else None,
            since_us=None if since is None else to_us(since, field="since"),
            until_us=None if until is None else to_us(until, field="until"),
            uri_prefix=uri_prefix,
        )

    def __len__(self) -> int:
        return self._state().manifest.frames_live

    def stats(self) -> CapsuleStats:
        snapshot = self._state()
        m = snapshot.manifest
        return CapsuleStats(
            path=None if self._path is None else str(self._path),
            uuid=self._header.uuid_str,
            format_version=self._header.version,
            created_at=from_us(self._header.created_at_us),
            commit_seq=m.seq,
            commit_id=snapshot.commit_id,
            frames=m.frames_live,
            frame_versions=m.frames_total,
            removed=m.frames_dead,
            segments=len(m.segments),
            size_bytes=snapshot.end,
            pending=self._pending_count(),
            embedding_dim=m.embedding_dim,
            embedder=None if m.embedder is None else EmbedderIdentity.from_json(m.embedder).name,
        )

    def _pending_count(self) -> int:
        return 0

    # -- time travel -----------------------------------------------------------------

    @property
    def head(self) -> CommitInfo:
        """The commit this handle or view reads."""
        return timeline.info(self._state())

    def timeline(self, *, limit: int | None = None) -> list[CommitInfo]:
        """Commits from the first to the one this handle reads (the newest ``limit`` if given)."""
        if limit is not None and limit < 0:
            raise InvalidInputError(f"limit must be >= 0, not {limit}")
        out: list[CommitInfo] = []
        if limit == 0:
            return out
        for snapshot in timeline.walk(self._state()):
            out.append(timeline.info(snapshot))
            if limit is not None and len(out) >= limit:
                break
        out.reverse()
        return out

    def at(
        self, *, commit: int | str | None = None, frame: int | None = None, time: TimeLike | None = None
    ) -> CapsuleView:
        """A read-only view of the capsule as it was: at a commit (sequence number, negative
        from the end, or id prefix), at the commit that added ``frame``, or at the last
        commit made at or before ``time``. Writes through the view raise
        :class:`ReadOnlyViewError`."""
        snapshot = timeline.resolve(self._state(), commit=commit, frame=frame, time=time)
        self._track(snapshot)
        return CapsuleView(self, snapshot)

    def _track(self, snapshot: Snapshot) -> None:
        """Remember a view's snapshot, so that closing the handle releases what it opened."""

    # -- search ----------------------------------------------------------------------

    def search(self, request: SearchRequest | str | None = None, /, **fields: Any) -> SearchResults:
        """Search this commit: ``search("query", mode=..., limit=..., tags=...)`` or
        ``search(SearchRequest(...))``. See :class:`SearchRequest` for the modes,
        filters and what a score means in each."""
        if isinstance(request, SearchRequest):
            if fields:
                request = replace(request, **fields)
        else:
            if request is not None:
                fields["query"] = request
            try:
                request = SearchRequest(**fields)
            except TypeError as exc:
                raise InvalidInputError(f"search() got an unknown field: {exc}") from None
        snapshot = self._state()
        embedder = self._embedder_for_queries()
        with quick_gil_handoff():  # see memvid._threads: a busy thread of the caller's would add ms per native call
            return run_search(snapshot, self._lex_for, request, None if embedder is None else embedder.embed_query)

    def _embedder_for_queries(self) -> Embedder | None:
        return None

    def _lex_for(self, snapshot: Snapshot) -> LexIndex | None:
        return lex_index(snapshot, self._header.uuid_str)

    # -- checks ----------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Check every checksum and the whole commit chain. Reads the whole file."""
        return verify_snapshot(self._state(), self._header, index_refs)

    # -- write surface, refused here; Memvid overrides ---------------------------------

    def _refuse(self) -> ReadOnlyError:
        return ReadOnlyError("this handle is read-only; open the capsule without read_only=True to write")

    def put(self, *args: Any, **kwargs: Any) -> int:
        raise self._refuse()

    def put_bytes(self, data: bytes, options: PutOptions | None = None) -> int:
        raise self._refuse()

    def put_bytes_with_options(self, data: bytes, options: PutOptions) -> int:
        raise self._refuse()

    def put_many(self, items: Iterable[PutItem]) -> list[int]:
        raise self._refuse()

    def update(self, target: int | str, text: Any = UNSET, **changes: Any) -> int:
        raise self._refuse()

    def delete(self, target: int | str) -> tuple[int, ...]:
        raise self._refuse()

    def commit(self, message: str | None = None) -> CommitResult:
        raise self._refuse()

    def commit_frame(self, message: str | None = None) -> CommitResult:
        raise self._refuse()

    def rollback(self) -> int:
        raise self._refuse()


class CapsuleView(_Reading):
    """A read-only view of a capsule as of one past commit; see :meth:`Memvid.at`."""

    def __init__(self, owner: _Reading, snapshot: Snapshot) -> None:
        self._owner = owner
        self._lock = owner._lock
        self._snapshot = snapshot
        self._header = owner._header
        self._path = owner._path

    def _check_open(self) -> None:
        self._owner._check_open()

    def _track(self, snapshot: Snapshot) -> None:
        self._owner._track(snapshot)

    def _embedder_for_queries(self) -> Embedder | None:
        return self._owner._embedder_for_queries()

    def _lex_for(self, snapshot: Snapshot) -> LexIndex | None:
        return self._owner._lex_for(snapshot)

    def _refuse(self) -> ReadOnlyError:
        return ReadOnlyViewError(
            f"this is a read-only view of commit {self._snapshot.manifest.seq}; write through the capsule handle"
        )

    def __repr__(self) -> str:
        return f"<CapsuleView {self._path} at commit {self._snapshot.manifest.seq}>"


class Memvid(_Reading):
    """A handle on one ``.mv2`` capsule.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.mv2")
    >>> with Memvid.create(path) as mem:
    ...     fid = mem.put("Alice prefers tea", title="pref", tags={"person": "alice"})
    ...     result = mem.commit()
    >>> with Memvid.open(path, read_only=True) as mem:
    ...     mem.get(fid).text
    'Alice prefers tea'

    Pending frames (put, updated or deleted since the last commit) are invisible
    to every reader, this handle's reads included, until :meth:`commit`. Leaving a
    ``with`` block normally commits them; leaving it by an exception discards
    them. :meth:`close` commits them and raises if that fails (the handle is
    closed either way); ``close(commit=False)`` discards them.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        path: Path | None,
        read_only: bool,
        embedder: Embedder | None = None,
        vec_dtype: VecDtype = "f16",
    ) -> None:
        self._storage = storage
        self._path = path
        self._read_only = read_only
        self._lock = threading.RLock()
        self._closed = True  # until construction succeeds; the caller closes the storage on failure
        self._reader = BlockReader(storage)
        head, manifest = find_head(storage, self._reader)
        self._header = head.header
        self._snapshot = Snapshot(self._reader, manifest, head.trailer.commit_hash, head.manifest_ref, head.end)
        self._pending: dict[int, Row] = {}
        self._pending_dead: dict[int, int] = {}
        self._next_id = manifest.next_frame_id
        self._dim = manifest.embedding_dim
        self._embedder = embedder
        self._identity = None if embedder is None else _check_embedder(embedder, manifest)
        self._writer: Writer | None = None
        self._indexer: IndexMaintainer | None = None
        if not read_only:
            generation = head.slot.generation if head.slot is not None else 0
            self._indexer = IndexMaintainer(self._header.uuid_str, vec_dtype=check_dtype(vec_dtype))
            self._writer = Writer(storage, self._reader, self._snapshot, generation, self._indexer)
            if storage.size() > head.end:
                storage.truncate(head.end)  # a torn tail from a crashed writer
                storage.sync()
                failpoint("open.after_truncate")
            slot = head.slot
            if slot is None or slot.trailer_offset != head.trailer_offset or slot.seq != manifest.seq:
                # Make the hint agree with the truth before appending after it.
                self._writer.generation += 1
                write_slot(storage, self._snapshot, head.trailer_offset, self._writer.generation)
                failpoint("open.after_slot_write")
        self._closed = False
        self._views: weakref.WeakSet[Snapshot] = weakref.WeakSet()

    def _track(self, snapshot: Snapshot) -> None:
        self._views.add(snapshot)

    # -- opening ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        lock_timeout: float | None = 0.0,
        embedder: Embedder | None = None,
        vec_dtype: VecDtype = "f16",
    ) -> Memvid:
        """Create an empty capsule at ``path`` and open it for writing.

        The file appears whole or not at all. Raises :class:`CapsuleExistsError`
        if ``path`` exists, unless ``overwrite=True``; replacing a capsule takes its
        writer lock first (waiting up to ``lock_timeout`` seconds), so one that
        another handle is writing raises :class:`CapsuleLockedError` instead. With an ``embedder``, every
        frame committed without an ``embedding`` is embedded (in batches, at
        commit) and text queries can use vector and hybrid search; the capsule
        records the embedder's identity. ``vec_dtype`` (``"f32"``, ``"f16"`` or
        ``"i8"``) is how its HNSW indexes store vectors.
        """
        header = Header(uuid=uuid_mod.uuid4().bytes, created_at_us=now_us())

        def fill(storage: FileStorage) -> None:
            storage.write(0, header.encode())
            genesis = Manifest(
                seq=0,
                time_us=header.created_at_us,
                parent=None,
                segments=(),
                tombstones=(),
                next_frame_id=0,
                frames_total=0,
                frames_dead=0,
                added=0,
                removed=0,
                added_first=None,
                added_last=None,
                message="create",
            )
            write_manifest(storage, BlockReader(storage), HEADER_SIZE, genesis, 1)
            failpoint("create.after_fill")

        storage = create_file_atomically(path, fill, overwrite=overwrite, lock_timeout=lock_timeout)
        try:
            return cls(storage, path=Path(path), read_only=False, embedder=embedder, vec_dtype=vec_dtype)
        except BaseException:
            storage.close()
            raise

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        lock_timeout: float | None = 0.0,
        embedder: Embedder | None = None,
    ) -> Memvid:
        """Open an existing capsule. A writer takes the capsule's lock, waiting up to
        ``lock_timeout`` seconds (``None``: forever) before raising
        :class:`CapsuleLockedError`; ``read_only=True`` takes no lock and reads the
        latest commit as of opening (see :meth:`refresh`). An ``embedder`` must be the
        one that wrote the capsule's vectors (:class:`EmbedderMismatchError` otherwise)."""
        storage = FileStorage.open(path, writable=not read_only, lock_timeout=lock_timeout)
        try:
            return cls(storage, path=Path(path), read_only=read_only, embedder=embedder)
        except BaseException:
            storage.close()
            raise

    @classmethod
    def from_storage(cls, storage: Storage, *, read_only: bool = False, embedder: Embedder | None = None) -> Memvid:
        """Open a capsule on any :class:`~memvid.storage.Storage` (tests, in-memory tools)."""
        return cls(storage, path=None, read_only=read_only, embedder=embedder)

    # -- state ------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def uuid(self) -> str:
        return self._header.uuid_str

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Frames put or updated, plus frames deleted, since the last commit."""
        return len(self._pending) + len(self._pending_dead)

    def _pending_count(self) -> int:
        return self.pending

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this capsule handle is closed")

    def _writer_or_raise(self) -> Writer:
        self._check_open()
        if self._writer is None:
            raise self._refuse()
        return self._writer

    def refresh(self) -> bool:
        """Move a read-only handle to the latest commit; ``True`` if it changed."""
        self._check_open()
        if not self._read_only:
            return False
        head, manifest = find_head(self._storage, self._reader)
        if head.trailer.commit_hash == self._snapshot.commit_hash:
            return False
        fresh = Snapshot(self._reader, manifest, head.trailer.commit_hash, head.manifest_ref, head.end)
        carry_over(self._snapshot, fresh)
        self._snapshot = fresh
        return True

    # -- writing ----------------------------------------------------------------------

    def put(
        self,
        text: str,
        *,
        title: str | None = None,
        uri: str | None = None,
        tags: Mapping[str, str] | None = None,
        kind: str | None = None,
        timestamp: TimeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        embedding: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
    ) -> int:
        """Add a frame; returns its id at once. It becomes durable and visible at :meth:`commit`."""
        self._writer_or_raise()
        options = PutOptions(
            title=title,
            uri=uri,
            tags=tags or {},
            kind=kind,
            timestamp=timestamp,
            metadata=metadata or {},
            embedding=embedding,
        )
        return self._add([self._row(text, None, options)])[0]

    def put_bytes(self, data: bytes, options: PutOptions | None = None) -> int:
        """Add a frame whose payload is ``data``. Its text is ``options.text`` if given,
        else ``data`` decoded as UTF-8 when it is valid UTF-8, else empty."""
        self._writer_or_raise()
        return self._add([self._row_from_bytes(data, options or PutOptions())])[0]

    def put_bytes_with_options(self, data: bytes, options: PutOptions) -> int:
        """Alias of :meth:`put_bytes`, named as in the memvid API."""
        return self.put_bytes(data, options)

    def put_many(self, items: Iterable[PutItem] | pa.Table | pa.RecordBatch) -> list[int]:
        """Add many frames: each item is a text, bytes, a :class:`PutOptions` (with ``text``),
        a ``(text_or_bytes, PutOptions)`` pair, or a mapping of ``text``/``data`` and
        option names. Or ``items`` is a ``pyarrow.Table`` (or ``RecordBatch``) with a
        ``text`` column and any of ``title, uri, kind, tags, timestamp, metadata,
        embedding, payload``, checked column by column (the fast way to load many).
        Every item is checked before any is added."""
        self._writer_or_raise()
        if isinstance(items, pa.Table | pa.RecordBatch):
            return self._add(rows_from_table(items))
        rows = [self._item_row(item, i) for i, item in enumerate(items)]
        return self._add(rows)

    def update(self, target: int | str, text: Any = UNSET, **changes: Any) -> int:
        """Replace a live frame (by id, or the latest with a uri) with a new frame: the
        old one's fields, with ``text`` and any of ``title, uri, tags, kind, timestamp,
        metadata, embedding`` changed. Returns the new frame's id; the old one stays
        visible to :meth:`at`. Updating a pending frame changes it in place."""
        self._writer_or_raise()
        unknown = set(changes) - {"title", "uri", "tags", "kind", "timestamp", "metadata", "embedding"}
        if unknown:
            raise InvalidInputError(f"update() got unknown fields: {', '.join(sorted(unknown))}")
        old_id = self._resolve_live(target)
        pending = self._pending.get(old_id)
        if pending is not None:
            base = _options_of_row(pending)
            base_text = pending.text
            payload = pending.payload
        else:
            frame = self._snapshot.frame(old_id)
            assert frame is not None
            base = PutOptions(
                title=frame.title,
                uri=frame.uri,
                tags=dict(frame.tags),
                kind=frame.kind,
                timestamp=frame.timestamp,
                metadata=dict(frame.metadata),
                embedding=frame.embedding,
            )
            base_text = frame.text
            payload = frame.payload
        fields: dict[str, Any] = {
            "title": base.title,
            "uri": base.uri,
            "tags": base.tags,
            "kind": base.kind,
            "timestamp": base.timestamp,
            "metadata": base.metadata,
            "embedding": base.embedding,
        }
        fields.update(changes)
        options = PutOptions(**fields)
        row = self._row(base_text if text is UNSET else text, payload, options)
        if pending is not None:
            row.frame_id = old_id
            self._pending[old_id] = row
            return old_id
        row.supersedes = old_id
        new_id = self._add([row])[0]
        self._pending_dead[old_id] = new_id
        return new_id

    def delete(self, target: int | str) -> tuple[int, ...]:
        """Remove a frame by id, or every live frame with a uri. Returns the removed ids.
        Removed frames stay visible to :meth:`at` until a vacuum."""
        self._writer_or_raise()
        if isinstance(target, str):
            ids = [fid for fid in self._snapshot.live_ids_for_uri(target) if fid not in self._pending_dead]
            ids += [fid for fid, row in self._pending.items() if row.uri == target]
            if not ids:
                raise FrameNotFoundError(f"no live frame with uri {target!r}")
        else:
            ids = [self._resolve_live(target)]
        for fid in ids:
            if self._pending.pop(fid, None) is None:
                self._pending_dead[fid] = DELETED
        return tuple(sorted(ids))

    def commit(self, message: str | None = None) -> CommitResult:
        """Make every pending change durable, atomically; see :class:`CommitResult`."""
        writer = self._writer_or_raise()
        if message is not None:
            check_text(message, "message", optional=False)
            if len(message.encode("utf-8")) > MAX_MESSAGE_BYTES:
                raise InvalidInputError(f"a commit message is at most {MAX_MESSAGE_BYTES} bytes of UTF-8")
        if not self._pending and not self._pending_dead:
            h = self._snapshot
            return CommitResult(h.manifest.seq, h.commit_id, from_us(h.manifest.time_us), (), ())
        rows = list(self._pending.values())
        self._embed_pending(rows)
        outcome = writer.commit(
            rows,
            dict(self._pending_dead),
            next_frame_id=self._next_id,
            embedding_dim=self._dim,
            message=message,
            embedder=None if self._identity is None else self._identity.to_json(),
        )
        carry_over(self._snapshot, outcome.snapshot)
        self._snapshot = outcome.snapshot
        self._pending.clear()
        self._pending_dead.clear()
        m = outcome.snapshot.manifest
        return CommitResult(m.seq, outcome.snapshot.commit_id, from_us(m.time_us), outcome.frame_ids, outcome.removed)

    def commit_frame(self, message: str | None = None) -> CommitResult:
        """Alias of :meth:`commit`, named as in the memvid API."""
        return self.commit(message)

    def ingest(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        workers: int | None = None,
        chunk_chars: int = 1200,
        overlap: int = 150,
        clean: bool | None = None,
        dedup: DedupMode = "skip",
        commit_every: int = 256,
        progress: bool = False,
        **options: Any,
    ) -> IngestReport:
        """Add files, directories or glob matches (text, Markdown, HTML, PDF, JSON, JSONL) as
        documents cut into chunks, on ``workers`` processes, committing every ``commit_every``
        documents. Files already in (same path, size and mtime) are skipped, so an interrupted
        run resumes. Further options: ``include``, ``tags``, ``json_mapping``, ``stdin``,
        ``stdin_format``. See ``docs/how-to/ingest.md``."""
        self._writer_or_raise()
        from memvid.ingest.pipeline import run_ingest

        return run_ingest(
            self,
            paths,
            workers=workers,
            chunk_chars=chunk_chars,
            overlap=overlap,
            clean=clean,
            dedup=dedup,
            commit_every=commit_every,
            progress=progress,
            **options,
        )

    def reindex(self) -> CommitResult:
        """Rebuild every search index from the frames, in a new commit. Nothing else changes."""
        writer = self._writer_or_raise()
        if self.pending:
            raise InvalidInputError("commit or roll back pending changes before reindex()")
        assert self._indexer is not None
        self._indexer.rebuild = True
        try:
            outcome = writer.commit([], {}, next_frame_id=self._next_id, embedding_dim=self._dim, message="reindex")
        finally:
            self._indexer.rebuild = False
        self._snapshot = outcome.snapshot
        m = outcome.snapshot.manifest
        return CommitResult(m.seq, outcome.snapshot.commit_id, from_us(m.time_us), (), ())

    def _embed_pending(self, rows: list[Row]) -> None:
        """Embed, in batches, the pending frames that have no vector yet."""
        if self._embedder is None:
            return
        todo = [r for r in rows if r.embedding is None]
        for start in range(0, len(todo), _EMBED_BATCH):
            chunk = todo[start : start + _EMBED_BATCH]
            vectors = np.asarray(
                self._embedder.embed_documents([embedding_text(r.title, r.text) for r in chunk]), dtype=np.float32
            )
            if vectors.shape != (len(chunk), self._embedder.dim) or not np.all(np.isfinite(vectors)):
                raise EmbeddingError(
                    f"embedder {self._embedder.name!r} returned an array of shape {vectors.shape} "
                    f"for {len(chunk)} texts (expected {self._embedder.dim} finite numbers each)"
                )
            for row, vector in zip(chunk, vectors, strict=True):
                row.embedding = vector
        if todo:
            self._dim = self._embedder.dim

    def _embedder_for_queries(self) -> Embedder | None:
        return self._embedder

    def _lex_for(self, snapshot: Snapshot) -> LexIndex | None:
        # The writer's head is searched through its live index, kept current incrementally;
        # other commits through the shared cache.
        if self._indexer is not None and snapshot is self._snapshot:
            return self._indexer.live_index(snapshot)
        return lex_index(snapshot, self._header.uuid_str)

    def rollback(self) -> int:
        """Discard every pending change; returns how many were discarded."""
        self._writer_or_raise()
        count = self.pending
        self._pending.clear()
        self._pending_dead.clear()
        self._dim = self._snapshot.manifest.embedding_dim
        return count

    # -- closing ----------------------------------------------------------------------

    def close(self, *, commit: bool = True) -> None:
        """Commit pending changes (unless ``commit=False``), then release the file and lock.
        The handle is closed even if the final commit fails; that error propagates."""
        if self._closed:
            return
        try:
            if commit and self._writer is not None and self.pending:
                self.commit()
        finally:
            self._closed = True
            self._pending.clear()
            self._pending_dead.clear()
            try:
                self._reader.close()  # search hits still alive read what they need while they can
            finally:
                # The indexes the handle and its views opened (tantivy maps the cache's files) go now,
                # not whenever the handle object is collected.
                for snapshot in (self._snapshot, *self._views):
                    snapshot.extras.clear()
                if self._indexer is not None:
                    self._indexer.close()
                self._storage.close()

    def __enter__(self) -> Memvid:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(commit=exc_type is None)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            dropped = self.pending
            warnings.warn(
                f"unclosed capsule {self._path}" + (f"; {dropped} pending changes were discarded" if dropped else ""),
                ResourceWarning,
                stacklevel=1,
            )
            self._closed = True
            with contextlib.suppress(Exception):
                self._reader.close()
            if self._indexer is not None:
                self._indexer.close()
            self._storage.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self._read_only else "writable")
        return f"<Memvid {self._path} {state} commit={self._snapshot.manifest.seq}>"

    # -- helpers ----------------------------------------------------------------------

    def _resolve_live(self, target: int | str) -> int:
        if isinstance(target, str):
            pending = [fid for fid, row in self._pending.items() if row.uri == target]
            if pending:
                return max(pending)
            ids = [fid for fid in self._snapshot.live_ids_for_uri(target) if fid not in self._pending_dead]
            if not ids:
                raise FrameNotFoundError(f"no live frame with uri {target!r}")
            return ids[-1]
        if isinstance(target, bool) or not isinstance(target, int):
            raise InvalidInputError(f"a frame is named by its int id or its uri, not {type(target).__name__}")
        if target in self._pending:
            return target
        if target in self._pending_dead:
            raise FrameNotFoundError(f"frame {target} is already removed by a pending change")
        self.get(target)  # raises if absent, deleted or superseded
        return target

    def _add(self, rows: list[Row]) -> list[int]:
        dims = {len(r.embedding) for r in rows if r.embedding is not None}
        dim = self._dim
        for d in dims:
            if dim is None:
                dim = d
            if d != dim:
                raise InvalidInputError(f"embedding has dimension {d}; this capsule's embeddings have dimension {dim}")
        self._dim = dim
        ids = []
        for row in rows:
            if row.frame_id < 0:
                row.frame_id = self._next_id
                self._next_id += 1
            self._pending[row.frame_id] = row
            ids.append(row.frame_id)
        return ids

    def _row(self, text: object, payload: bytes | None, options: PutOptions) -> Row:
        if not isinstance(options, PutOptions):
            raise InvalidInputError(f"options must be PutOptions, not {type(options).__name__}")
        checked = check_text(text, "text", optional=False) or ""
        encoded = checked.encode("utf-8")
        size = len(encoded) + (len(payload) if payload is not None else 0)
        if size > MAX_FRAME_BYTES:
            raise LimitExceededError(f"frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit")
        embedding = check_embedding(options.embedding)
        if embedding is not None and len(embedding) > MAX_EMBEDDING_DIM:
            raise LimitExceededError(f"embedding dimension {len(embedding)} is over {MAX_EMBEDDING_DIM}")
        return Row(
            frame_id=-1,
            created_at_us=now_us(),
            timestamp_us=None if options.timestamp is None else to_us(options.timestamp),
            uri=check_text(options.uri, "uri", optional=True),
            title=check_text(options.title, "title", optional=True),
            kind=check_text(options.kind, "kind", optional=True),
            tags=check_tags(options.tags),
            metadata=encode_metadata(options.metadata),
            text=checked,
            payload=payload,
            checksum=content_digest(encoded, payload),
            supersedes=None,
            embedding=embedding,
        )

    def _row_from_bytes(self, data: object, options: PutOptions) -> Row:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInputError(f"data must be bytes, not {type(data).__name__}")
        payload = bytes(data)
        text = options.text
        if text is None:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                text = ""
        return self._row(text, payload, options)

    def _item_row(self, item: object, index: int) -> Row:
        try:
            if isinstance(item, str):
                return self._row(item, None, PutOptions())
            if isinstance(item, (bytes, bytearray, memoryview)):
                return self._row_from_bytes(item, PutOptions())
            if isinstance(item, PutOptions):
                return self._row(item.text if item.text is not None else "", None, item)
            if isinstance(item, tuple) and len(item) == 2:
                content, options = item
                if isinstance(content, str):
                    return self._row(content, None, options)
                return self._row_from_bytes(content, options)
            if isinstance(item, Mapping):
                fields = dict(item)
                text = fields.pop("text", None)
                data = fields.pop("data", None)
                try:
                    options = PutOptions(**fields)
                except TypeError as exc:
                    raise InvalidInputError(f"unknown field: {exc}") from None
                if data is not None:
                    if text is not None:
                        options = PutOptions(**{**fields, "text": text})
                    return self._row_from_bytes(data, options)
                return self._row(text if text is not None else "", None, options)
        except InvalidInputError as exc:
            raise InvalidInputError(f"put_many item {index}: {exc}") from None
        raise InvalidInputError(f"put_many item {index}: unsupported type {type(item).__name__}")


_EMBED_BATCH: Final = 256


def _check_embedder(embedder: Embedder, manifest: Manifest) -> EmbedderIdentity:
    if not looks_like_embedder(embedder):
        raise InvalidInputError(
            f"embedder must have name, dim, normalized, embed_documents and embed_query; got {type(embedder).__name__}"
        )
    identity = identity_of(embedder)
    if manifest.embedder is not None:
        recorded = EmbedderIdentity.from_json(manifest.embedder)
        if recorded != identity:
            raise EmbedderMismatchError(
                f"this capsule's vectors were written by {recorded.describe()}; "
                f"the embedder given is {identity.describe()}"
            )
    elif manifest.embedding_dim is not None and manifest.embedding_dim != identity.dim:
        raise EmbedderMismatchError(
            f"this capsule holds {manifest.embedding_dim}-d vectors; the embedder given, "
            f"{identity.describe()}, makes {identity.dim}-d ones"
        )
    return identity


def _options_of_row(row: Row) -> PutOptions:
    return PutOptions(
        title=row.title,
        uri=row.uri,
        tags=dict(row.tags),
        kind=row.kind,
        timestamp=None if row.timestamp_us is None else from_us(row.timestamp_us),
        metadata=json.loads(row.metadata) if row.metadata else {},
        embedding=row.embedding,
    )


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: _Reading, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return call


# One lock per handle, shared by its views, around every public call, so a handle may be
# used from several threads (adapters run it in executors). Iterators that frames()
# returns read lazily and belong to one thread.
for _cls, _names in (
    (_Reading, ("get", "get_by_uri", "frames", "__len__", "stats", "timeline", "at", "search", "verify")),
    (
        Memvid,
        (
            "put",
            "put_bytes",
            "put_many",
            "update",
            "delete",
            "commit",
            "rollback",
            "reindex",
            "refresh",
            "close",
        ),
    ),
):
    for _name in _names:
        setattr(_cls, _name, _serialised(getattr(_cls, _name)))
