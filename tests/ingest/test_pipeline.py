"""The pipeline: dedup, failures, changed files, resume, workers, and the CLI around it."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from memvid import Memvid
from memvid.cli import main
from memvid.engine import snapshot as snapshot_module
from memvid.ingest import JsonMapping

from .conftest import make_pdf

MEMVID = [str(Path(sys.executable).with_name("memvid"))]


def _uris(path: Path) -> Counter[str]:
    with Memvid.open(path, read_only=True) as mem:
        return Counter(f.uri or "" for f in mem.frames())


def _complete(path: Path) -> int:
    """The number of documents, after checking each has exactly the chunks it says."""
    with Memvid.open(path, read_only=True) as mem:
        chunks = Counter(f.metadata["parent"] for f in mem.frames(kind="chunk"))
        docs = list(mem.frames(kind="document"))
        for doc in docs:
            assert chunks.pop(doc.uri, 0) == doc.metadata["chunks"], doc.uri
        assert not chunks, f"chunks without a document: {chunks}"
        return len(docs)


def _many(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = "\n\n".join(f"Paragraph {p} of note {i}. " + "Words to fill the chunk. " * 12 for p in range(4))
        (root / f"note{i:04d}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    return root


def test_dedup_skip_link_and_off(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("same words", encoding="utf-8")
    (tmp_path / "b.txt").write_text("same words", encoding="utf-8")
    (tmp_path / "c.md").write_text("same words", encoding="utf-8")
    files = [tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.md"]
    with Memvid.create(tmp_path / "skip.mv2") as mem:
        report = mem.ingest(files, workers=1)
        assert (report.documents, report.duplicates, report.frames) == (1, 2, 2)
    with Memvid.create(tmp_path / "link.mv2") as mem:
        report = mem.ingest(files, workers=1, dedup="link")
        assert (report.documents, report.duplicates) == (1, 2)
        doc = next(mem.frames(kind="document"))
        assert [Path(a["path"]).name for a in doc.metadata["also"]] == ["b.txt", "c.md"]
        assert Path(doc.metadata["source"]["path"]).name == "a.txt"
        again = mem.ingest(files, workers=1, dedup="link")  # linked sources count as in
        assert (again.skipped, again.documents, again.duplicates) == (3, 0, 0)
        assert len(list(mem.frames(kind="document"))) == 1
    with Memvid.create(tmp_path / "off.mv2") as mem:
        report = mem.ingest(files, workers=1, dedup="off")
        assert (report.documents, report.duplicates) == (3, 0)


def test_a_bad_file_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(300))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    make_pdf(tmp_path / "ok.pdf", ["a fine page"])
    with Memvid.create(tmp_path / "c.mv2") as mem:
        report = mem.ingest(tmp_path, workers=1)
        reasons = {Path(f.source).name: f.reason for f in report.failed}
        assert reasons.keys() == {"broken.pdf", "latin1.txt", "bad.json"}
        assert reasons["latin1.txt"].startswith("not UTF-8 text")
        assert reasons["bad.json"].startswith("invalid JSON")
        assert "PDF" in reasons["broken.pdf"]
        assert report.documents == 2 and not report.ok
    assert mem.closed
    with Memvid.open(tmp_path / "c.mv2", read_only=True) as mem:
        assert mem.verify().ok
    assert _complete(tmp_path / "c.mv2") == 2


def test_a_changed_file_replaces_its_frames(tmp_path: Path) -> None:
    src = tmp_path / "doc.txt"
    src.write_text("first version", encoding="utf-8")
    with Memvid.create(tmp_path / "c.mv2") as mem:
        assert mem.ingest(src, workers=1).documents == 1
        os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
        touched = mem.ingest(src, workers=1)  # a new mtime, the same bytes
        assert (touched.skipped, touched.documents) == (1, 0)
        src.write_text("second version, longer", encoding="utf-8")
        report = mem.ingest(src, workers=1)
        assert (report.replaced, report.documents) == (1, 1)
        assert [f.text for f in mem.frames(kind="chunk")] == ["second version, longer"]
        assert mem.at(commit=1).get_by_uri(src.resolve().as_uri() + "#chunk=0").text == "first version"
        # The replaced text is gone, so a copy of it elsewhere is no duplicate.
        (tmp_path / "copy.txt").write_text("first version", encoding="utf-8")
        assert mem.ingest(tmp_path / "copy.txt", workers=1).documents == 1


def _records(path: Path, bodies: list[str]) -> None:
    path.write_text("".join(json.dumps({"body": b}) + "\n" for b in bodies), encoding="utf-8")


@pytest.mark.parametrize("nul_tails", [False, True])
def test_a_rerun_skips_replaces_and_dedups_by_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nul_tails: bool
) -> None:
    """A re-run skips unchanged files, replaces every record of a changed JSONL file, and finds
    duplicates of what the capsule held and of what it wrote. With ``nul_tails`` every key and
    file hash ends in NUL bytes, which numpy's byte strings drop (a lookup must still match)."""
    if nul_tails:
        import hashlib

        from memvid.ingest import ledger

        monkeypatch.setattr(
            ledger, "key_digest", lambda text: hashlib.blake2b(text.encode(), digest_size=8).digest() + bytes(8)
        )
        monkeypatch.setattr(ledger, "_sha_bytes", lambda sha: bytes.fromhex(sha)[:16] + bytes(16) if sha else b"")
    src = _many(tmp_path / "src", 6)
    _records(src / "log.jsonl", ["record one", "record two", "record three"])
    mapping = JsonMapping(text="body")
    capsule = tmp_path / "c.mv2"
    with Memvid.create(capsule) as mem:
        first = mem.ingest(src, workers=1, json_mapping=mapping)
        assert (first.documents, first.duplicates) == (9, 0)
    _records(src / "log.jsonl", ["record one, changed", "record two"])  # one record changed, one gone
    note = src / "note0002.md"
    os.utime(note, ns=(note.stat().st_atime_ns, note.stat().st_mtime_ns + 10**9))  # touched, same bytes
    (src / "copy.md").write_bytes((src / "note0003.md").read_bytes())  # a copy of what the capsule holds
    (src / "new.md").write_text("# New\n\nfresh words\n", encoding="utf-8")
    (src / "new2.md").write_text("# New\n\nfresh words\n", encoding="utf-8")  # a copy of what this run wrote
    with Memvid.open(capsule) as mem:
        again = mem.ingest(src, workers=1, json_mapping=mapping)
    # 5 notes skipped unread, note0002 read and skipped (same bytes); the JSONL's 3 documents replaced by 2.
    assert (again.skipped, again.replaced, again.documents, again.duplicates) == (6, 3, 3, 2)
    assert _complete(capsule) == 9
    with Memvid.open(capsule, read_only=True) as mem:
        records = sorted(f.text for f in mem.frames(kind="chunk") if "#record=" in (f.uri or ""))
        assert records == ["record one, changed", "record two"]
        # JSONL records are line numbers: the third line is gone, with its document and chunks.
        third = mem.frames(uri_prefix=(src / "log.jsonl").resolve().as_uri() + "#record=3")
        assert list(third) == []
        assert mem.verify().ok
    with Memvid.open(capsule) as mem:  # a third run: all is in; skipped copies are read again (dedup="skip")
        third_run = mem.ingest(src, workers=1, json_mapping=mapping)
        assert (third_run.skipped, third_run.documents, third_run.duplicates) == (8, 0, 2)


def test_odd_document_metadata_in_the_capsule_does_not_stop_a_run(tmp_path: Path) -> None:
    """Document frames a run did not write (another tool's, an old version's) may say anything."""
    src = _many(tmp_path / "src", 2)
    odd = [
        {"source": {"path": "relative/path.md", "size": "big", "mtime_ns": 1.5, "record": "x"}, "chunks": "2"},
        {"source": {"path": "/huge.md", "size": 10**30, "mtime_ns": -(10**30), "record": 10**30}, "chunks": 10**30},
        {"source": {"path": str(src / "note0000.md")}, "also": 7, "content_hash": 5},
        {"source": "not a dict", "also": [{"path": 3}, "x", {"path": str(src / "gone.md")}]},
        ["not", "a", "dict"],
    ]
    with Memvid.create(tmp_path / "c.mv2") as mem:
        for i, meta in enumerate(odd):
            metadata = meta if isinstance(meta, dict) else {"m": meta}
            mem.put(f"odd {i}", kind="document", uri=f"odd:{i}", metadata=metadata)
        mem.commit()
        report = mem.ingest(src, workers=1)
        # note0000.md is listed with no size: it is read, and its bytes compared with no hash.
        assert (report.documents, report.failed) == (2, ())


def test_a_run_keeps_a_digest_per_document_not_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the writer keeps per file it writes: nothing in the file table (a run meets each
    path once), one content digest per document (dedup)."""
    from memvid.ingest import ledger

    seen: list[ledger.Ledger] = []
    load = ledger.Ledger.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(ledger.Ledger, "load", classmethod(lambda cls, mem: seen.append(load(cls, mem)) or seen[-1]))
    src = _many(tmp_path / "src", 12)
    with Memvid.create(tmp_path / "c.mv2") as mem:
        assert mem.ingest(src, workers=1).documents == 12
        assert mem.ingest(src, workers=1).skipped == 12
    fresh, rerun = seen
    assert len(fresh._files.keys) == 0 and len(fresh._added) == 12
    assert len(rerun._files.keys) == 12 and len(rerun._content_keys) == 12 and not rerun._added


def test_two_workers_write_what_one_writes(tmp_path: Path, corpus: Path) -> None:
    _many(corpus / "many", 30)
    frames, reports = [], []
    for workers in (1, 2):
        with Memvid.create(tmp_path / f"w{workers}.mv2") as mem:
            reports.append(mem.ingest(corpus, workers=workers, commit_every=7, json_mapping=JsonMapping(text="body")))
            frames.append([(f.id, f.uri, f.kind, f.text, f.payload, dict(f.metadata)) for f in mem.frames()])
    assert frames[0] == frames[1]  # the same frames, with the same ids, in the same order
    assert reports[0].documents == reports[1].documents == 36
    assert reports[0].commits == reports[1].commits == 6  # a commit once 7 documents are pending, and the rest


def test_stdin_and_cli_summary(tmp_path: Path) -> None:
    runner = CliRunner()
    capsule = tmp_path / "c.mv2"
    result = runner.invoke(main, ["ingest", str(capsule), "-", "--stdin-format", "markdown"], input="# Hi\n\ntext\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"created {capsule}: 1 file read, 1 document added as 2 frames in 1 commit\n"
    result = runner.invoke(main, ["ingest", str(capsule), "-", "--json"], input="# Hi\n\ntext\n")
    out = json.loads(result.stdout)
    assert (out["created"], out["documents"], out["duplicates"], out["failed"]) == (False, 0, 1, [])
    (tmp_path / "bad.pdf").write_bytes(b"nope")
    result = runner.invoke(main, ["ingest", str(capsule), str(tmp_path / "bad.pdf"), str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert f"failed: {tmp_path / 'missing'}: no such file or directory\n" in result.stderr
    assert result.stdout.endswith("0 documents added as 0 frames in 0 commits; 2 failed\n")
    result = runner.invoke(main, ["ingest", str(capsule), "-", "--chunk-chars", "10"], input="x")
    assert result.exit_code == 2 and "--overlap" in result.stderr


def _run_in_pty(args: list[str], cwd: Path) -> tuple[int, str, bytes]:
    """Run the CLI with stderr on a terminal; returns the status, what the terminal showed, and stdout."""
    leader, follower = pty.openpty()
    shown = b""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=follower, cwd=cwd) as proc:
        os.close(follower)
        while True:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not data:
                    break
                shown += data
            elif proc.poll() is not None:
                break
        assert proc.stdout is not None
        out = proc.stdout.read()
        status = proc.wait(timeout=60)
    os.close(leader)
    return status, shown.decode(errors="replace"), out


def test_progress_shows_on_a_terminal_unless_json_or_quiet(tmp_path: Path) -> None:
    src = _many(tmp_path / "src", 5)
    status, shown, out = _run_in_pty([*MEMVID, "ingest", "a.mv2", str(src), "--workers", "1"], tmp_path)
    assert status == 0 and "ingesting" in shown and "5/5" in shown
    assert out.decode().startswith("created a.mv2: 5 files read")
    for flag in ("--quiet", "--json"):
        status, shown, out = _run_in_pty(
            [*MEMVID, "ingest", f"b{flag}.mv2", str(src), "--workers", "1", flag], tmp_path
        )
        assert status == 0 and shown == "", flag
        assert (out == b"") if flag == "--quiet" else json.loads(out)["documents"] == 5


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_keeps_the_last_commit_and_a_rerun_resumes(tmp_path: Path, workers: int) -> None:
    src = _many(tmp_path / "src", 400)
    capsule = tmp_path / "c.mv2"
    args = [*MEMVID, "ingest", str(capsule), str(src), "--workers", str(workers), "--commit-every", "10", "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the first batch to be committed
        time.sleep(0.02)
        if capsule.exists():
            try:
                with Memvid.open(capsule, read_only=True) as mem:
                    if mem.head.seq >= 1:
                        break
            except Exception:
                continue  # created but not yet complete
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert b"run the same command to resume" in err
    with Memvid.open(capsule, read_only=True) as mem:
        assert mem.verify().ok
    partial = _complete(capsule)
    assert 10 <= partial < 400 and partial % 10 == 0
    with Memvid.open(capsule) as mem:
        report = mem.ingest(src, workers=2, commit_every=100)
    assert (report.skipped, report.documents, report.failed) == (partial, 400 - partial, ())
    assert _complete(capsule) == 400
    assert max(_uris(capsule).values()) == 1  # no frame twice


def test_a_rerun_reads_columns_not_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Knowing what is in (and replacing a changed file) scans columns: no frame is built."""
    src = _many(tmp_path / "src", 20)
    capsule = tmp_path / "c.mv2"
    with Memvid.create(capsule) as mem:
        assert mem.ingest(src, workers=1, commit_every=6).documents == 20
    changed = src / "note0007.md"
    changed.write_text("# Note 7\n\nA short new text.\n", encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the re-run built whole frames")

    with monkeypatch.context() as patch:
        patch.setattr(snapshot_module, "frames_of", refuse)
        with Memvid.open(capsule) as mem:
            report = mem.ingest(src, workers=1)
    assert (report.skipped, report.replaced, report.documents, report.failed) == (19, 1, 1, ())
    assert _complete(capsule) == 20  # the changed file's old chunks are gone, not left behind
    with Memvid.open(capsule, read_only=True) as mem:
        chunks = mem.frames(uri_prefix=changed.resolve().as_uri() + "#")
        assert [f.text for f in chunks] == ["# Note 7\n\nA short new text."]


@pytest.mark.parametrize("path", ["/a/b c/d#e%f.md", "/tmp/ünï/x.md", os.fsdecode(b"/tmp/\xff\xfe/y.md"), "/a?b/c"])
def test_a_documents_uri_is_its_paths_file_uri(path: str) -> None:
    """``path_uri`` makes a document's uri without pathlib (a re-run checks every stored uri
    with it): the same as ``Path.as_uri()``. (A relative path in a capsule's metadata is
    not checked with it: see the odd-metadata test.)"""
    from memvid.ingest.pipeline import path_uri

    for record in (-1, 0, 3):
        assert path_uri(path, record) == Path(path).as_uri() + ("" if record < 0 else f"#record={record}")
