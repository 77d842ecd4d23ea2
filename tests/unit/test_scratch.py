"""A writer's working lexical index: in memory (/dev/shm) while small, on disk once large."""

from __future__ import annotations

from pathlib import Path

import pytest

from memvid import Memvid


def _dirs(root: Path) -> list[Path]:
    return [d for d in root.glob("lex-*") if d.is_dir()] if root.is_dir() else []


def test_a_large_working_index_leaves_memory_for_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memvid.index as index_module
    from memvid.storage import cache

    shm = tmp_path / "shm"
    monkeypatch.delenv("MEMVID_WORK_DIR", raising=False)
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_memory_root", lambda: shm)
    monkeypatch.setattr(index_module, "CHECKPOINT_FRAMES", 10)
    disk = tmp_path / "cache" / "work"
    with Memvid.create(tmp_path / "c.mv2") as mem:
        for i in range(5):
            mem.put(f"note {i} about apples")
        mem.commit()
        assert len(mem.search("apples", mode="lex", limit=10).hits) == 5
        assert len(_dirs(shm)) == 1 and not _dirs(disk)  # small: in memory
        monkeypatch.setattr(cache, "SHM_BUDGET_BYTES", 1)
        for i in range(5, 30):
            mem.put(f"note {i} about pears")
            mem.commit()  # a checkpoint every 10 frames
        assert not _dirs(shm) and len(_dirs(disk)) == 1  # moved, and memory freed
        hits = mem.search("pears", mode="lex", limit=50)
        assert len(hits.hits) == 25
        mem.put("note 30 about plums")
        mem.commit()
        assert [h.frame_id for h in mem.search("plums", mode="lex").hits] == [30]
    assert not _dirs(disk) and not _dirs(shm)  # removed when the handle closes
    with Memvid.open(tmp_path / "c.mv2", read_only=True) as mem:
        assert len(mem.search("pears OR apples", mode="lex", limit=50).hits) == 30


def test_a_working_dir_the_user_chose_stays_where_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memvid.storage import cache

    monkeypatch.setenv("MEMVID_WORK_DIR", str(tmp_path / "mine"))
    monkeypatch.setattr(cache, "_memory_root", lambda: tmp_path / "mine")
    assert not cache.in_memory(cache.scratch_dir("lex"))
    assert cache.scratch_dir("lex", on_disk=True).parent == tmp_path / "mine"
