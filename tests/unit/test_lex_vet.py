"""When a lexical checkpoint is vetted in a separate process (memvid/index/lex_vet.py):
once per checkpoint per machine, never for one this machine's writer built."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from memvid import Memvid
from memvid.index import lex_vet


@pytest.fixture
def vets(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The vetting processes started (each still runs)."""
    started: list[list[str]] = []
    real = subprocess.run

    def run(args: list[str], **kwargs: Any) -> Any:
        started.append(args)
        return real(args, **kwargs)

    monkeypatch.setattr(lex_vet.subprocess, "run", run)
    return started


def _capsule(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put_many([{"text": f"note {i} about coffee and tea", "title": f"n{i}"} for i in range(50)])
        mem.commit()
        mem.put("a later frame about coffee")  # indexed after the checkpoint: the tail path


def test_a_checkpoint_built_here_is_not_vetted(
    tmp_path: Path, vets: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "c.mv2"
    _capsule(path)
    with Memvid.open(path, read_only=True) as mem:
        assert mem.search("coffee", mode="lex")
    with Memvid.open(path) as mem:  # a writer catching up from the checkpoint
        mem.put("more coffee")
        mem.commit()
        assert mem.search("coffee", mode="lex")
    assert vets == []


def test_a_checkpoint_from_elsewhere_is_vetted_once(
    tmp_path: Path, vets: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path / "built-there"))
    path = tmp_path / "c.mv2"
    _capsule(path)
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path / "opened-here"))  # another machine's cache
    with Memvid.open(path, read_only=True) as mem:
        hits = mem.search("coffee", mode="lex")
    assert len(vets) == 1
    with Memvid.open(path, read_only=True) as mem:  # a new process would find the marker too
        assert [h.frame_id for h in mem.search("coffee", mode="lex")] == [h.frame_id for h in hits]
    with Memvid.open(path) as mem:
        mem.put("more coffee")
        mem.commit()
    assert len(vets) == 1
    assert hits and all(h.frame_id is not None for h in hits)
