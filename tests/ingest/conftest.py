"""Helpers for the ingestion tests: PDFs made with fpdf2, and small corpora on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from fpdf import FPDF


def make_pdf(path: Path, pages: Sequence[str], *, title: str | None = None) -> Path:
    """A PDF with one page per string; each line of a string is one line of the page, never rewrapped."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    if title is not None:
        pdf.set_title(title)
    for page in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=8)
        y = 12.0
        for line in page.split("\n"):
            pdf.text(10, y, line)
            y += 4.0
    path.write_bytes(bytes(pdf.output()))
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A directory of one file per format, plus a subdirectory, a hidden file and an unknown extension."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "notes.txt").write_text("Alice prefers green tea.\n\nBob drinks espresso after lunch.\n", encoding="utf-8")
    (root / "guide.md").write_text(
        "# Guide\n\nIntro paragraph about ingestion.\n\n## Install\n\n```sh\npip install memvid-capsule\n```\n\n"
        "| os | ok |\n|----|----|\n| linux | yes |\n",
        encoding="utf-8",
    )
    (root / "sub" / "page.html").write_text(
        "<html><head><title>The Page</title><style>p {color: red}</style></head>"
        "<body><h1>Heading</h1><p>Caf\u00e9 text in <b>bold</b>.</p><script>var x = 1;</script></body></html>",
        encoding="utf-8",
    )
    make_pdf(root / "sub" / "report.pdf", ["Quarterly report, page one.", "Page two has the numbers."], title="Report")
    (root / "records.jsonl").write_text(
        '{"id": "r1", "body": "First record text", "name": "One", "lang": "en"}\n'
        '{"id": "r2", "body": "Second record text", "name": "Two", "lang": "fr"}\n',
        encoding="utf-8",
    )
    (root / ".hidden.txt").write_text("hidden", encoding="utf-8")
    (root / "image.bin").write_bytes(b"\x00\x01")
    return root
