"""Index caches go to a private temporary directory, for the tests and the doctests alike.

``llama_index/`` is not collected directly: ``llama_index``, ``llama_index.storage`` and
``llama_index.storage.chat_store`` are namespace packages (no ``__init__.py``), and pytest's importlib mode would import
``llama_index/storage/chat_store/memvid/`` as a top-level package named ``memvid``, shadowing
memvid itself. ``tests/test_memvid_chat_doctests.py`` runs those modules' doctests instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

collect_ignore = ["llama_index"]


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
