"""Lexical search: one tantivy BM25 index per capsule, its files stored as blocks.

The index covers every live frame of a commit: its title and text, as one
BM25 field with English stemming (and the title alone for ``title:``
queries), plus ``tags`` (``key=value`` terms), ``kind`` and ``uri`` as exact
terms and ``time`` (the frame's effective time, microseconds) for filters and
field queries. One logical index per capsule keeps BM25 statistics global.

A commit indexes only its own changes: new frames are added and removed frames
deleted in the writer's private working copy, tantivy commits, and the files
that commit produced (tantivy never rewrites a file) are appended to the
capsule as blocks. The manifest lists the files of that commit's index, so an
as-of view sees the index as it was. Readers open a verified copy of those
files from the disposable cache (:mod:`memvid.storage.cache`).

Plain words leave out the common ones. A query that tantivy's parser reads as
words alone (no phrase, field, operator or filter of the user's) is searched
without the words found in more than half of the indexed documents, when at
least one of its words is rarer: BM25's original weight (Robertson and Spärck
Jones) is below zero for such a word, tantivy's keeps it below ``ln 2`` so
that it never lowers a score, and scoring the hundreds of thousands of
documents that hold "the" or "of" is most of what a search of a large index
costs (tantivy-py collects through a ``MultiCollector``, so tantivy's
block-max WAND never skips them: 9.3 ms -> 3.5 ms at a million SciFact-like
documents; nDCG@10 on the three evaluation sets moved by 0.003 or less). When
the rarer words match fewer documents than were asked for, the whole query runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import tantivy

from memvid.errors import CorruptCapsuleError, InvalidInputError, MemvidError
from memvid.format.block import BlockRef
from memvid.index.lex_vet import mark_vetted, vet, vet_key
from memvid.storage import cache
from memvid.storage.cache import materialize, scratch_dir

__all__ = ["LexIndex", "LexState", "LexWorkspace", "analyzer", "schema"]

SCHEMA_VERSION: Final = 2
"""2: ``text`` holds the title and the text, and is the one field plain words search (one
BM25 field scores better than two: SciFact nDCG@10 0.687 against 0.666). 1: ``text`` held
the text alone and plain words searched ``title`` and ``text``. A version-1 checkpoint is
not used for search; the frames are indexed again (see :mod:`memvid.index`)."""
READABLE_VERSIONS: Final = (1, 2)
TOKENIZER: Final = "en_stem"
DEFAULT_FIELDS: Final = ["text"]
_HEAP_MIN: Final = 15_000_000  # tantivy's minimum arena per indexing thread
_HEAP_MAX: Final = 256_000_000
_HEAP_PER_TEXT_BYTE: Final = 12
FILE_PART_BYTES: Final = 16 << 20
"""A tantivy file larger than this is stored as several blocks of this size (the last one
smaller): a merged segment's postings of a million documents can pass the 256 MiB block limit,
and a checkpoint holds one part at a time in memory. Capsules written before 2026-12-04 cut
parts at 64 MiB; readers take parts of any size."""
MAX_FILE_PARTS: Final = 1 << 16
_ALLOWED_AS_QUERY: Final = 4096  # an allowed-id set up to this size becomes a query clause
_AND_NOT: Final = re.compile(r"\s+AND\s+NOT\s+")
COMMON_SHARE: Final = 0.5
"""A word of a plain query found in more than this share of the indexed documents is left out
of it when a rarer word is in it (see the module's docstring)."""
_DF_CACHE: Final = 1 << 16  # words whose document frequency a searcher remembers
# What tantivy's parser makes of plain words (its Debug form, which tantivy-py's repr shows):
# ``Query(BooleanQuery { subqueries: [(Should, TermQuery(Term(field=2, type=Str, "word"))), ...],
# minimum_number_should_match: 1 })``. A query is narrowed only when its repr is exactly that.
_OR_HEAD: Final = "Query(BooleanQuery { subqueries: ["
_OR_TAIL: Final = "], minimum_number_should_match: 1 })"
_OR_TERM: Final = re.compile(r'\(Should, TermQuery\(Term\(field=(\d+), type=Str, "([^"\\]*)"\)\)\)')


def schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("frame_id", stored=False, indexed=True, fast=True)
    sb.add_text_field("title", stored=False, tokenizer_name=TOKENIZER)
    sb.add_text_field("text", stored=False, tokenizer_name=TOKENIZER)
    sb.add_text_field("tags", stored=False, tokenizer_name="raw")
    sb.add_text_field("kind", stored=False, tokenizer_name="raw")
    sb.add_text_field("uri", stored=False, tokenizer_name="raw")
    sb.add_integer_field("time", stored=False, indexed=True, fast=True)
    sb.add_integer_field("created", stored=False, indexed=True, fast=True)
    return sb.build()


def analyzer() -> tantivy.TextAnalyzer:
    """The same token pipeline as tantivy's ``en_stem`` (for snippets and highlights)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


@dataclass(frozen=True, slots=True)
class LexDoc:
    frame_id: int
    title: str | None
    text: str
    tags: Mapping[str, str]
    kind: str | None
    uri: str | None
    time_us: int
    created_us: int


@dataclass(frozen=True, slots=True)
class LexState:
    """The lexical checkpoint a commit's manifest records: the files of a tantivy index
    holding every frame with an id below ``through`` (removed ones may linger: readers
    drop them), and how many documents it has."""

    files: Mapping[str, tuple[BlockRef, ...]]
    """Each file's blocks: one, or (a file over :data:`FILE_PART_BYTES`) its parts in order."""
    docs: int
    through: int
    version: int = SCHEMA_VERSION
    _key: str = field(default="", init=False, repr=False, compare=False)

    @property
    def current(self) -> bool:
        """Whether this checkpoint has this library's schema (else it is indexed again)."""
        return self.version == SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "tokenizer": TOKENIZER,
            "files": {
                name: refs[0].to_json() if len(refs) == 1 else [r.to_json() for r in refs]
                for name, refs in sorted(self.files.items())
            },
            "docs": self.docs,
            "through": self.through,
        }

    @classmethod
    def from_json(cls, value: Any, limit: int) -> LexState:
        if (
            not isinstance(value, dict)
            or value.get("v") not in READABLE_VERSIONS
            or not isinstance(value.get("files"), dict)
            or not isinstance(value.get("docs"), int)
            or not isinstance(value.get("through"), int)
            or "meta.json" not in value["files"]
        ):
            raise CorruptCapsuleError("malformed lexical index entry in the manifest")
        files = {}
        for name, raw in value["files"].items():
            if not isinstance(name, str) or not re.fullmatch(r"[0-9A-Za-z._-]{1,80}", name) or name.startswith("."):
                raise CorruptCapsuleError(f"invalid lexical index file name {name!r:.40}")
            if isinstance(raw, list) and raw and isinstance(raw[0], list):  # parts: a list of block refs
                if not 2 <= len(raw) <= MAX_FILE_PARTS:
                    raise CorruptCapsuleError(f"lexical index file {name!r:.40} has {len(raw)} parts")
                refs = tuple(BlockRef.from_json(r) for r in raw)
            else:
                refs = (BlockRef.from_json(raw),)
            if any(ref.offset + ref.length > limit for ref in refs):
                raise CorruptCapsuleError("lexical index file lies after its manifest")
            files[name] = refs
        return cls(files=files, docs=value["docs"], through=value["through"], version=value["v"])

    @property
    def key(self) -> str:
        """Identifies this index's exact files: a digest of every file's name and block
        digest (meta.json alone would let a forged capsule that kept it but changed a
        segment file reuse another capsule's cached view under the same uuid). Computed once:
        the writer's own searches ask for it every time."""
        if not self._key:
            object.__setattr__(self, "_key", vet_key(self.digests()))
        return self._key

    def digests(self) -> dict[str, str]:
        return {name: "+".join(ref.digest.hex() for ref in refs) for name, refs in self.files.items()}


def _vetter(capsule_uuid: str, state: LexState) -> Callable[[Path], None]:
    """Checks a directory holding ``state``'s files in another process before this one
    opens them (:mod:`memvid.index.lex_vet`)."""
    return lambda directory: vet(directory, capsule_uuid, state.key)


def _document(doc: LexDoc) -> tantivy.Document:
    d = tantivy.Document()
    d.add_unsigned("frame_id", doc.frame_id)
    if doc.title:
        d.add_text("title", doc.title)
    d.add_text("text", f"{doc.title}\n{doc.text}" if doc.title else doc.text)
    for key, value in doc.tags.items():
        d.add_text("tags", f"{key}={value}")
    if doc.kind is not None:
        d.add_text("kind", doc.kind)
    if doc.uri is not None:
        d.add_text("uri", doc.uri)
    d.add_integer("time", doc.time_us)
    d.add_integer("created", doc.created_us)
    return d


def _manual(index: tantivy.Index) -> tantivy.Index:
    """``index`` with a reader that reloads only when told: tantivy's default watches
    ``meta.json`` from a thread of its own and reloads when it changes, which would map the
    files of whatever a cache directory then holds (a cache file truncated under a mapping
    is a SIGBUS), and memvid's indexes never change under a reader anyway."""
    index.config_reader(reload_policy="Manual")
    return index


def _live_files(directory: Path) -> list[str]:
    """The files the current meta.json of a tantivy directory refers to."""
    meta = json.loads((directory / "meta.json").read_text())
    names = ["meta.json"]
    present = {p.name for p in directory.iterdir()}
    for segment in meta.get("segments", []):
        sid = segment["segment_id"].replace("-", "")
        names += sorted(n for n in present if n.startswith(sid + ".") and not n.endswith(".del"))
        deletes = segment.get("deletes")
        if deletes:
            names.append(f"{sid}.{deletes['opstamp']}.del")
    return names


def _open_writer(index: tantivy.Index, docs: int, text: int) -> tantivy.IndexWriter:
    """A writer sized for ``docs`` documents of ``text`` characters in all."""
    # Large batches index on every core (tantivy splits documents across its threads).
    threads = min(4, os.cpu_count() or 1) if docs >= 2_000 else 1
    # Each thread flushes a segment whenever its arena fills: an arena too small for the
    # batch makes many small segments, which is slower to write (2.3x on SciFact), bigger
    # (a term dictionary per segment) and slower to search. Arenas grow as used.
    per_thread = min(max(_HEAP_MIN, _HEAP_PER_TEXT_BYTE * text // threads), _HEAP_MAX)
    return index.writer(heap_size=per_thread * threads, num_threads=threads)


def _text_size(docs: Sequence[LexDoc]) -> int:
    return sum(len(d.text) + len(d.title or "") for d in docs)


def _pieces(path: Path) -> Iterator[bytes]:
    """The file at ``path`` in pieces of :data:`FILE_PART_BYTES` (one, empty, for an empty file)."""
    with path.open("rb") as f:
        piece = f.read(FILE_PART_BYTES)
        yield piece
        while len(piece) == FILE_PART_BYTES:
            piece = f.read(FILE_PART_BYTES)
            if piece:
                yield piece


def _write(index: tantivy.Index, added: Sequence[LexDoc], removed: Sequence[int]) -> None:
    """One tantivy commit; merges finish before it returns, so the files are stable."""
    _finish(_open_writer(index, len(added), _text_size(added)), index, added, removed)


def _finish(writer: tantivy.IndexWriter, index: tantivy.Index, added: Sequence[LexDoc], removed: Sequence[int]) -> None:
    """Add ``added``, delete ``removed``, commit, and wait for the merges (``writer`` is spent)."""
    for doc in added:
        writer.add_document(_document(doc))
    if removed:
        # One query for every id (delete_documents_by_term matches nothing on a u64 field in tantivy-py 0.27).
        writer.delete_documents_by_query(tantivy.Query.term_set_query(index.schema, "frame_id", list(removed)))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()


class LexWorkspace:
    """A writer's private, writable tantivy index: a checkpoint from the capsule plus the
    frames after it. It answers the writer's own searches and makes new checkpoints.

    Between checkpoints, each commit's frames are handed to a tantivy writer kept open
    (:meth:`add`) when the directory holds every frame before them: tantivy's indexing
    thread works through them while the caller goes on (reading the next files of an
    ingest, say), and the next checkpoint only finishes the segment instead of indexing,
    after reading them back from the capsule, every frame since the last one. They become
    searchable at the next :meth:`catch_up` (a tantivy commit, no merge wait). What was
    added for a commit that did not become durable is dropped by :meth:`close`, which the
    index maintainer calls when a commit it saw is not confirmed."""

    def __init__(self, capsule_uuid: str) -> None:
        self._uuid = capsule_uuid
        self._dir: Path | None = None
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None  # open between checkpoints, with frames added
        self._uncommitted = False  # the writer holds documents tantivy has not committed
        self._base: str | None = None  # key of the checkpoint the directory started from
        self._base_files: set[str] = set()
        self.through = 0  # every live frame below this id is indexed (or added to the writer)

    def catch_up(
        self,
        state: LexState | None,
        read: Callable[[str], bytes],
        docs_from: Callable[[int], Iterable[LexDoc]],
        through: int,
    ) -> tantivy.Index:
        """Index every frame up to ``through``: start again from the checkpoint ``state``
        unless the directory already grew from it, then add ``docs_from(self.through)``."""
        index = self._start(state, read, through)
        if through > self.through:
            docs = list(docs_from(self.through))
            if self._writer is None:
                self._writer = _open_writer(index, len(docs), _text_size(docs))
            self._hand(docs, through)
        if self._uncommitted:
            assert self._writer is not None
            self._writer.commit()  # published; merges may go on in the background until the checkpoint waits
            self._uncommitted = False
            index.reload()
        return index

    def add(self, base: str | None, start: int, docs: Sequence[LexDoc], through: int, expect_docs: int) -> bool:
        """Hand a commit's frames (every id from ``start`` to ``through``) to the open writer,
        if the directory grew from the checkpoint ``base`` and holds every frame below
        ``start``; otherwise do nothing (the next checkpoint indexes them) and return False.
        A writer opened here is sized for ``expect_docs`` documents like these (the frames
        expected before the next checkpoint)."""
        if self._index is None or self._base != base or self.through != start:
            return False
        if self._writer is None and docs:
            # One thread: it indexes in the background, beside the caller.
            expect_text = _text_size(docs) // len(docs) * expect_docs
            per_thread = min(max(_HEAP_MIN, _HEAP_PER_TEXT_BYTE * expect_text), _HEAP_MAX)
            self._writer = self._index.writer(heap_size=per_thread, num_threads=1)
        self._hand(docs, through)
        return True

    def _hand(self, docs: Sequence[LexDoc], through: int) -> None:
        """Add ``docs`` to the open writer (uncommitted); every frame below ``through`` is then in."""
        if docs:
            assert self._writer is not None
            for doc in docs:
                self._writer.add_document(_document(doc))
            self._uncommitted = True
        self.through = through

    def _start(self, state: LexState | None, read: Callable[[str], bytes], through: int) -> tantivy.Index:
        """The working index, started again from the checkpoint ``state`` unless the directory
        already grew from it (and holds nothing past ``through``)."""
        key = None if state is None else state.key
        if self._index is None or self._base != key or through < self.through:
            self.close()
            self._dir = scratch_dir("lex")
            if state is None:
                self._index = _manual(tantivy.Index(schema(), path=str(self._dir)))
                self.through = 0
                self._base_files = set()
            else:
                materialize(
                    self._uuid, state.key, state.digests(), read, dest=self._dir, vet=_vetter(self._uuid, state)
                )
                self._index = _manual(tantivy.Index.open(str(self._dir)))
                self.through = state.through
                self._base_files = set(state.files)
            self._base = key
        return self._index

    def checkpoint(
        self,
        base: tuple[LexState | None, Callable[[str], bytes], Callable[[int], Iterable[LexDoc]], int],
        added: Sequence[LexDoc],
        removed: Sequence[int],
        through: int,
    ) -> tuple[list[str], Callable[[str], Iterator[bytes] | None]]:
        """Add the commit's own frames, delete ``removed``, and return every file of the
        index, with a function that reads one the base checkpoint does not already hold in
        pieces of :data:`FILE_PART_BYTES` (``None`` for a file the base holds): a checkpoint
        holds one piece in memory at a time, however large the index.

        ``base`` is what :meth:`catch_up` takes, for the commit's parent: the frames the
        directory lacks before the commit's own are indexed in the same tantivy commit (one
        commit, not two: a segment fewer, and the thread count set by the whole batch)."""
        state, read, docs_from, start = base
        index = self._start(state, read, start)
        behind = list(docs_from(self.through)) if start > self.through else []
        docs = [*behind, *added]
        writer = self._writer if self._writer is not None else _open_writer(index, len(docs), _text_size(docs))
        self._writer = None
        self._uncommitted = False
        _finish(writer, index, docs, removed)
        self.through = through
        self._leave_memory_if_large()
        directory = self._dir
        assert directory is not None
        names = _live_files(directory)
        base_files = self._base_files

        def pieces(name: str) -> Iterator[bytes] | None:
            if name in base_files and name != "meta.json":
                return None
            return _pieces(directory / name)

        return names, pieces

    def _leave_memory_if_large(self) -> None:
        """Move the working index from ``/dev/shm`` to disk once it passes
        :data:`memvid.storage.cache.SHM_BUDGET_BYTES` (its files are stable: no writer is open)."""
        directory = self._dir
        if directory is None or not cache.in_memory(directory):
            return
        files = [f for f in directory.iterdir() if f.is_file() and not f.name.startswith(".tantivy-")]
        if sum(f.stat().st_size for f in files) <= cache.SHM_BUDGET_BYTES:
            return
        moved = scratch_dir("lex", on_disk=True)
        try:
            for f in files:
                shutil.copyfile(f, moved / f.name)
            index = _manual(tantivy.Index.open(str(moved)))
        except BaseException as exc:
            shutil.rmtree(moved, ignore_errors=True)
            if isinstance(exc, OSError):
                return  # no room on disk: it stays in memory, as before it grew
            raise
        self._index, self._dir = index, moved
        shutil.rmtree(directory, ignore_errors=True)

    def confirm(self, state: LexState) -> None:
        """The capsule committed the checkpoint ``state``, which the directory now is
        (built here, so it needs no vetting: see :mod:`memvid.index.lex_vet`)."""
        mark_vetted(self._uuid, state.key)
        self._base = state.key
        self._base_files = set(state.files)

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.rollback()
            self._writer = None  # dropped: tantivy joins its threads
        self._uncommitted = False
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._index = None
        self._base = None
        self._base_files = set()
        self.through = 0


@dataclass(frozen=True, slots=True)
class LexFilters:
    kind: str | None = None
    tags: Mapping[str, str] | None = None
    uri_prefix: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    created_since_us: int | None = None
    created_until_us: int | None = None


@contextlib.contextmanager
def _malformed_is_corrupt() -> Iterator[None]:
    """tantivy reading index files that passed their checksums yet are malformed (a forged
    capsule can recompute every checksum) raises ``ValueError`` or panics (pyo3's
    ``PanicException``, a ``BaseException``): both mean a damaged capsule."""
    try:
        yield
    except BaseException as exc:
        raised = _as_corrupt(exc)
        if raised is exc:
            raise
        raise raised from exc


def _as_corrupt(exc: BaseException) -> BaseException:
    """What :func:`_malformed_is_corrupt` raises for ``exc`` (``exc`` itself when tantivy did
    not fail on the files); searches call it from a plain ``except``, which costs nothing
    until something is raised, where a ``with`` block costs a generator per call."""
    if isinstance(exc, MemvidError):
        return exc  # already says what is wrong (a CorruptCapsuleError is a ValueError too)
    if isinstance(exc, ValueError):
        return CorruptCapsuleError(f"the lexical index does not load: {exc}", kind="lex")
    if type(exc).__name__ == "PanicException":
        return CorruptCapsuleError(f"the lexical index does not load: tantivy panicked ({exc})", kind="lex")
    return exc


class LexIndex:
    """A read-only searcher over one tantivy index."""

    def __init__(self, index: tantivy.Index) -> None:
        self.index = index
        self.schema = index.schema
        with _malformed_is_corrupt():
            self.searcher = index.searcher()
            self.docs: int = self.searcher.num_docs
            """Documents the index holds (tantivy's deleted ones left out)."""
            # How tantivy's parse names the ``text`` field; None (never narrow) if the index reads words otherwise.
            probe = _OR_TERM.findall(repr(index.parse_query("memvid probe", ["text"])))
            self._text_field: str | None = probe[0][0] if len(probe) == 2 else None
        self._df: dict[str, int] = {}

    @classmethod
    def open(
        cls,
        capsule_uuid: str,
        state: LexState | None,
        read: Callable[[str], bytes],
        tail: tuple[str, Callable[[], Iterable[LexDoc]]] | None = None,
    ) -> LexIndex:
        """The checkpoint ``state`` from the cache; with ``tail = (key, docs)``, the
        checkpoint (or, with no ``state``, an empty index) plus those documents, built
        once into the cache under ``key``."""

        def checkpoint() -> Path:  # the checkpoint's own view, vetted before first use
            assert state is not None
            return materialize(capsule_uuid, state.key, state.digests(), read, vet=_vetter(capsule_uuid, state))

        with _malformed_is_corrupt():
            if tail is None:
                return cls(_manual(tantivy.Index.open(str(checkpoint()))))
            key, docs = tail

            def build(directory: Path) -> None:
                index = _manual(
                    tantivy.Index.open(str(directory)) if state else tantivy.Index(schema(), path=str(directory))
                )
                _write(index, list(docs()), [])

            # The checkpoint's files are lent as hard links, and its view made only if this one must be built.
            base = checkpoint if state is not None else None
            view = materialize(capsule_uuid, key, state.digests() if state else {}, read, build=build, base=base)
            return cls(_manual(tantivy.Index.open(str(view))))

    def parse(self, query: str) -> tantivy.Query:
        """The tantivy query language (phrases, AND/OR/NOT, ``field:term``), leniently: a
        query that does not parse is read as plain words, never an error.

        ``a AND NOT b`` is read as ``a -b``: tantivy's parser makes the former match
        nothing (quickwit-oss/tantivy#2317), which no user means.
        """
        if "NOT" in query:
            query = _AND_NOT.sub(" -", query)
        try:
            return self.index.parse_query(query, DEFAULT_FIELDS)
        except ValueError:
            parsed, _errors = self.index.parse_query_lenient(query, DEFAULT_FIELDS)
            return parsed

    def search(
        self,
        query: str,
        limit: int,
        filters: LexFilters | None = None,
        dead: Container[int] = (),
        allowed: Container[int] | None = None,
        live: int | None = None,
    ) -> list[tuple[int, float]]:
        """``(frame_id, bm25 score)`` pairs, best first, leaving out the ids in ``dead``
        (removed frames the index may still hold) and, when ``allowed`` is given, every id
        not in it (filters the index cannot evaluate, such as metadata).

        ``live`` is how many live frames the commit has. The index holds every live frame
        once, so when it holds no more documents than that, no dead frame lingers in it and
        tantivy is asked for ``limit`` hits, not more; ``dead`` is still checked (a forged
        index may break that rule: it then costs a second search, never a wrong hit).

        Plain words are searched without the common ones while the rarer ones find ``limit``
        hits (see the module's docstring)."""
        if limit <= 0:
            return []
        parsed = self.parse(query)
        clauses = self._filter_clauses(filters) if filters is not None else []
        if allowed is not None and isinstance(allowed, Set) and len(allowed) <= _ALLOWED_AS_QUERY:
            if not allowed:
                return []
            only = tantivy.Query.term_set_query(self.schema, "frame_id", sorted(allowed))
            clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(only, 0.0)))
            allowed = None  # the query applies it
        rarer = self._without_common_words(parsed)
        if rarer is not None:
            found = self._top(rarer, clauses, limit, dead, allowed, live)
            if len(found) >= limit:
                return found
        return self._top(parsed, clauses, limit, dead, allowed, live)

    def _without_common_words(self, parsed: tantivy.Query) -> tantivy.Query | None:
        """``parsed`` without the words in more than :data:`COMMON_SHARE` of the documents, if
        it is plain words and some are rarer; otherwise ``None`` (search it as it is)."""
        shown = repr(parsed)
        if self._text_field is None or not (shown.startswith(_OR_HEAD) and shown.endswith(_OR_TAIL)):
            return None
        terms = _OR_TERM.findall(shown)
        rebuilt = ", ".join(f'(Should, TermQuery(Term(field={f}, type=Str, "{w}")))' for f, w in terms)
        if rebuilt != shown[len(_OR_HEAD) : -len(_OR_TAIL)] or any(f != self._text_field for f, _ in terms):
            return None  # a phrase, another field, a required or excluded word: not plain words
        words = [w for _, w in terms]
        most = self.docs * COMMON_SHARE
        rarer = [w for w in words if self._doc_freq(w) <= most]
        if not rarer or len(rarer) == len(words):
            return None
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "text", w)) for w in rarer]
        )

    def _doc_freq(self, word: str) -> int:
        df = self._df.get(word)
        if df is None:
            if len(self._df) >= _DF_CACHE:
                self._df.clear()
            with _malformed_is_corrupt():
                df = self._df[word] = self.searcher.doc_freq("text", word)
        return df

    def _top(
        self,
        query: tantivy.Query,
        clauses: list[tuple[tantivy.Occur, tantivy.Query]],
        limit: int,
        dead: Container[int],
        allowed: Container[int] | None,
        live: int | None,
    ) -> list[tuple[int, float]]:
        """The best ``limit`` of ``query`` with the filter ``clauses``, dead and disallowed ids left out."""
        if clauses:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), *clauses])
        if not dead:
            dead = ()
        lingering = live is None or self.docs > live
        count = limit + 16 if (dead and lingering) or allowed is not None else limit
        searcher = self.searcher
        while True:
            try:
                # count=False: nothing reads the number of matches (counting them costs a pass of its own).
                hits = searcher.search(query, count, count=False).hits
                if not hits:
                    return []
                ids = searcher.fast_field_values("frame_id", [address for _, address in hits])
            except BaseException as exc:
                raised = _as_corrupt(exc)
                if raised is exc:
                    raise
                raise raised from exc
            if dead or allowed is not None:
                found = [
                    (fid, score)
                    for (score, _), fid in zip(hits, map(_frame_id, ids), strict=True)
                    if fid not in dead and (allowed is None or fid in allowed)
                ]
            else:
                found = [(int(fid or 0), score) for (score, _), fid in zip(hits, ids, strict=True)]
            if len(hits) < count or len(found) >= limit:
                return found if len(found) <= limit else found[:limit]
            count *= 4

    def _filter_clauses(self, f: LexFilters) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Filters as clauses that must match but score 0, so a filter never changes BM25 scores."""
        out: list[tuple[tantivy.Occur, tantivy.Query]] = []

        def must(query: tantivy.Query) -> None:
            out.append((tantivy.Occur.Must, tantivy.Query.const_score_query(query, 0.0)))

        if f.kind is not None:
            must(tantivy.Query.term_query(self.schema, "kind", f.kind))
        for key, value in (f.tags or {}).items():
            must(tantivy.Query.term_query(self.schema, "tags", f"{key}={value}"))
        if f.uri_prefix is not None:
            must(tantivy.Query.regex_query(self.schema, "uri", re.escape(f.uri_prefix) + ".*"))
        for name, since, until in (
            ("time", f.since_us, f.until_us),
            ("created", f.created_since_us, f.created_until_us),
        ):
            if since is None and until is None:
                continue
            lo = since if since is not None else -(2**63)
            hi = until if until is not None else 2**63 - 1
            must(
                tantivy.Query.range_query(
                    self.schema, name, tantivy.FieldType.Integer, lo, hi, include_lower=True, include_upper=False
                )
            )
        return out


def _frame_id(value: int | float | bool | None) -> int:
    """A ``frame_id`` fast-field value (every document has one; ``None`` reads as 0, as before)."""
    return int(value or 0)


def check_query(query: object) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("a lexical query must be a non-empty string")
    return query
