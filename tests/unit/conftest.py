"""Fixtures the search tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memvid import Memvid, MemvidError, _failpoints


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disposable index cache in the test's own directory, not the user's."""
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "mem.mv2"


@pytest.fixture
def failing_commit() -> Callable[[Memvid, str], None]:
    """``failing_commit(mem, spec)``: commit with the failpoints ``spec`` enabled (see
    :mod:`memvid._failpoints`), which must make the commit raise."""

    def run(mem: Memvid, spec: str) -> None:
        _failpoints.configure(spec)
        try:
            with pytest.raises((OSError, MemvidError)):
                mem.commit()
        finally:
            _failpoints.configure(None)

    return run
