"""Index caches go to a private temporary directory; async tests run on asyncio (anyio's plugin);
deterministic embeddings (a hashed bag of words: no model, no network)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings


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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


DIMS = 64


def bag_of_words(text: str, dims: int = DIMS) -> list[float]:
    """One bucket per word (md5, so stable across processes), plus a small constant so
    that no vector is zero."""
    vector = [0.0] * dims
    vector[0] = 0.01
    for word in text.lower().split():
        vector[int(hashlib.md5(word.strip(".,!?").encode()).hexdigest(), 16) % dims] += 1.0
    return vector


class WordEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over :func:`bag_of_words`; counts its calls."""

    def __init__(self, dims: int = DIMS) -> None:
        self.dims = dims
        self.documents_embedded = 0
        self.queries_embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents_embedded += len(texts)
        return [bag_of_words(t, self.dims) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.queries_embedded += 1
        return bag_of_words(text, self.dims)


@pytest.fixture
def embeddings() -> WordEmbeddings:
    return WordEmbeddings()
