"""No sidecar files: a capsule is one file, whatever happens to it.

After every operation (create, put, commit, update, delete, search, close, a
read-only open, verify, recover, a refused second writer, a refused create, an
overwriting create, and a kill -9 in the middle of an ingest followed by the next
writer) the directory holds exactly the capsule files the test made: no lock file,
journal, WAL, temporary or hidden file, and no cache directory.

The index cache and the writers' scratch directories live elsewhere by design
(``MEMVID_CACHE_DIR``, ``MEMVID_WORK_DIR``; the conftest points both into the
test's temporary folder): a closed writer leaves no scratch directory, and the one
a kill -9 leaves behind is swept by the next writer that makes one (a writer that
only commits between checkpoints never does, so it does not sweep).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from durability_support import Child

import memvid
from memvid import CapsuleExistsError, CapsuleLockedError, Memvid


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _scratch() -> list[str]:
    work = Path(os.environ["MEMVID_WORK_DIR"])
    return _listing(work) if work.exists() else []


def test_no_sidecar_files(tmp_path: Path) -> None:
    folder = tmp_path / "capsules"
    folder.mkdir()
    main = folder / "main.mv2"
    made = ["main.mv2"]
    assert not Path(os.environ["MEMVID_CACHE_DIR"]).is_relative_to(folder)
    assert not Path(os.environ["MEMVID_WORK_DIR"]).is_relative_to(folder)

    def expect(after: str) -> None:
        assert _listing(folder) == sorted(made), f"after {after}"

    mem = Memvid.create(main)
    try:
        expect("create")
        fid = mem.put("alpha", tags={"k": "v"}, uri="mv2://a", embedding=[0.5, 0.25])
        other = mem.put("bravo")
        expect("put")
        mem.commit()
        expect("commit")
        mem.update(fid, "alpha two")
        expect("update")
        mem.delete(other)
        expect("delete")
        mem.commit()
        expect("second commit")
        assert [h.frame_id for h in mem.search("alpha", mode="lex")] == [2]
        expect("search through the writer")
        with pytest.raises(CapsuleLockedError):
            Memvid.open(main)
        expect("a refused second writer")
        with Memvid.open(main, read_only=True) as reader:
            expect("read-only open beside the writer")
            assert [f.text for f in reader.frames()] == ["alpha two"]
            assert [h.frame_id for h in reader.search("alpha", mode="lex")] == [2]
            expect("search through a reader")
    finally:
        mem.close()
    expect("close")
    assert _scratch() == [], "a closed writer left its scratch directory"

    with Memvid.open(main, read_only=True) as reader:
        expect("read-only open")
        assert reader.verify().ok
        expect("verify")
    expect("read-only close")

    result = memvid.recover(main, folder / "recovered.mv2")
    made.append("recovered.mv2")
    assert result.frames == 1
    expect("recover")

    with pytest.raises(CapsuleExistsError):
        Memvid.create(main)
    expect("a refused create")
    with Memvid.create(folder / "recovered.mv2", overwrite=True) as fresh:
        fresh.put("replaced")
    expect("an overwriting create")

    with Memvid.open(main) as writer:
        writer.put("charlie")
        writer.commit()
        expect("a writer commit after reopening")
    expect("writer close")

    ingest = folder / "ingest.mv2"
    with Child("ingest_child.py", ingest) as child:
        acks = 0
        while acks < 2:
            line = child.next_line(timeout=30)
            assert line is not None, child.stderr
            acks += line.startswith("ack ")
        made.append("ingest.mv2")
        expect("ingest commits")
        child.kill()
        assert child.finish() == -signal.SIGKILL
    expect("kill -9 mid-ingest")
    with Memvid.open(ingest) as writer:
        expect("the next writer after the kill")
        writer.put("after the crash")
        writer.commit()
        expect("the next writer's commit")
        # The sweep runs when a writer makes its own scratch directory (here: to search).
        assert writer.search("crash", mode="lex").hits
        expect("the next writer's search")
    expect("the next writer's close")
    assert _scratch() == [], "the killed writer's scratch directory was not swept by the next writer"
    assert not any(p.name.startswith(".") for p in tmp_path.rglob("*"))
