"""Embeddings both ways between LangChain and memvid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_memvid_capsule import MemvidEmbeddings, MemvidVectorStore, memvid_embedder

from memvid import EmbedderMismatchError, FunctionEmbedder, InvalidInputError, Memvid


class NoSize(Embeddings):
    """Says nothing about its dimension."""

    def __init__(self) -> None:
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [[float(len(t)), 1.0, 2.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_a_langchain_embeddings_embeds_a_capsule(tmp_path: Path, bow) -> None:
    path = tmp_path / "e.mv2"
    embedder = memvid_embedder(bow, name="bag-of-words-256")
    assert (embedder.name, embedder.dim, embedder.normalized) == ("bag-of-words-256", 256, True)
    with Memvid.create(path, embedder=embedder) as mem:
        mem.put("cats purr and sleep")
        mem.put("dogs bark and fetch")
        mem.commit()
        hits = mem.search("dogs bark", mode="vec", limit=1)
        assert hits[0].frame.text == "dogs bark and fetch"
        vector = np.asarray(bow.embed_query("dogs bark and fetch"), dtype=np.float32)
        np.testing.assert_allclose(hits[0].frame.embedding, vector / np.linalg.norm(vector), rtol=1e-5)
    with pytest.raises(EmbedderMismatchError):
        Memvid.open(path, embedder=memvid_embedder(bow, name="another-model"))
    with Memvid.open(path, embedder=memvid_embedder(bow, name="bag-of-words-256")) as mem:
        assert len(mem) == 2


def test_the_dimension_and_name_are_found(bow) -> None:
    fake = memvid_embedder(DeterministicFakeEmbedding(size=12))
    assert (fake.name, fake.dim) == ("langchain:DeterministicFakeEmbedding", 12)
    probe = NoSize()
    embedder = memvid_embedder(probe, dim=None)
    assert embedder.dim == 3
    assert probe.calls == 1  # one probe, to learn the dimension
    assert memvid_embedder(NoSize(), dim=3).dim == 3
    with pytest.raises(TypeError, match="Embeddings"):
        memvid_embedder(object())  # type: ignore[arg-type]


def test_a_wrong_dimension_is_caught_before_anything_is_written(tmp_path: Path) -> None:
    embedder = memvid_embedder(NoSize(), dim=5, name="wrong")
    with pytest.raises(InvalidInputError, match="wrong"):
        embedder.embed_documents(["x"])


def test_a_memvid_embedder_serves_langchain(tmp_path: Path) -> None:
    inner = FunctionEmbedder(lambda texts: [[t.count("a"), t.count("b"), 1.0] for t in texts], dim=3, name="ab")
    embeddings = MemvidEmbeddings(inner)
    vectors = embeddings.embed_documents(["aab", "bbb"])
    assert isinstance(vectors, list) and all(isinstance(x, float) for x in vectors[0])
    np.testing.assert_allclose(vectors, inner.embed_documents(["aab", "bbb"]), rtol=1e-6)
    assert embeddings.embed_query("aa") == pytest.approx([0.894427, 0.0, 0.447214], abs=1e-5)
    assert embeddings.embed_documents([]) == []
    assert repr(embeddings) == "MemvidEmbeddings('ab')"
    with MemvidVectorStore(tmp_path / "m.mv2", embeddings) as store:
        store.add_texts(["aaaa", "bbbb"], ids=["a", "b"])
        assert [d.id for d in store.similarity_search("bbb", k=1)] == ["b"]
    with pytest.raises(TypeError, match="not a memvid Embedder"):
        MemvidEmbeddings(object())  # type: ignore[arg-type]


async def test_async_embeddings_run(tmp_path: Path) -> None:
    embeddings = MemvidEmbeddings(FunctionEmbedder(lambda texts: [[len(t), 1.0] for t in texts], dim=2, name="len"))
    assert len(await embeddings.aembed_query("abc")) == 2
    assert len(await embeddings.aembed_documents(["a", "b"])) == 2
