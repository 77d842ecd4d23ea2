"""Finding the files to ingest, and turning each into text: plain text, Markdown, HTML, PDF, JSON.

:func:`discover` expands paths, directories and globs into :class:`Source` s
lazily, in a stable order. :func:`extract` reads one source and returns its
documents (:class:`Extracted`): one per file, or one per record for JSON and
JSONL. Every extractor keeps what it returns equal to what later code slices:
a document's ``text`` is the exact string its chunks' character ranges index.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import html.parser
import io
import json
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = [
    "FORMATS",
    "Extracted",
    "JsonMapping",
    "Source",
    "SourceError",
    "discover",
    "extract",
    "format_for",
]

FORMATS: Final[Mapping[str, str]] = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".rst": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
STDIN: Final = "-"


class SourceError(Exception):
    """A source that cannot be read or parsed; the message says why. It is reported, never raised out."""


@dataclass(frozen=True, slots=True)
class Source:
    """One file to ingest (or standard input, ``name == "-"``, whose bytes are in ``data``)."""

    name: str
    path: Path | None
    format: str
    size: int
    mtime_ns: int | None
    data: bytes | None = None
    real: str = STDIN  # the absolute path, links resolved: how the capsule names the file

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


@dataclass(frozen=True, slots=True)
class JsonMapping:
    """Which fields of a JSON or JSONL record hold what. ``text`` is required in every record;
    the others are used when present. ``metadata`` fields are copied into the frame's metadata."""

    text: str = "text"
    title: str | None = "title"
    id: str | None = "id"
    time: str | None = None
    metadata: tuple[str, ...] = ()


@dataclass(slots=True)
class Extracted:
    """One document's text, and what is known about it."""

    title: str
    text: str
    structured: bool  # Markdown-like: headings, fences and tables mean something to the chunker
    pages: tuple[tuple[int, int], ...] = ()  # each PDF page's (start, end) in text
    record: int | None = None  # the record's index in a JSON file, or its line number in JSONL
    record_id: str | None = None
    timestamp: Any = None  # from a JSON record's time field
    fields: dict[str, Any] = field(default_factory=dict)
    cleanup: dict[str, int] | None = None


# -- discovery -------------------------------------------------------------------------------


def format_for(name: str) -> str | None:
    """The format a file name's extension says, or None."""
    return FORMATS.get(os.path.splitext(name)[1].lower())


def discover(
    paths: Iterable[str | os.PathLike[str]],
    *,
    include: Sequence[str] = (),
    stdin: bytes | None = None,
    stdin_format: str = "text",
) -> Iterator[Source | tuple[str, str]]:
    """Sources for ``paths``, in order, lazily; a ``(name, reason)`` pair for each that is missing.

    A file is taken as given (its format from its extension, else plain text). A
    directory is walked recursively in name order, hidden entries skipped, keeping
    files whose name matches one of ``include`` (glob patterns; by default every
    known extension). Anything else is read as a glob pattern (``**`` recurses).
    ``"-"`` is standard input, whose bytes are ``stdin``. A file reached twice is
    given once (``seen`` holds a 16-byte digest of each real path, not the path: a walk of
    millions of files keeps ~80 bytes a file).
    """
    seen: set[bytes] = set()
    for raw in paths:
        name = os.fspath(raw)
        if name == STDIN:
            yield Source(STDIN, None, stdin_format, len(stdin or b""), None, stdin or b"")
            continue
        path = Path(name)
        if path.is_dir():
            yield from _walk(path, include, seen)
        elif path.exists():
            yield from _file(path, seen, explicit=True)
        else:
            matches = sorted(glob.glob(name, recursive=True))
            if not matches:
                yield (name, "no such file or directory")
            for match in matches:
                found = Path(match)
                if found.is_dir():
                    yield from _walk(found, include, seen)
                else:
                    yield from _file(found, seen, explicit=False, include=include)


def key_digest(text: str) -> bytes:
    """A 16-byte digest of a string (a real path, a content hash), kept in memory in its place
    as a lookup key: collisions never happen in practice."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _walk(root: Path, include: Sequence[str], seen: set[bytes]) -> Iterator[Source | tuple[str, str]]:
    yield from _walk_folder(str(root), os.path.realpath(root), include, seen)


def _walk_folder(
    folder: str, real_folder: str, include: Sequence[str], seen: set[bytes]
) -> Iterator[Source | tuple[str, str]]:
    """A folder's files in name order, then its subfolders', as ``os.walk`` would (links to folders
    are not followed); each file's real path is its folder's joined with its name unless it is
    itself a link, so a walk costs one ``stat`` a file, not a ``realpath``."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:
        return  # as os.walk: an unreadable folder is passed over
    folders = []
    for entry in entries:
        try:
            is_folder = entry.is_dir()
        except OSError:
            is_folder = False
        if is_folder:
            if not entry.is_symlink():
                folders.append(entry)
            continue
        real = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real_folder, entry.name)
        yield from _file(Path(entry.path), seen, explicit=False, include=include, real=real)
    for entry in folders:
        yield from _walk_folder(entry.path, os.path.join(real_folder, entry.name), include, seen)


def _file(
    path: Path, seen: set[bytes], *, explicit: bool, include: Sequence[str] = (), real: str | None = None
) -> Iterator[Source | tuple[str, str]]:
    fmt = format_for(path.name)
    if not explicit:
        if include:
            if not any(
                fnmatch.fnmatch(path.name, pattern) or fnmatch.fnmatch(str(path), pattern) for pattern in include
            ):
                return
        elif fmt is None:
            return
    key = os.path.realpath(path) if real is None else real
    digest = key_digest(key)
    if digest in seen:
        return
    seen.add(digest)
    try:
        st = os.stat(path)
    except OSError as exc:
        yield (str(path), exc.strerror or str(exc))
        return
    if not stat.S_ISREG(st.st_mode):
        yield (str(path), "not a regular file")
        return
    yield Source(str(path), path, fmt or "text", st.st_size, st.st_mtime_ns, real=key)


# -- extraction ------------------------------------------------------------------------------


def extract(
    source: Source, data: bytes, mapping: JsonMapping, *, clean: bool | None = None
) -> tuple[list[Extracted], list[tuple[str, str]]]:
    """The documents in ``data`` (the source's bytes), and ``(name, reason)`` for each record that
    could not be read. Raises :class:`SourceError` when the whole source is unreadable.

    ``clean`` runs :func:`~memvid.ingest.clean.clean_text` on the text (each PDF page apart,
    Markdown outside code fences); ``None`` means for PDFs only.
    """
    stem = Path(source.name).stem if source.path is not None else "stdin"
    fmt = source.format
    if fmt == "pdf":
        return [_pdf(data, stem, clean is not False)], []
    if fmt in ("json", "jsonl"):
        docs, failures = _records(source, _decode(data), mapping, stem)
    else:
        text = _decode(data)
        if fmt == "html":
            title, converted = html_to_text(text)
            docs = [Extracted(title or stem, converted, structured=True)]
        elif fmt == "markdown":
            docs = [Extracted(_markdown_title(text) or stem, text, structured=True)]
        else:
            docs = [Extracted(stem, text, structured=False)]
    if clean:
        for doc in docs:
            doc.text, doc.cleanup = _clean(doc.text, fenced=doc.structured)
    return docs, failures if fmt in ("json", "jsonl") else []


_FENCE_BLOCK = re.compile(r"(^ {0,3}(?:```|~~~).*?(?:^ {0,3}(?:```|~~~)[ \t]*$|\Z))", re.S | re.M)


def _clean(text: str, *, fenced: bool) -> tuple[str, dict[str, int]]:
    from memvid.ingest.clean import CleanStats, clean_text

    pieces = _FENCE_BLOCK.split(text) if fenced else [text]
    total = CleanStats()
    for i in range(0, len(pieces), 2):  # odd pieces are code fences, kept as they are
        pieces[i], stats = clean_text(pieces[i])
        total += stats
    return "".join(pieces), total.to_dict()


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r})") from None
    if "\x00" in text:
        raise SourceError("binary data (a NUL byte) in a text file")
    return text.removeprefix("\ufeff")


_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _markdown_title(text: str) -> str | None:
    match = _ATX.search(text)
    return match.group(1).strip() if match else None


def _pdf(data: bytes, stem: str, clean: bool) -> Extracted:
    import pypdf
    from pypdf.errors import PyPdfError

    # pypdf reports recoverable damage as warnings and log lines; the outcome is what counts.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise SourceError("an encrypted PDF")
            texts = [page.extract_text() or "" for page in reader.pages]
            title = reader.metadata.title if reader.metadata is not None else None
        except SourceError:
            raise
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
            raise SourceError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    cleanup = None
    if clean:
        from memvid.ingest.clean import CleanStats, clean_text

        total = CleanStats()
        for i, page in enumerate(texts):
            texts[i], stats = clean_text(page)
            total += stats
        cleanup = total.to_dict()
    text, pages = join_pages(texts)
    name = str(title).strip() if title is not None else ""
    return Extracted(name or stem, text, False, pages, cleanup=cleanup)


def join_pages(texts: Sequence[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Pages joined by a blank line, and each page's span in the result."""
    spans, at = [], 0
    for i, page in enumerate(texts):
        if i:
            at += 2
        spans.append((at, at + len(page)))
        at += len(page)
    return "\n\n".join(texts), tuple(spans)


def _records(
    source: Source, text: str, mapping: JsonMapping, stem: str
) -> tuple[list[Extracted], list[tuple[str, str]]]:
    rows: list[tuple[int, Any]] = []
    failures: list[tuple[str, str]] = []
    if source.format == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                failures.append((f"{source.name}:{number}", f"invalid JSON ({exc.msg} at column {exc.colno})"))
    else:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        rows = list(enumerate(parsed if isinstance(parsed, list) else [parsed]))
    docs: list[Extracted] = []
    for index, row in rows:
        where = f"{source.name}:{index}" if source.format == "jsonl" else f"{source.name}[{index}]"
        if not isinstance(row, dict):
            failures.append((where, f"a record must be a JSON object, not {type(row).__name__}"))
            continue
        body = row.get(mapping.text)
        if not isinstance(body, str):
            why = "no" if body is None else f"a non-string ({type(body).__name__})"
            failures.append((where, f"{why} text field {mapping.text!r}"))
            continue
        title = row.get(mapping.title) if mapping.title else None
        record_id = row.get(mapping.id) if mapping.id else None
        docs.append(
            Extracted(
                title=str(title) if title is not None else f"{stem} {index}",
                text=body,
                structured=False,
                record=index,
                record_id=None if record_id is None else str(record_id),
                timestamp=row.get(mapping.time) if mapping.time else None,
                fields={key: row[key] for key in mapping.metadata if key in row},
            )
        )
    return docs, failures


# -- HTML ------------------------------------------------------------------------------------

_SKIP: Final = frozenset({"script", "style", "head", "noscript", "template", "svg", "iframe", "object"})
_BLOCKS: Final = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "aside",
        "nav",
        "blockquote",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
        "form",
        "hr",
        "address",
        "details",
        "summary",
        "fieldset",
        "body",
        "html",
    ]
)
_VOID: Final = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]
)


class _HtmlText(html.parser.HTMLParser):
    """HTML to Markdown-like text: headings as ``#`` lines, ``<pre>`` as fences, tables as ``|`` rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self.h1: list[str] | None = None
        self.first_h1: str | None = None
        self.skip = 0
        self.in_title = False
        self.pre = 0
        self.cells: list[str] | None = None
        self.row: list[list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP and tag != "head":
            if tag not in _VOID:
                self.skip += 1
            return
        if tag == "title":
            self.in_title = True
        elif self.skip:
            return
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
            if tag == "h1" and self.first_h1 is None:
                self.h1 = []
        elif tag == "pre":
            self.out.append("\n\n```\n")
            self.pre += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "table":
            self.out.append("\n\n")
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cells = []
            self.row.append(self.cells)
        elif tag in _BLOCKS:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag != "head":
            self.skip = max(0, self.skip - 1)
            return
        if tag == "title":
            self.in_title = False
        elif self.skip:
            return
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("\n\n")
            if self.h1 is not None:
                self.first_h1 = " ".join("".join(self.h1).split())
                self.h1 = None
        elif tag == "pre" and self.pre:
            self.pre -= 1
            self.out.append("\n```\n\n")
        elif tag in ("td", "th"):
            self.cells = None
        elif tag == "tr" and self.row is not None:
            cells = [" ".join("".join(cell).split()).replace("|", "\\|") for cell in self.row]
            self.out.append("\n| " + " | ".join(cells) + " |")
            self.row = None
        elif tag == "table" or tag in _BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
            return
        if self.skip:
            return
        if self.h1 is not None:
            self.h1.append(data)
        if self.cells is not None:
            self.cells.append(data)
        elif self.pre:
            self.out.append(data)
        elif self.row is None:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> tuple[str | None, str]:
    """The title of an HTML page (its ``<title>``, else its first ``<h1>``) and its text, Markdown-like.

    >>> html_to_text("<title>T</title><h1>Hello</h1><p>One <b>two</b></p><pre>x  = 1</pre>")
    ('T', '# Hello\\n\\nOne two\\n\\n```\\nx  = 1\\n```')
    """
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.out)
    # Tidy outside code fences only: spaces at line ends and starts, runs of blank lines.
    pieces = re.split(r"(\n```\n.*?\n```\n)", text, flags=re.S)
    for i in range(0, len(pieces), 2):
        tidy = re.sub(r"[ \t]*\n[ \t]*", "\n", pieces[i])
        pieces[i] = re.sub(r"\n{3,}", "\n\n", tidy)
    text = re.sub(r"\n{3,}", "\n\n", "".join(pieces)).strip("\n ")
    title = " ".join("".join(parser.title).split()) or parser.first_h1
    return title or None, text
