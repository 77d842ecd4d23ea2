"""Lexical search: one tantivy BM25 index per capsule, its files stored as blocks.

The index covers every live frame of a commit: title and text with English
stemming, plus ``tags`` (``key=value`` terms), ``kind`` and ``uri`` as exact
terms and ``time`` (the frame's effective time, microseconds) for filters and
field queries. One logical index per capsule keeps BM25 statistics global.

A commit indexes only its own changes: new frames are added and removed frames
deleted in the writer's private working copy, tantivy commits, and the files
that commit produced (tantivy never rewrites a file) are appended to the
capsule as blocks. The manifest lists the files of that commit's index, so an
as-of view sees the index as it was. Readers open a verified copy of those
files from the disposable cache (:mod:`memvid.storage.cache`).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import tantivy

from memvid.errors import CorruptCapsuleError, InvalidInputError
from memvid.format.block import BlockRef
from memvid.storage.cache import materialize, scratch_dir

__all__ = ["LexIndex", "LexState", "LexWorkspace", "analyzer", "schema"]

SCHEMA_VERSION: Final = 1
TOKENIZER: Final = "en_stem"
DEFAULT_FIELDS: Final = ["title", "text"]
_HEAP_SMALL: Final = 15_000_000
_HEAP_LARGE: Final = 128_000_000
_AND_NOT: Final = re.compile(r"\s+AND\s+NOT\s+")


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
    """The lexical index of one commit, as its manifest records it."""

    files: Mapping[str, BlockRef]
    docs: int

    def to_json(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "tokenizer": TOKENIZER,
            "files": {name: ref.to_json() for name, ref in sorted(self.files.items())},
            "docs": self.docs,
        }

    @classmethod
    def from_json(cls, value: Any, limit: int) -> LexState:
        if (
            not isinstance(value, dict)
            or value.get("v") != SCHEMA_VERSION
            or not isinstance(value.get("files"), dict)
            or not isinstance(value.get("docs"), int)
            or "meta.json" not in value["files"]
        ):
            raise CorruptCapsuleError("malformed lexical index entry in the manifest")
        files = {}
        for name, raw in value["files"].items():
            if not isinstance(name, str) or not re.fullmatch(r"[0-9A-Za-z._-]{1,80}", name) or name.startswith("."):
                raise CorruptCapsuleError(f"invalid lexical index file name {name!r:.40}")
            ref = BlockRef.from_json(raw)
            if ref.offset + ref.length > limit:
                raise CorruptCapsuleError("lexical index file lies after its manifest")
            files[name] = ref
        return cls(files=files, docs=value["docs"])

    @property
    def key(self) -> str:
        """Identifies this index's exact files (the digest of its meta.json block)."""
        return self.files["meta.json"].digest.hex()


def _document(doc: LexDoc) -> tantivy.Document:
    d = tantivy.Document()
    d.add_unsigned("frame_id", doc.frame_id)
    if doc.title:
        d.add_text("title", doc.title)
    d.add_text("text", doc.text)
    for key, value in doc.tags.items():
        d.add_text("tags", f"{key}={value}")
    if doc.kind is not None:
        d.add_text("kind", doc.kind)
    if doc.uri is not None:
        d.add_text("uri", doc.uri)
    d.add_integer("time", doc.time_us)
    d.add_integer("created", doc.created_us)
    return d


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


class LexWorkspace:
    """A writer's private working copy of the capsule's lexical index."""

    def __init__(self, capsule_uuid: str) -> None:
        self._uuid = capsule_uuid
        self._dir: Path | None = None
        self._in_step_with: str | None = None  # the LexState.key the directory reflects

    def update(
        self,
        state: LexState | None,
        read: Callable[[str], bytes],
        added: Sequence[LexDoc],
        removed: Iterable[int],
    ) -> tuple[list[str], dict[str, bytes]]:
        """Apply one commit's changes. Returns the names of every file of the new index,
        and the contents of those the previous state does not already hold."""
        directory = self._prepare(state, read)
        index = tantivy.Index(schema(), path=str(directory)) if state is None else tantivy.Index.open(str(directory))
        writer = index.writer(heap_size=_HEAP_LARGE if len(added) > 20_000 else _HEAP_SMALL, num_threads=1)
        for doc in added:
            writer.add_document(_document(doc))
        for frame_id in removed:
            # delete_documents_by_term silently matches nothing on a u64 field (tantivy-py 0.27)
            writer.delete_documents_by_query(tantivy.Query.term_query(index.schema, "frame_id", frame_id))
        writer.commit()
        writer.wait_merging_threads()
        self._in_step_with = None  # ahead of the capsule until confirm()
        names = _live_files(directory)
        old = state.files if state is not None else {}
        fresh = {n: (directory / n).read_bytes() for n in names if n not in old or n == "meta.json"}
        return names, fresh

    def confirm(self, state: LexState) -> None:
        """The capsule committed ``state``: the working copy is in step with it again."""
        self._in_step_with = state.key

    def _prepare(self, state: LexState | None, read: Callable[[str], bytes]) -> Path:
        key = None if state is None else state.key
        if self._dir is not None and self._in_step_with == key and (key is not None or not any(self._dir.iterdir())):
            return self._dir
        self.close()
        self._dir = scratch_dir("lex")
        if state is not None:
            materialize(
                self._uuid, state.key, {n: r.digest.hex() for n, r in state.files.items()}, read, dest=self._dir
            )
        self._in_step_with = key
        return self._dir

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._in_step_with = None


@dataclass(frozen=True, slots=True)
class LexFilters:
    kind: str | None = None
    tags: Mapping[str, str] | None = None
    uri_prefix: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    created_since_us: int | None = None
    created_until_us: int | None = None


class LexIndex:
    """A read-only tantivy index of one commit."""

    def __init__(self, directory: Path) -> None:
        self.index = tantivy.Index.open(str(directory))
        self.schema = self.index.schema
        self.searcher = self.index.searcher()

    @classmethod
    def open(cls, capsule_uuid: str, state: LexState, read: Callable[[str], bytes]) -> LexIndex:
        files = {name: ref.digest.hex() for name, ref in state.files.items()}
        return cls(materialize(capsule_uuid, state.key, files, read))

    def parse(self, query: str) -> tantivy.Query:
        """The tantivy query language (phrases, AND/OR/NOT, ``field:term``), leniently: a
        query that does not parse is read as plain words, never an error.

        ``a AND NOT b`` is read as ``a -b``: tantivy's parser makes the former match
        nothing (quickwit-oss/tantivy#2317), which no user means.
        """
        query = _AND_NOT.sub(" -", query)
        try:
            return self.index.parse_query(query, DEFAULT_FIELDS)
        except ValueError:
            parsed, _errors = self.index.parse_query_lenient(query, DEFAULT_FIELDS)
            return parsed

    def search(self, query: str, limit: int, filters: LexFilters | None = None) -> list[tuple[int, float]]:
        """``(frame_id, bm25 score)`` pairs, best first."""
        if limit <= 0:
            return []
        parsed = self.parse(query)
        clauses = self._filter_clauses(filters) if filters is not None else []
        if clauses:
            parsed = tantivy.Query.boolean_query([(tantivy.Occur.Must, parsed), *clauses])
        hits = self.searcher.search(parsed, limit).hits
        if not hits:
            return []
        ids = self.searcher.fast_field_values("frame_id", [address for _, address in hits])
        return [(int(fid or 0), float(score)) for (score, _), fid in zip(hits, ids, strict=True)]

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
        for field, since, until in (
            ("time", f.since_us, f.until_us),
            ("created", f.created_since_us, f.created_until_us),
        ):
            if since is None and until is None:
                continue
            lo = since if since is not None else -(2**63)
            hi = until if until is not None else 2**63 - 1
            must(
                tantivy.Query.range_query(
                    self.schema, field, tantivy.FieldType.Integer, lo, hi, include_lower=True, include_upper=False
                )
            )
        return out


def check_query(query: object) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("a lexical query must be a non-empty string")
    return query
