"""One source read, extracted, cleaned, chunked and hashed: the work a worker process does.

This module and what it imports (:mod:`.sources`, :mod:`.chunk`, :mod:`.clean`)
use the standard library only, until a PDF (pypdf) or a cleanup (symspellpy)
needs more, so a worker process starts in a few tens of milliseconds: it never
imports pyarrow, numpy or tantivy, which only the writer needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memvid.ingest.chunk import chunk_text
from memvid.ingest.sources import Extracted, JsonMapping, Source, SourceError, extract

__all__ = ["Document", "Options", "Piece", "Prepared", "prepare", "prepare_and_embed"]


@dataclass(frozen=True, slots=True)
class Options:
    """How to cut and clean: the same for every source of a run."""

    chunk_chars: int
    overlap: int
    clean: bool | None
    mapping: JsonMapping
    embed: Callable[[], Any] | None = None
    """An embedder's ``worker_factory``: with it, :func:`prepare_and_embed` embeds too."""


@dataclass(slots=True)
class Piece:
    """One chunk: its character and UTF-8 byte range in the document's text, headings and pages."""

    start: int
    end: int
    byte_start: int
    byte_end: int
    section: tuple[str, ...]
    pages: tuple[int, ...]


@dataclass(slots=True)
class Document:
    extracted: Extracted
    content_hash: str
    pieces: list[Piece]
    vectors: Any = None
    """With :attr:`Options.embed`: the vectors of the document frame and of each chunk, in order."""


@dataclass(slots=True)
class Prepared:
    """What a source gave: its documents and the records that failed, or why the whole source failed."""

    sha256: str = ""
    documents: list[Document] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def prepare(source: Source, options: Options) -> Prepared:
    """Read, extract, clean and chunk one source. Never raises: a failure is reported in the result."""
    try:
        data = source.read()
        docs, failures = extract(source, data, options.mapping, clean=options.clean)
        prepared = Prepared(sha256=hashlib.sha256(data).hexdigest(), failures=failures)
        for doc in docs:
            prepared.documents.append(_document(doc, options))
        return prepared
    except SourceError as exc:
        return Prepared(error=str(exc))
    except OSError as exc:
        return Prepared(error=exc.strerror or str(exc))
    except MemoryError:
        return Prepared(error="out of memory")
    except Exception as exc:  # a parser's own bug must not stop the run
        return Prepared(error=f"{type(exc).__name__}: {exc}")


def prepare_and_embed(source: Source, options: Options, embedders: dict[Any, Any]) -> Prepared:
    """:func:`prepare`, then, with ``options.embed``, the vector of every frame the writer
    will make of each document, computed as ``Memvid`` computes it at commit (from
    :func:`memvid.embed.embedding_text` of the frame's title and text: the document
    frame's text is empty, its content being its payload). If embedding fails the
    document goes without vectors, and the writer embeds it at commit (and reports the
    error there, if it is one). ``embedders`` keeps the embedder a factory made, for the
    next source: the caller's dies with its run, so no model outlives an ingest."""
    prepared = prepare(source, options)
    if options.embed is None or prepared.error is not None or not prepared.documents:
        return prepared
    try:
        from memvid.embed import embedding_text  # numpy: only where a run embeds

        embedder = embedders.get(options.embed)
        if embedder is None:
            embedder = embedders[options.embed] = options.embed()
        for doc in prepared.documents:
            ex = doc.extracted
            texts = [embedding_text(ex.title, "")]
            texts += [embedding_text(ex.title, ex.text[p.start : p.end]) for p in doc.pieces]
            doc.vectors = embedder.embed_documents(texts)
    except Exception:  # the writer embeds what has no vectors
        for doc in prepared.documents:
            doc.vectors = None
    return prepared


def _document(doc: Extracted, options: Options) -> Document:
    chunks = chunk_text(doc.text, chunk_chars=options.chunk_chars, overlap=options.overlap, structured=doc.structured)
    # Byte offsets in the UTF-8 text, counted once over the sorted boundaries.
    bounds = sorted({c.start for c in chunks} | {c.end for c in chunks})
    to_bytes: dict[int, int] = {}
    at_char = at_byte = 0
    for b in bounds:
        at_byte += len(doc.text[at_char:b].encode("utf-8"))
        at_char = b
        to_bytes[b] = at_byte
    pieces = [
        Piece(
            c.start,
            c.end,
            to_bytes[c.start],
            to_bytes[c.end],
            c.section,
            tuple(n + 1 for n, (s, e) in enumerate(doc.pages) if s < c.end and e > c.start and e > s),
        )
        for c in chunks
    ]
    digest = hashlib.blake2b(doc.text.encode("utf-8"), digest_size=16).hexdigest()
    return Document(doc, digest, pieces)
