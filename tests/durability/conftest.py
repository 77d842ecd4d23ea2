"""Makes ``durability_support``, ``crashsim`` and ``forge`` (this folder's helpers) importable by the tests here,
and keeps memvid's index cache and scratch directories inside each test's temporary folder.

The suite runs with ``--import-mode=importlib``, so this folder is not on ``sys.path``;
the child scripts run with ``sys.executable`` import the same file as a plain module.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

for _name in ("durability_support", "crashsim", "forge"):
    if _name not in sys.modules:
        _spec = importlib.util.spec_from_file_location(_name, Path(__file__).with_name(f"{_name}.py"))
        assert _spec is not None and _spec.loader is not None
        _module = importlib.util.module_from_spec(_spec)
        sys.modules[_name] = _module
        _spec.loader.exec_module(_module)


@pytest.fixture(autouse=True)
def _isolated_memvid_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Index caches and writers' scratch directories go to fresh temporary folders
    (children inherit the environment), never to ``~/.cache`` or the shared
    ``/dev/shm/memvid-<uid>``; scratch stays on ``/dev/shm`` where there is one, as
    by default, since tantivy syncs often."""
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path_factory.mktemp("memvid-cache")))
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        work = Path(tempfile.mkdtemp(prefix="memvid-durability-", dir=shm))
    else:
        work = tmp_path_factory.mktemp("memvid-work")
    monkeypatch.setenv("MEMVID_WORK_DIR", str(work))
    try:
        yield
    finally:
        if work.parent == shm:
            shutil.rmtree(work, ignore_errors=True)
