"""Embedding adapters both ways, alone and inside a capsule and a VectorStoreIndex."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.embeddings.memvid import LlamaIndexEmbedder, MemvidEmbedding
from llama_index.vector_stores.memvid import MemvidVectorStore

from memvid import Embedder, EmbedderMismatchError, FunctionEmbedder, InvalidInputError, Memvid


def _letters(texts: list[str]) -> list[list[float]]:
    return [[t.count("a") + 0.5, t.count("e") + 0.5, t.count("o") + 0.5] for t in texts]


def _query_letters(text: str) -> list[float]:
    return [0.0, 0.0, 1.0]  # a query instruction that changes the vector, to see it is used


@pytest.fixture
def letters() -> FunctionEmbedder:
    return FunctionEmbedder(_letters, dim=3, name="letters", query_fn=_query_letters)


# -- memvid embedder -> LlamaIndex ---------------------------------------------------------


def test_memvid_embedder_as_a_llama_index_model(letters: FunctionEmbedder) -> None:
    model = MemvidEmbedding(letters, embed_batch_size=2)
    assert isinstance(model, BaseEmbedding) and model.model_name == "letters" and model.embedder is letters
    texts = ["banana", "cheese", "food", "a", "e"]
    batch = model.get_text_embedding_batch(texts)
    assert np.allclose(batch, letters.embed_documents(texts), atol=1e-6)
    assert np.allclose(model.get_text_embedding("banana"), letters.embed_documents(["banana"])[0], atol=1e-6)
    assert model.get_query_embedding("anything") == pytest.approx([0.0, 0.0, 1.0])  # query_fn, not fn


def test_async_calls(letters: FunctionEmbedder) -> None:
    model = MemvidEmbedding(letters)

    async def scenario() -> None:
        assert await model.aget_query_embedding("x") == pytest.approx([0.0, 0.0, 1.0])
        got = await model.aget_text_embedding_batch(["aa", "ee"])
        assert np.allclose(got, letters.embed_documents(["aa", "ee"]), atol=1e-6)
        assert np.allclose(await model.aget_text_embedding("oo"), letters.embed_documents(["oo"])[0], atol=1e-6)

    asyncio.run(scenario())


def test_memvid_errors_pass_through(letters: FunctionEmbedder) -> None:
    bad = FunctionEmbedder(lambda texts: [[float("nan")] * 3 for _ in texts], dim=3, name="nan")
    with pytest.raises(InvalidInputError, match="non-finite"):
        MemvidEmbedding(bad).get_text_embedding("x")
    with pytest.raises(TypeError, match="not a memvid Embedder"):
        MemvidEmbedding(object())  # type: ignore[arg-type]


# -- LlamaIndex model -> memvid embedder ----------------------------------------------------


def test_llama_index_model_as_a_memvid_embedder(embed_model: BaseEmbedding) -> None:
    embedder = LlamaIndexEmbedder(embed_model)
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 64 and embedder.normalized
    assert embedder.name == "llama-index/BagOfWordsEmbedding/bag-of-words"
    docs = embedder.embed_documents(["green tea", "black coffee"])
    assert docs.shape == (2, 64) and docs.dtype == np.float32
    assert np.allclose(docs[0], embed_model.get_text_embedding("green tea"), atol=1e-6)
    assert np.allclose(embedder.embed_query("tea"), embed_model.get_query_embedding("tea"), atol=1e-6)
    assert LlamaIndexEmbedder(MockEmbedding(embed_dim=8), dim=8, name="mock").name == "mock"


def test_a_wrong_dim_is_caught_before_anything_is_stored() -> None:
    embedder = LlamaIndexEmbedder(MockEmbedding(embed_dim=8), dim=4)
    with pytest.raises(InvalidInputError, match="shape"):
        embedder.embed_documents(["x"])
    with pytest.raises(TypeError, match="BaseEmbedding"):
        LlamaIndexEmbedder(FunctionEmbedder(_letters, dim=3, name="x"))  # type: ignore[arg-type]


def test_a_capsule_embeds_with_a_llama_index_model(tmp_path: Path, embed_model: BaseEmbedding) -> None:
    path = tmp_path / "notes.mv2"
    with Memvid.create(path, embedder=LlamaIndexEmbedder(embed_model)) as mem:
        mem.put("Alice drinks green tea", uri="tea")
        mem.put("Bob roasts coffee beans", uri="coffee")
        mem.commit()
        assert [h.uri for h in mem.search("coffee beans", mode="vec", limit=1)] == ["coffee"]
        assert mem.get_by_uri("tea").embedding is not None
    with pytest.raises(EmbedderMismatchError):
        Memvid.open(path, embedder=LlamaIndexEmbedder(MockEmbedding(embed_dim=64)))


def test_one_model_for_the_capsule_and_the_index(tmp_path: Path) -> None:
    """A memvid embedder drives LlamaIndex's index, and the same one embeds text queries
    inside the capsule: both sides agree on every vector."""
    letters = FunctionEmbedder(_letters, dim=3, name="letters")
    model = MemvidEmbedding(letters)
    docs = [Document(text="banana papaya", doc_id="a"), Document(text="good food, cool room", doc_id="o")]
    with MemvidVectorStore(tmp_path / "index.mv2", embedder=letters) as store:
        index = VectorStoreIndex.from_documents(
            docs, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=model
        )
        assert [n.node.ref_doc_id for n in index.as_retriever(similarity_top_k=1).retrieve("foo boo")] == ["o"]
        by_capsule = store.query(VectorStoreQuery(query_str="banana", similarity_top_k=1))  # embedded by memvid
        assert by_capsule.nodes is not None and by_capsule.nodes[0].ref_doc_id == "a"
