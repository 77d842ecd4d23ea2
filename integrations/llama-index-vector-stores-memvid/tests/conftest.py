"""Fixtures: a deterministic embedding model (no network) and a fresh capsule path."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

DIM = 64


def bag_of_words(text: str) -> list[float]:
    """Each word adds 1 to a dimension picked by its hash: texts sharing words point the same way."""
    vector = np.zeros(DIM)
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % DIM] += 1.0
    vector[0] += 0.01  # never all zeros
    return (vector / np.linalg.norm(vector)).tolist()


class BagOfWordsEmbedding(BaseEmbedding):
    """A deterministic LlamaIndex embedding model for tests."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return bag_of_words(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return bag_of_words(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return bag_of_words(text)


@pytest.fixture
def embed_model() -> BagOfWordsEmbedding:
    return BagOfWordsEmbedding(model_name="bag-of-words")


@pytest.fixture
def capsule(tmp_path: Path) -> Path:
    return tmp_path / "nodes.mv2"
