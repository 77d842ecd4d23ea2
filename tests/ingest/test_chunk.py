"""Chunking properties on generated Markdown and plain text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memvid.ingest.chunk import Chunk, chunk_text

WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "x", "caf\u00e9", "supercalifragilistic" * 3, "42"])
SENTENCE = st.lists(WORDS, min_size=1, max_size=30).map(lambda ws: " ".join(ws) + ".")
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=6).map(" ".join)
CODE = st.lists(st.text("abc =(){}\t ", min_size=0, max_size=40), min_size=1, max_size=12).map(
    lambda lines: "```python\n" + "\n".join(lines) + "\n```"
)
TABLE = st.lists(st.lists(WORDS, min_size=2, max_size=3), min_size=1, max_size=8).map(
    lambda rows: "\n".join("| " + " | ".join(row) + " |" for row in rows)
)
HEADING = st.tuples(st.integers(1, 3), WORDS).map(lambda h: "#" * h[0] + " " + h[1])
BLOCK = st.one_of(
    PARAGRAPH.map(lambda t: ("text", t)),
    CODE.map(lambda t: ("code", t)),
    TABLE.map(lambda t: ("table", t)),
    HEADING.map(lambda t: ("heading", t)),
)


def _document(blocks: list[tuple[str, str]]) -> tuple[str, list[tuple[str, int, int]]]:
    text, spans = "", []
    for kind, body in blocks:
        if text:
            text += "\n\n"
        spans.append((kind, len(text), len(text) + len(body)))
        text += body
    return text + "\n", spans


def _check(text: str, chunks: list[Chunk], limit: int, overlap: int, whole: list[tuple[int, int]]) -> None:
    covered = [False] * len(text)
    for i, chunk in enumerate(chunks):
        piece = text[chunk.start : chunk.end]
        assert piece and piece == piece.strip(), chunk
        if len(piece) > limit:
            assert (chunk.start, chunk.end) in whole, f"chunk {i} is over the limit and not one code block or table"
        for k in range(chunk.start, chunk.end):
            covered[k] = True
        if i:
            prev = chunks[i - 1]
            assert prev.start < chunk.start and prev.end < chunk.end
            assert prev.end - chunk.start <= overlap
    assert all(covered[k] or text[k].isspace() for k in range(len(text))), "a character is in no chunk"
    for start, end in whole:
        assert any(c.start <= start and end <= c.end for c in chunks), "a code block or table was cut"
        for c in chunks:
            assert c.end <= start or c.start >= end or (c.start <= start and end <= c.end)


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(BLOCK, min_size=1, max_size=14),
    limit=st.integers(20, 400),
    share=st.floats(0, 0.5),
)
def test_markdown_chunks(blocks: list[tuple[str, str]], limit: int, share: float) -> None:
    text, spans = _document(blocks)
    overlap = int(limit * share)
    chunks = chunk_text(text, chunk_chars=limit, overlap=overlap, structured=True)
    whole = [(s, e) for kind, s, e in spans if kind in ("code", "table")]
    _check(text, chunks, limit, overlap, whole)
    starts = {c.start for c in chunks}
    for kind, start, _ in spans:
        if kind == "heading":
            assert start in starts, "a heading does not start a chunk"


@settings(max_examples=100, deadline=None)
@given(
    paragraphs=st.lists(PARAGRAPH, min_size=1, max_size=8),
    limit=st.integers(5, 300),
    share=st.floats(0, 0.9),
)
def test_plain_chunks(paragraphs: list[str], limit: int, share: float) -> None:
    text = "\n\n".join(paragraphs)
    overlap = min(int(limit * share), limit - 1)
    _check(text, chunk_text(text, chunk_chars=limit, overlap=overlap), limit, overlap, [])


def test_sections_and_overlap_in_sentences() -> None:
    text = "# A\n\nOne two. Three four. Five six. Seven eight.\n\n## B\n\nNine ten."
    chunks = chunk_text(text, chunk_chars=30, overlap=12, structured=True)
    assert [(text[c.start : c.end], c.section) for c in chunks] == [
        ("# A\n\nOne two. Three four.", ("A",)),
        ("Three four. Five six.", ("A",)),
        ("Five six. Seven eight.", ("A",)),
        ("## B\n\nNine ten.", ("A", "B")),
    ]


def test_plain_text_has_no_headings() -> None:
    text = "# not a heading\n\n```\ncode\n```"
    assert chunk_text(text, chunk_chars=100, overlap=0) == [Chunk(0, len(text), ())]
    assert chunk_text(text, chunk_chars=100, overlap=0, structured=True) == [Chunk(0, len(text), ("not a heading",))]
    # In plain text a fence is words: it is cut at the limit like any other.
    assert len(chunk_text(text, chunk_chars=20, overlap=0)) == 2
    assert [text[c.start : c.end] for c in chunk_text(text, chunk_chars=20, overlap=0, structured=True)] == [
        "# not a heading",
        "```\ncode\n```",
    ]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("x", chunk_chars=10, overlap=10)
    with pytest.raises(ValueError, match="chunk_chars"):
        chunk_text("x", chunk_chars=0, overlap=0)
    assert chunk_text("   \n\n  ", chunk_chars=10, overlap=0) == []
