"""symspellpy cleanup on PDFs the test makes: clean ones must come out unchanged, broken ones repaired.

The broken PDFs are the clean prose with damage a bad extraction leaves: words
split by spaces ("emp lo yee"), short function words glued to their neighbour
("ofthe"), and words hyphenated across line ends. Alignment with the original
words counts how many broken words the cleanup repairs and how many good words
it changes; the second must be 0.
"""

from __future__ import annotations

import difflib
import random
import textwrap
from pathlib import Path

from memvid import Memvid
from memvid.ingest.clean import clean_text
from memvid.ingest.sources import JsonMapping, Source, extract

from .conftest import make_pdf

PROSE = """\
The quarterly report describes how the engineering team moved the search service to a new cluster.
Alice Johnson led the migration, and Bob Martinez wrote most of the documentation for the operators.
The old system stored every document in PostgreSQL and rebuilt its index each night, which took about
four hours and often failed when the disk was full. The new design keeps the index next to the data, in
one portable file, so a backup is simply a copy of that file. Each commit is durable before it returns,
and a reader never sees half of a write. During the first week the team found a bout of timeouts on the
largest tenant; the cause was a configuration mistake, not the software. They went in to the details with
the vendor and fixed it within a day. Performance improved considerably: queries that used to take two
seconds now finish in under fifty milliseconds, and the nightly rebuild is gone. The employees who answer
customer questions say the results are more relevant, especially for long technical questions about
billing, invoices and contracts. Some of the remaining work is tracked in the issue list: better snippets,
support for scanned documents, and a dashboard for the operators. The embeddings are computed on the same
machines, with a small model that runs on ordinary processors. Kubernetes schedules the jobs, and tantivy
provides the lexical index while usearch provides the vector index. None of this would have been possible
without careful testing; every release runs a suite of crash tests that cut power in the middle of a write
and check that nothing committed is lost. The formatters and linters run on every change, and the
timestamps of each commit are recorded in the history. Overall, the project finished on time and under
budget. Next year the team plans to extend the service to other departments, to add access controls, and
to publish a well-known, state-of-the-art benchmark so that other groups can compare their own systems.
It is important that the information stays accurate, that everyone can find what they need, and that the
memory of the organisation does not depend on any one person. Questions can be sent to help@example.com
or posted on https://intranet.example.com/search, where the answers are collected for future readers.
"""

FUNCTION_WORDS = ["the", "of", "and", "to", "in", "a", "on", "for", "with", "is"]


def _break(words: list[str], seed: int) -> tuple[str, set[int]]:
    """The prose with damage, as lines of a page, and the indexes of the words damaged."""
    rng = random.Random(seed)
    out: list[str] = []
    damaged: set[int] = set()
    i = 0
    while i < len(words):
        word = words[i]
        roll = rng.random()
        if roll < 0.12 and len(word) >= 7 and word.isalpha() and word.islower():
            cuts = sorted(rng.sample(range(2, len(word) - 1), k=rng.choice([1, 2]) if len(word) >= 9 else 1))
            out.append(" ".join(word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)], strict=True)))
            damaged.add(i)
        elif roll < 0.22 and word in FUNCTION_WORDS and i + 1 < len(words) and words[i + 1].isalpha():
            out.append(word + words[i + 1])
            damaged.update({i, i + 1})
            i += 1
        else:
            out.append(word)
        i += 1
    lines, line = [], ""
    for token in out:
        if len(line) + len(token) > 90 and line:
            lines.append(line)
            line = token
        else:
            line = f"{line} {token}" if line else token
    lines.append(line)
    # Hyphenate some line ends inside the next line's first long word.
    for n in range(len(lines) - 1):
        head, _, rest = lines[n + 1].partition(" ")
        if head.isalpha() and head.islower() and len(head) >= 8 and rng.random() < 0.7:
            cut = len(head) // 2
            lines[n] += " " + head[:cut] + "-"
            lines[n + 1] = head[cut:] + (" " + rest if rest else "")
    return "\n".join(lines), damaged


def _pdf_text(path: Path, clean: bool) -> str:
    source = Source(str(path), path, "pdf", path.stat().st_size, path.stat().st_mtime_ns)
    docs, _ = extract(source, path.read_bytes(), JsonMapping(), clean=clean)
    return docs[0].text


def _matched(original: list[str], got: list[str]) -> set[int]:
    """Indexes of the original words that come out unchanged, in order."""
    matcher = difflib.SequenceMatcher(a=original, b=got, autojunk=False)
    return {block.a + k for block in matcher.get_matching_blocks() for k in range(block.size)}


def test_clean_pdfs_come_out_unchanged(tmp_path: Path) -> None:
    pages = [textwrap.fill(PROSE.replace("\n", " "), 95), "\n".join(PROSE.splitlines()[::-1])]
    make_pdf(tmp_path / "clean.pdf", pages)
    raw, cleaned = _pdf_text(tmp_path / "clean.pdf", False), _pdf_text(tmp_path / "clean.pdf", True)
    assert raw.split() == " ".join(pages).split()  # the extraction itself is faithful
    changed = len(raw.split()) - len(_matched(raw.split(), cleaned.split()))
    assert changed == 0
    assert cleaned == raw


def test_broken_pdfs_are_repaired_and_good_words_kept(tmp_path: Path) -> None:
    words = PROSE.split()
    broken_total = repaired = good_changed = 0
    for seed in range(4):
        page, damaged = _break(words, seed)
        path = make_pdf(tmp_path / f"broken{seed}.pdf", [page])
        raw, cleaned = _pdf_text(path, False), _pdf_text(path, True)
        before, after = _matched(words, raw.split()), _matched(words, cleaned.split())
        broken = set(range(len(words))) - before  # what extraction gives damaged, hyphenated words included
        assert damaged <= broken
        broken_total += len(broken)
        repaired += len(broken & after)
        good_changed += len(before - after)
    print(f"\nbroken words {broken_total}, repaired {repaired}, good words changed {good_changed}")
    assert good_changed == 0
    assert broken_total > 150
    assert repaired / broken_total > 0.6


def test_what_the_cleanup_leaves_alone() -> None:
    keep = [
        "A bout of flu kept Alice in to the night, and any one of us would do the same.",
        "Contact help@example.com or see https://example.com/some path/to file.txt for the memvid docs.",
        "Il diritto d'autore e la licenza sono validi per tutti i paesi secondo la legge italiana.",
        "The manpages of Microsystems and Bitstream are formatters' business, said Markus.",
        "def theemployee(x): return x  # code is not English prose",
    ]
    for text in keep:
        assert clean_text(text)[0] == text


def test_pdfs_are_cleaned_by_default_and_text_only_on_request(tmp_path: Path) -> None:
    broken = "The emp lo yee filed areport on the infor-\nmation sys tem and sent it tothe manager."
    fixed = "The employee filed a report on the information system and sent it to the manager."
    make_pdf(tmp_path / "b.pdf", [broken])
    (tmp_path / "b.txt").write_text(broken, encoding="utf-8")
    with Memvid.create(tmp_path / "c.mv2") as mem:
        report = mem.ingest([tmp_path / "b.pdf", tmp_path / "b.txt"], workers=1)
        assert report.cleanup == {"joined": 2, "split": 2, "dehyphenated": 1}
        texts = {f.metadata["source"]["format"]: f.payload.decode() for f in mem.frames(kind="document")}
    assert texts == {"pdf": fixed, "text": broken}
    with Memvid.create(tmp_path / "d.mv2") as mem:
        mem.ingest([tmp_path / "b.pdf", tmp_path / "b.txt"], workers=1, clean=True, dedup="off")
        texts = {f.metadata["source"]["format"]: f.payload.decode() for f in mem.frames(kind="document")}
    assert texts == {"pdf": fixed, "text": fixed}
    with Memvid.create(tmp_path / "e.mv2") as mem:
        mem.ingest([tmp_path / "b.pdf"], workers=1, clean=False)
        assert next(mem.frames(kind="document")).payload.decode() == broken


def test_markdown_code_fences_are_not_cleaned() -> None:
    from memvid.ingest.sources import _clean

    text = "Some emp lo yee text here and the sys tem works.\n\n```\nemp lo yee sys tem\n```\n"
    assert _clean(text, fenced=True)[0] == (
        "Some employee text here and the system works.\n\n```\nemp lo yee sys tem\n```\n"
    )
