"""Fixtures for the adapter's tests: index caches in a private directory, fresh capsules."""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_memvid_capsule import MemvidVectorStore


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


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Generator[None, Any, Any]:
    """Mark the async tests here, langchain-tests' included, for pytest-asyncio.

    langchain-tests writes its async tests without ``@pytest.mark.asyncio`` (its own
    suite runs in pytest-asyncio's auto mode); the root configuration keeps strict
    mode, so the mark is added here, before pytest-asyncio (an outer wrapper) turns
    marked coroutines into asyncio test items."""
    result = yield
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.asyncio)
    return result


class BagOfWords(Embeddings):
    """A deterministic embedding with meaning: each word bumps one of ``dim`` buckets, so
    texts that share words are close. (A tiny constant keeps empty texts off zero.)"""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        vector[0] = 0.01
        for word in text.lower().split():
            digest = hashlib.blake2b(word.strip(".,?!").encode(), digest_size=4).digest()
            vector[1 + int.from_bytes(digest, "big") % (self.dim - 1)] += 1.0
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


@pytest.fixture
def bow() -> BagOfWords:
    return BagOfWords()


@pytest.fixture
def store(tmp_path: Path, bow: BagOfWords) -> Iterator[MemvidVectorStore]:
    with MemvidVectorStore(tmp_path / "store.mv2", bow) as s:
        yield s
