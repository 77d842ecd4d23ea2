"""Makes ``durability_support`` (this folder's helpers) importable by the tests here,
and keeps memvid's index cache and scratch directories inside each test's temporary folder.

The suite runs with ``--import-mode=importlib``, so this folder is not on ``sys.path``;
the child scripts run with ``sys.executable`` import the same file as a plain module.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_NAME = "durability_support"

if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name(f"{_NAME}.py"))
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)


@pytest.fixture(autouse=True)
def _isolated_memvid_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Index caches and writers' scratch directories go to a fresh temporary folder
    (children inherit the environment), never to ``~/.cache`` or ``/dev/shm``."""
    root = tmp_path_factory.mktemp("memvid-dirs")
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("MEMVID_WORK_DIR", str(root / "work"))
