"""Each format is read into a document frame and chunk frames that record where they came from."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from memvid import Frame, InvalidInputError, Memvid, ReadOnlyError
from memvid.ingest import IngestReport, JsonMapping
from memvid.ingest.sources import discover, html_to_text

from .conftest import make_pdf


def _documents(mem: Memvid) -> dict[str, Frame]:
    return {Path(f.metadata["source"]["path"]).name + _record(f): f for f in mem.frames(kind="document")}


def _record(frame: Frame) -> str:
    record = frame.metadata["source"].get("record")
    return "" if record is None else f"#{record}"


def _chunks(mem: Memvid, parent: Frame) -> list[Frame]:
    return sorted(
        (f for f in mem.frames(kind="chunk") if f.metadata["parent"] == parent.uri), key=lambda f: f.metadata["chunk"]
    )


def _ingest(tmp_path: Path, corpus: Path, **options: object) -> tuple[Path, IngestReport]:
    path = tmp_path / "c.mv2"
    with Memvid.create(path, overwrite=True) as mem:
        report = mem.ingest(
            corpus, workers=1, json_mapping=JsonMapping(text="body", title="name", metadata=("lang",)), **options
        )
    return path, report


def test_every_format_is_read(tmp_path: Path, corpus: Path) -> None:
    path, report = _ingest(tmp_path, corpus)
    assert report.files == 5  # the hidden file and the unknown extension are not taken from a directory
    assert report.failed == ()
    with Memvid.open(path, read_only=True) as mem:
        docs = _documents(mem)
        assert sorted(docs) == [
            "guide.md",
            "notes.txt",
            "page.html",
            "records.jsonl#1",
            "records.jsonl#2",
            "report.pdf",
        ]
        assert docs["guide.md"].title == "Guide"
        assert docs["page.html"].title == "The Page"
        assert docs["report.pdf"].title == "Report"
        assert docs["notes.txt"].title == "notes"
        assert docs["records.jsonl#2"].title == "Two"
        assert docs["records.jsonl#2"].metadata["source"]["record_id"] == "r2"
        assert docs["records.jsonl#2"].metadata["fields"] == {"lang": "fr"}
        html = docs["page.html"].payload.decode()
        assert "Caf\u00e9 text in bold." in html and "var x" not in html and "color" not in html
        pdf = docs["report.pdf"]
        assert pdf.metadata["source"]["pages"] == 2
        assert [c.metadata["source"]["pages"] for c in _chunks(mem, pdf)] == [[1, 2]]
        for name, doc in docs.items():
            assert doc.kind == "document" and doc.text == "", name
            assert doc.metadata["source"]["format"] in {"text", "markdown", "html", "pdf", "jsonl"}
            assert doc.metadata["chunks"] == len(_chunks(mem, doc)) >= 1, name


def test_timestamps_are_file_mtimes(tmp_path: Path, corpus: Path) -> None:
    when = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    os.utime(corpus / "notes.txt", (when.timestamp(), when.timestamp()))
    path, _ = _ingest(tmp_path, corpus)
    with Memvid.open(path, read_only=True) as mem:
        doc = _documents(mem)["notes.txt"]
        assert doc.timestamp == when
        assert {c.timestamp for c in _chunks(mem, doc)} == {when}
        assert doc.metadata["source"]["mtime_ns"] == (corpus / "notes.txt").stat().st_mtime_ns


def test_ranges_map_back_to_the_document_exactly(tmp_path: Path, corpus: Path) -> None:
    long_text = "".join(f"Sentence number {i} is here, caf\u00e9 \u2603. " for i in range(200))
    (corpus / "long.txt").write_text(long_text, encoding="utf-8")
    path, _ = _ingest(tmp_path, corpus, chunk_chars=300, overlap=60)
    with Memvid.open(path, read_only=True) as mem:
        docs = _documents(mem)
        # A plain-text file's document is the file's text, so ranges index the file itself.
        assert docs["long.txt"].payload == (corpus / "long.txt").read_bytes()
        for doc in docs.values():
            whole = doc.payload
            text = whole.decode("utf-8")
            chunks = _chunks(mem, doc)
            for chunk in chunks:
                where = chunk.metadata["source"]
                assert text[where["char_start"] : where["char_end"]] == chunk.text
                assert whole[where["byte_start"] : where["byte_end"]].decode("utf-8") == chunk.text
                assert chunk.uri.startswith(doc.uri) and chunk.title == doc.title
        assert len(_chunks(mem, docs["long.txt"])) > 10


def test_a_json_array_and_a_mapped_time(tmp_path: Path) -> None:
    src = tmp_path / "items.json"
    src.write_text(
        json.dumps([{"text": "one", "at": "2020-01-02T00:00:00Z"}, {"text": 5}, "nope", {"text": "three"}]),
        encoding="utf-8",
    )
    with Memvid.create(tmp_path / "c.mv2") as mem:
        report = mem.ingest(src, workers=1, json_mapping=JsonMapping(time="at"))
        assert report.documents == 2
        assert [(Path(f.source).name, f.reason) for f in report.failed] == [
            ("items.json[1]", "a non-string (int) text field 'text'"),
            ("items.json[2]", "a record must be a JSON object, not str"),
        ]
        docs = list(mem.frames(kind="document"))
        assert docs[0].timestamp == dt.datetime(2020, 1, 2, tzinfo=dt.UTC)
        assert docs[1].timestamp is not None and docs[1].timestamp.year >= 2024  # the file's mtime


def test_discovery_globs_includes_and_missing_paths(tmp_path: Path, corpus: Path) -> None:
    def names(*paths: str, include: tuple[str, ...] = ()) -> list[str]:
        return [
            Path(s.name).name if not isinstance(s, tuple) else f"missing:{s[0]}"
            for s in discover(paths, include=include)
        ]

    assert names(str(corpus / "**" / "*.pdf")) == ["report.pdf"]
    assert names(str(corpus), include=("*.md", "*.txt")) == ["guide.md", "notes.txt"]
    assert names(str(corpus / "image.bin")) == ["image.bin"]  # named explicitly: taken, read as text
    assert names(str(corpus / "nope.txt"), str(corpus / "notes.txt"), str(corpus / "notes.txt")) == [
        f"missing:{corpus / 'nope.txt'}",
        "notes.txt",
    ]
    # A file reached twice (a link to it, a folder and a file in it) is given once.
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "alias.md").symlink_to(corpus / "guide.md")
    once = names(str(tmp_path / "links"), str(corpus), str(corpus / "guide.md"), include=("*.md",))
    assert once == ["alias.md"]


def test_html_structure() -> None:
    title, text = html_to_text(
        "<h1>Top</h1><p>a\n  b</p><ul><li>one</li><li>two</li></ul>"
        "<table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>1</td></tr></table><pre>  keep\n   this</pre>"
    )
    assert title == "Top"
    assert text == "# Top\n\na b\n\n- one\n- two\n\n| k | v |\n| x | 1 |\n\n```\n  keep\n   this\n```"


def test_bad_arguments(tmp_path: Path, corpus: Path) -> None:
    with Memvid.create(tmp_path / "c.mv2") as mem:
        with pytest.raises(InvalidInputError, match="overlap"):
            mem.ingest(corpus, chunk_chars=100, overlap=100)
        with pytest.raises(InvalidInputError, match="dedup"):
            mem.ingest(corpus, dedup="maybe")  # type: ignore[arg-type]
        mem.put("pending")
        with pytest.raises(InvalidInputError, match="pending"):
            mem.ingest(corpus)
    with Memvid.open(tmp_path / "c.mv2", read_only=True) as mem, pytest.raises(ReadOnlyError):
        mem.ingest(corpus)


def test_a_pdf_page_count_and_an_empty_page(tmp_path: Path) -> None:
    make_pdf(tmp_path / "p.pdf", ["first", "", "third"])
    with Memvid.create(tmp_path / "c.mv2") as mem:
        mem.ingest(tmp_path / "p.pdf", workers=1)
        doc = next(mem.frames(kind="document"))
        assert doc.payload == b"first\n\n\n\nthird"
        assert [c.metadata["source"]["pages"] for c in mem.frames(kind="chunk")] == [[1, 3]]
