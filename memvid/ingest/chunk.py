"""Structure-aware chunking: a document's text cut into overlapping pieces of bounded size.

The text is first read as blocks: in Markdown-like text, ATX headings (``#``),
fenced code (```` ``` ```` or ``~~~``), tables (lines starting with ``|``),
list items and paragraphs; in plain text, paragraphs (separated by blank
lines). Paragraphs are cut into sentences, and a sentence longer than the limit
into words. These pieces are packed greedily into chunks of at most
``chunk_chars`` characters, preferring to end a chunk where a paragraph ends.

- A heading always starts a new chunk, and no chunk reaches back across one.
- A code block or a table is never cut: one longer than the limit is a chunk
  of its own (the only chunks over the limit).
- Consecutive chunks of a section share at most ``overlap`` characters: the
  next chunk starts with the last whole sentences of the previous one that fit.
- Every chunk is an exact slice ``text[start:end]`` with no whitespace at
  either end, and together the chunks cover every non-space character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["Chunk", "chunk_text"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$")
_TABLE = re.compile(r"^ {0,3}\|")
_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])[ \t]")
_SENTENCE_END = re.compile(r"[.!?][\"')\]\u201d\u2019]*\s+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Chunk:
    """``text[start:end]`` of a document, under the headings ``section`` (outermost first)."""

    start: int
    end: int
    section: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    kind: str  # "heading", "code", "table", "text"
    para_start: bool  # the first piece of a block
    para_end: int  # where its block ends
    section: tuple[str, ...]


_ATOMIC: Final = frozenset({"code", "table"})


def chunk_text(text: str, *, chunk_chars: int = 1200, overlap: int = 150, structured: bool = False) -> list[Chunk]:
    """The chunks of ``text``; ``structured`` reads headings, fences and tables as Markdown.

    >>> doc = "# Intro\\n\\nOne. Two.\\n\\n## Code\\n\\n```\\nx = 1\\n```\\n"
    >>> [doc[c.start : c.end] for c in chunk_text(doc, chunk_chars=30, overlap=0, structured=True)]
    ['# Intro\\n\\nOne. Two.', '## Code\\n\\n```\\nx = 1\\n```']
    """
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be at least 1, not {chunk_chars}")
    if not 0 <= overlap < chunk_chars:
        raise ValueError(f"overlap must be at least 0 and less than chunk_chars ({chunk_chars}), not {overlap}")
    units = _units(text, chunk_chars, structured)
    return _pack(units, chunk_chars, overlap)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _blocks(text: str, structured: bool) -> list[tuple[int, int, str, int]]:
    """``(start, end, kind, heading_level)`` for each block, in order."""
    blocks: list[tuple[int, int, str, int]] = []
    lines: list[tuple[int, int]] = []  # (start, end without newline)
    at = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        lines.append((at, at + len(body)))
        at += len(line)
    para: list[tuple[int, int]] = []

    def flush() -> None:
        if para:
            blocks.append((para[0][0], para[-1][1], "text", 0))
            para.clear()

    i = 0
    while i < len(lines):
        start, end = lines[i]
        line = text[start:end]
        if not line.strip():
            flush()
        elif structured and (fence := _FENCE.match(line)):
            flush()
            marker = fence.group(1)
            j = i + 1
            while j < len(lines):
                candidate = text[lines[j][0] : lines[j][1]].strip()
                if candidate.startswith(marker[0] * len(marker)) and not candidate.strip(marker[0]):
                    break
                j += 1
            j = min(j, len(lines) - 1)
            blocks.append((start, lines[j][1], "code", 0))
            i = j
        elif structured and (heading := _HEADING.match(line)):
            flush()
            blocks.append((start, end, "heading", len(heading.group(1))))
        elif structured and _TABLE.match(line):
            flush()
            j = i
            while j + 1 < len(lines) and _TABLE.match(text[lines[j + 1][0] : lines[j + 1][1]]):
                j += 1
            blocks.append((start, lines[j][1], "table", 0))
            i = j
        else:
            if structured and _ITEM.match(line):
                flush()
            para.append((start, end))
        i += 1
    flush()
    return blocks


def _units(text: str, limit: int, structured: bool) -> list[_Unit]:
    units: list[_Unit] = []
    section: list[tuple[int, str]] = []
    for start, end, kind, level in _blocks(text, structured):
        start, end = _strip(text, start, end)
        if start == end:
            continue
        if kind == "heading":
            while section and section[-1][0] >= level:
                section.pop()
            title = _HEADING.match(text[start:end])
            section.append((level, (title.group(2) or "").strip() if title else ""))
        names = tuple(name for _, name in section)
        if kind in _ATOMIC:
            units.append(_Unit(start, end, kind, True, end, names))
            continue
        first = True
        for s, e in _sentences(text, start, end, limit):  # a heading over the limit is cut like text
            units.append(_Unit(s, e, kind if first else "text", first, end, names))
            first = False
    return units


def _sentences(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    at = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append((at, match.start() + len(match.group().rstrip())))
        at = match.end()
    if at < end:
        spans.append((at, end))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        s, e = _strip(text, s, e)
        if s == e:
            continue
        if e - s <= limit:
            out.append((s, e))
            continue
        # A sentence over the limit: pack its words, cutting any word over the limit.
        piece: tuple[int, int] | None = None
        for word in _WORD.finditer(text, s, e):
            ws, we = word.start(), word.end()
            while we - ws > limit:
                if piece is not None:
                    out.append(piece)
                    piece = None
                out.append((ws, ws + limit))
                ws += limit
            if piece is not None and we - piece[0] <= limit:
                piece = (piece[0], we)
            else:
                if piece is not None:
                    out.append(piece)
                piece = (ws, we)
        if piece is not None:
            out.append(piece)
    return out


def _pack(units: list[_Unit], limit: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    i = 0
    last_end = -1  # the index of the last unit of the previous chunk
    while i < len(units):
        j = i
        while j + 1 < len(units):
            nxt = units[j + 1]
            if nxt.kind == "heading" or nxt.end - units[i].start > limit:
                break
            # A new block that will not fit whole: end here if the chunk is already half full.
            if (
                nxt.para_start
                and j > last_end
                and nxt.para_end - units[i].start > limit
                and units[j].end - units[i].start >= limit // 2
            ):
                break
            j += 1
        chunks.append(Chunk(units[i].start, units[j].end, units[i].section))
        last_end = j
        if j + 1 >= len(units):
            break
        nxt_unit = units[j + 1]
        if nxt_unit.kind == "heading" or overlap == 0:
            i = j + 1
            continue
        k = j + 1
        # Reach back over whole pieces while they fit in the overlap, never into a heading.
        while k - 1 > i and units[k - 1].kind != "heading" and units[j].end - units[k - 1].start <= overlap:
            k -= 1
        # ... and not so far that the next piece cannot join them.
        while k <= j and nxt_unit.end - units[k].start > limit:
            k += 1
        i = k
    return chunks
