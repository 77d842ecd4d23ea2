"""Index caches go to a private temporary directory, for the tests and the doctests alike.

``llama_index/`` is not collected directly: ``llama_index`` and ``llama_index.vector_stores``
are namespace packages (no ``__init__.py``), and pytest's importlib mode would import
``llama_index/vector_stores/memvid/`` as a top-level package named ``memvid``, shadowing
memvid itself. ``tests/test_memvid_doctests.py`` runs those modules' doctests instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

collect_ignore = ["llama_index", "bench_llamaindex.py"]


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
