"""The ingestion pipeline: sources in, documents and chunks out, committed in batches.

::

    discover --> workers (:mod:`.workers`): read, extract,  --> writer (the calling process):
                 clean, chunk, hash (:mod:`.prepare`),          put_many per document,
                 embed (an embedder's worker_factory,           commit every batch (which
                 with workers > 1)                              embeds what has no vector)
                 at most 128 x workers sources in flight

Reading is CPU-bound Python, so it is spread over processes: the calling
process and ``workers - 1`` helpers (see :mod:`.workers`). The writer takes
results in the order the sources were found, so frame ids do not depend on
timing, and no source is taken from discovery while 128 x workers (or 16 MiB
x workers of them) are in flight: memory holds at most those plus one
uncommitted batch, however large the corpus. ``workers=1`` runs everything in the calling process.

What a capsule holds per document, and how a re-run knows what is in, is
described in ``docs/how-to/ingest.md``.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote_from_bytes

from memvid.errors import FrameNotFoundError, InvalidInputError, LimitExceededError
from memvid.ingest.prepare import Document, Options, Prepared
from memvid.ingest.sources import STDIN, Extracted, JsonMapping, Source, discover
from memvid.ingest.workers import prepared_in_order

if TYPE_CHECKING:
    from memvid.api import Memvid

__all__ = ["DedupMode", "IngestFailure", "IngestReport", "run_ingest"]

DedupMode = Literal["skip", "link", "off"]
DOCUMENT: Final = "document"
CHUNK: Final = "chunk"
NO_RECORD: Final = -1  # a document that is a whole file, not one record of a JSON file
_COMMIT_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class IngestFailure:
    """A source (or one record of a JSON file) that was not ingested, and why."""

    source: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What :meth:`Memvid.ingest` did.

    ``files`` counts the sources found; each ended up ingested, ``skipped``
    (already in the capsule, unchanged), or ``failed``. ``documents`` and
    ``frames`` count what was added (a JSON file gives a document per record);
    ``duplicates`` counts documents whose text was already in the capsule under
    another source, and ``replaced`` documents re-ingested because their file
    changed. ``bytes`` is the size of the sources read.
    """

    files: int
    documents: int
    frames: int
    skipped: int
    duplicates: int
    replaced: int
    failed: tuple[IngestFailure, ...]
    commits: int
    bytes: int
    seconds: float
    cleanup: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "documents": self.documents,
            "frames": self.frames,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "replaced": self.replaced,
            "failed": [f.to_dict() for f in self.failed],
            "commits": self.commits,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "cleanup": dict(self.cleanup),
        }


# -- the writer ---------------------------------------------------------------------------------


def _source_path(source: Source) -> str:
    return STDIN if source.path is None else source.real


def _doc_uri(source: Source, doc: Document) -> str:
    if source.path is None:
        return f"stdin:{doc.content_hash}"
    record = doc.extracted.record
    return path_uri(source.real, NO_RECORD if record is None else record)


def path_uri(path: str, record: int) -> str:
    """The uri of the document read from the file at ``path``, an absolute, normalised path (a
    real path), or of its record ``record`` if >= 0. ``Path(path).as_uri()`` without building a
    ``Path`` (it was a third of a re-run's scan of the capsule)."""
    base = "file://" + quote_from_bytes(os.fsencode(path))
    return base if record < 0 else f"{base}#record={record}"


def _chunk_prefix(doc_uri: str) -> str:
    return doc_uri + ("&" if "#" in doc_uri else "#")


def _chunk_uri(doc_uri: str, n: int) -> str:
    return f"{_chunk_prefix(doc_uri)}chunk={n}"


def _timestamp(source: Source, doc: Extracted) -> Any:
    if doc.timestamp is not None:
        return doc.timestamp
    if source.mtime_ns is None:
        return None
    return dt.datetime.fromtimestamp(source.mtime_ns / 1e9, tz=dt.UTC)


class _Writer:
    def __init__(
        self,
        mem: Memvid,
        *,
        dedup: DedupMode,
        commit_every: int,
        tags: Mapping[str, str] | None,
    ) -> None:
        self.mem = mem
        self.dedup = dedup
        self.commit_every = commit_every
        self.tags = dict(tags or {})
        from memvid.ingest.ledger import Ledger  # numpy: the writer's, not the helpers'

        self.ledger = Ledger.load(mem)
        self.files = self.documents = self.frames = self.skipped = 0
        self.duplicates = self.replaced = self.commits = self.bytes = 0
        self.failed: list[IngestFailure] = []
        self.cleanup: collections.Counter[str] = collections.Counter()
        self.batch_docs = self.batch_bytes = 0
        self.batch_start = mem._state().next_frame_id  # frames from this id on are not committed yet

    def already_in(self, source: Source) -> bool:
        """True for a file the capsule holds at this size and mtime (it is not read again)."""
        if source.path is None:
            return False
        i = self.ledger.file(source.real)
        return i is not None and self.ledger.unchanged(i, source.size, source.mtime_ns)

    def fail(self, name: str, reason: str) -> None:
        self.failed.append(IngestFailure(name, reason))

    def write(self, source: Source, prepared: Prepared) -> None:
        if prepared.error is not None:
            self.fail(source.name, prepared.error)
            return
        for name, reason in prepared.failures:
            self.fail(name, reason)
        old = self.ledger.file(source.real) if source.path is not None else None
        if old is not None:
            if self.ledger.same_bytes(old, prepared.sha256):
                self.skipped += 1  # touched, not changed
                return
            documents = self.ledger.replace(old, source.real)
            self._remove(documents)
            self.replaced += len(documents)
        self.bytes += source.size
        for doc in prepared.documents:
            self._write_document(source, prepared, doc)
        if self.batch_docs >= self.commit_every or self.batch_bytes >= _COMMIT_BYTES:
            self.commit()

    def _remove(self, documents: Iterable[tuple[str, int]]) -> None:
        for uri, chunks in documents:
            # By uri, each a lookup in the engine's uri map: no scan of the capsule per changed file.
            for n in range(chunks):
                with contextlib.suppress(FrameNotFoundError):
                    self.mem.delete(_chunk_uri(uri, n))
            with contextlib.suppress(FrameNotFoundError):
                self.mem.delete(uri)

    def _write_document(self, source: Source, prepared: Prepared, doc: Document) -> None:
        ex = doc.extracted
        existing = self.ledger.holder(doc.content_hash) if self.dedup != "off" else None
        record: dict[str, Any] = {
            "path": _source_path(source),
            "format": source.format,
            "size": source.size,
            "mtime_ns": source.mtime_ns,
            "sha256": prepared.sha256,
        }
        if ex.record is not None:
            record["record"] = ex.record
        if ex.record_id is not None:
            record["record_id"] = ex.record_id
        if existing is not None:
            self.duplicates += 1
            if self.dedup == "link":
                if existing >= self.batch_start:
                    self.commit()  # the frame to link to is in this batch: its metadata is read back below
                frame = self.mem.get(existing)
                also = list(frame.metadata.get("also") or ())
                if record not in also:
                    updated = self.mem.update(existing, metadata={**frame.metadata, "also": [*also, record]})
                    self.ledger.hold(doc.content_hash, updated)
            return
        uri = _doc_uri(source, doc)
        timestamp = _timestamp(source, ex)
        parent_meta: dict[str, Any] = {
            "source": {**record, **({"pages": len(ex.pages)} if ex.pages else {})},
            "content_hash": doc.content_hash,
            "chunks": len(doc.pieces),
        }
        if ex.cleanup is not None:
            parent_meta["cleanup"] = ex.cleanup
            self.cleanup.update(ex.cleanup)
        if ex.fields:
            parent_meta["fields"] = ex.fields
        items: list[dict[str, Any]] = [
            {
                "data": ex.text.encode("utf-8"),
                "text": "",
                "title": ex.title,
                "uri": uri,
                "kind": DOCUMENT,
                "tags": self.tags,
                "timestamp": timestamp,
                "metadata": parent_meta,
            }
        ]
        for n, piece in enumerate(doc.pieces):
            where: dict[str, Any] = {
                "path": record["path"],
                "char_start": piece.start,
                "char_end": piece.end,
                "byte_start": piece.byte_start,
                "byte_end": piece.byte_end,
            }
            if piece.pages:
                where["pages"] = list(piece.pages)
            if ex.record is not None:
                where["record"] = ex.record
            meta: dict[str, Any] = {"parent": uri, "chunk": n, "source": where}
            if piece.section:
                meta["section"] = list(piece.section)
            if ex.fields:
                meta["fields"] = ex.fields
            items.append(
                {
                    "text": ex.text[piece.start : piece.end],
                    "title": ex.title,
                    "uri": _chunk_uri(uri, n),
                    "kind": CHUNK,
                    "tags": self.tags,
                    "timestamp": timestamp,
                    "metadata": meta,
                }
            )
        if doc.vectors is not None and len(doc.vectors) == len(items):
            for item, vector in zip(items, doc.vectors, strict=True):
                item["embedding"] = vector  # embedded by the worker that read it
        try:
            ids = self.mem.put_many(items)
        except (InvalidInputError, LimitExceededError) as exc:
            name = source.name if ex.record is None else f"{source.name}[{ex.record}]"
            self.fail(name, str(exc))
            return
        self.ledger.hold(doc.content_hash, ids[0])
        self.documents += 1
        self.frames += len(items)
        self.batch_docs += 1
        self.batch_bytes += 2 * len(ex.text)

    def commit(self) -> None:
        if self.mem.pending:
            self.mem.commit(f"ingest {self.batch_docs} documents")
            self.commits += 1
        self.batch_docs = self.batch_bytes = 0
        self.batch_start = self.mem._state().next_frame_id

    def report(self, seconds: float) -> IngestReport:
        return IngestReport(
            files=self.files,
            documents=self.documents,
            frames=self.frames,
            skipped=self.skipped,
            duplicates=self.duplicates,
            replaced=self.replaced,
            failed=tuple(self.failed),
            commits=self.commits,
            bytes=self.bytes,
            seconds=seconds,
            cleanup=dict(self.cleanup),
        )


# -- running it ---------------------------------------------------------------------------------


def _worker_embedder(mem: Memvid, workers: int) -> Callable[[], Any] | None:
    """The capsule's embedder's ``worker_factory`` when workers read in several processes
    (each then embeds what it reads, on one core), checked to make the same embedder."""
    embedder = mem._embedder
    factory = getattr(embedder, "worker_factory", None)
    if workers < 2 or embedder is None or factory is None:
        return None
    if not callable(factory):
        raise InvalidInputError(f"the embedder's worker_factory is not callable: {factory!r:.80}")
    copy = factory()
    if (copy.name, copy.dim) != (embedder.name, embedder.dim):
        raise InvalidInputError(
            f"the embedder's worker_factory makes {copy.name!r} ({copy.dim} dimensions), "
            f"not {embedder.name!r} ({embedder.dim})"
        )
    return factory  # type: ignore[no-any-return]


def run_ingest(
    mem: Memvid,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    workers: int | None = None,
    chunk_chars: int = 1200,
    overlap: int = 150,
    clean: bool | None = None,
    dedup: DedupMode = "skip",
    commit_every: int = 256,
    progress: bool = False,
    include: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
    json_mapping: JsonMapping | None = None,
    stdin: bytes | None = None,
    stdin_format: str = "text",
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """See :meth:`memvid.Memvid.ingest`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if dedup not in ("skip", "link", "off"):
        raise InvalidInputError(f"dedup must be 'skip', 'link' or 'off', not {dedup!r}")
    if workers is None:
        workers = max(1, os.cpu_count() or 1)
    if workers < 1:
        raise InvalidInputError(f"workers must be at least 1, not {workers}")
    if commit_every < 1:
        raise InvalidInputError(f"commit_every must be at least 1, not {commit_every}")
    if chunk_chars < 1 or not 0 <= overlap < chunk_chars:
        raise InvalidInputError(
            f"chunk_chars must be at least 1 and overlap in [0, chunk_chars); got {chunk_chars} and {overlap}"
        )
    if mem.pending:
        raise InvalidInputError("commit or roll back pending changes before ingest()")
    options = Options(chunk_chars, overlap, clean, json_mapping or JsonMapping(), _worker_embedder(mem, workers))
    include = tuple(include)
    started = time.perf_counter()
    writer = _Writer(mem, dedup=dedup, commit_every=commit_every, tags=tags)

    def found() -> Iterator[Source | tuple[str, str]]:
        return discover(paths, include=include, stdin=stdin, stdin_format=stdin_format)

    total = sum(1 for _ in found()) if progress or on_progress is not None else 0
    bar = _Bar(total) if progress else None
    done = 0

    def advance(source_bytes: int) -> None:
        nonlocal done
        done += 1
        if bar is not None:
            bar.advance(source_bytes, writer)
        if on_progress is not None:
            on_progress(done, total)

    try:
        results = prepared_in_order(found(), writer.already_in, options, workers)
        with contextlib.closing(results):  # the helpers stop as soon as the writer does, even on an error
            for item, prepared in results:
                writer.files += 1
                if isinstance(item, tuple):
                    writer.fail(*item)
                    advance(0)
                    continue
                if prepared is None:
                    writer.skipped += 1
                else:
                    writer.write(item, prepared)
                advance(item.size if prepared is not None else 0)
        writer.commit()
    except BaseException:
        mem.rollback()  # the uncommitted batch: complete documents only ever land together
        raise
    finally:
        if bar is not None:
            bar.close()
    return writer.report(time.perf_counter() - started)


class _Bar:
    """A rich progress bar on stderr: files done of found, MB read, documents and frames added."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[mb]:.1f} MB  {task.fields[docs]} docs  {task.fields[frames]} frames"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task("ingest", total=total, mb=0.0, docs=0, frames=0)
        self.bytes = 0
        self.progress.start()

    def advance(self, size: int, writer: _Writer) -> None:
        self.bytes += size
        self.progress.update(self.task, advance=1, mb=self.bytes / 1e6, docs=writer.documents, frames=writer.frames)

    def close(self) -> None:
        self.progress.stop()
