"""Suite-wide settings: index caches go to a private temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_index_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("memvid-cache")
    old = os.environ.get("MEMVID_CACHE_DIR")
    os.environ["MEMVID_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("MEMVID_CACHE_DIR", None)
    else:
        os.environ["MEMVID_CACHE_DIR"] = old
