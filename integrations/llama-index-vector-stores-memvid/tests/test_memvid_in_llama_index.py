"""The store inside LlamaIndex: VectorStoreIndex, retrievers, query engines, reopening
from the capsule path, and a VectorMemoryBlock of LlamaIndex's Memory. No network:
a deterministic embedding model (conftest) and MockLLM, which echoes its prompt."""

from __future__ import annotations

import asyncio
from pathlib import Path

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import ChatMessage, MockLLM
from llama_index.core.memory import VectorMemoryBlock
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQueryMode
from llama_index.vector_stores.memvid import MemvidVectorStore

from memvid import Memvid

DOCS = [
    Document(text="Alice drinks green tea every morning.", doc_id="alice", metadata={"person": "alice"}),
    Document(text="Bob roasts his own coffee beans.", doc_id="bob", metadata={"person": "bob"}),
    Document(text="The capsule keeps memory in one portable file.", doc_id="capsule", metadata={"person": "none"}),
]


def _build(capsule: Path, embed_model: BaseEmbedding) -> VectorStoreIndex:
    store = MemvidVectorStore(capsule)
    storage = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex.from_documents(DOCS, storage_context=storage, embed_model=embed_model)


def test_index_retriever_and_query_engine(capsule: Path, embed_model: BaseEmbedding) -> None:
    index = _build(capsule, embed_model)
    store = index.vector_store
    assert isinstance(store, MemvidVectorStore)
    try:
        assert len(store.client) == 3
        hits = index.as_retriever(similarity_top_k=1).retrieve("who drinks green tea?")
        assert [h.node.ref_doc_id for h in hits] == ["alice"]
        assert hits[0].score is not None and hits[0].score > 0

        engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1)
        response = engine.query("who roasts coffee beans?")
        assert "Bob roasts his own coffee beans." in str(response)  # MockLLM echoes the context it was given
        assert [n.node.ref_doc_id for n in response.source_nodes] == ["bob"]

        filtered = index.as_retriever(
            similarity_top_k=3, filters=MetadataFilters(filters=[MetadataFilter(key="person", value="none")])
        ).retrieve("tea")
        assert [h.node.ref_doc_id for h in filtered] == ["capsule"]

        text = index.as_retriever(vector_store_query_mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=2)
        assert [h.node.ref_doc_id for h in text.retrieve("portable file")] == ["capsule"]
        hybrid = index.as_retriever(vector_store_query_mode="hybrid", alpha=0.5, similarity_top_k=1)
        assert [h.node.ref_doc_id for h in hybrid.retrieve("coffee beans")] == ["bob"]
    finally:
        store.close()


def test_persisted_and_reopened_from_the_capsule_path(capsule: Path, embed_model: BaseEmbedding) -> None:
    index = _build(capsule, embed_model)
    index.storage_context.persist(persist_dir=str(capsule.parent / "storage"))  # harmless; the capsule is the truth
    index.vector_store.close()

    with MemvidVectorStore(capsule) as store:
        again = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
        hits = again.as_retriever(similarity_top_k=1).retrieve("green tea in the morning")
        assert [h.node.ref_doc_id for h in hits] == ["alice"]
        assert hits[0].node.metadata == {"person": "alice"}
        answer = again.as_query_engine(llm=MockLLM(), similarity_top_k=1).query("portable file?")
        assert "one portable file" in str(answer)

        again.delete_ref_doc("alice")
        again.insert(Document(text="Carol brews jasmine tea.", doc_id="carol", metadata={"person": "carol"}))
        hits = again.as_retriever(similarity_top_k=1).retrieve("jasmine tea")
        assert [h.node.ref_doc_id for h in hits] == ["carol"]

    with Memvid.open(capsule, read_only=True) as mem:  # what LlamaIndex wrote is an ordinary capsule
        assert sorted(f.metadata["ref_doc_id"] for f in mem.frames()) == ["bob", "capsule", "carol"]
        assert [h.frame.metadata["person"] for h in mem.search("coffee", mode="lex")] == ["bob"]


def test_async_retrieval(capsule: Path, embed_model: BaseEmbedding) -> None:
    index = _build(capsule, embed_model)
    try:
        hits = asyncio.run(index.as_retriever(similarity_top_k=1).aretrieve("coffee beans"))
        assert [h.node.ref_doc_id for h in hits] == ["bob"]
    finally:
        index.vector_store.close()


def test_vector_memory_block_stores_and_recalls_messages(capsule: Path, embed_model: BaseEmbedding) -> None:
    # Memory flushes old messages into its blocks with aput(...); the chat-store package's
    # tests run the whole Memory on capsules.
    messages = [
        ChatMessage(role="user", content="My cat is called Marmalade and she loves tuna."),
        ChatMessage(role="assistant", content="Marmalade sounds lovely."),
    ]
    later = [
        ChatMessage(role="user", content="I work as a lighthouse keeper in Cornwall."),
        ChatMessage(role="assistant", content="That must be a quiet job."),
    ]
    with MemvidVectorStore(capsule, kind="memory") as store:
        block = VectorMemoryBlock(vector_store=store, embed_model=embed_model, similarity_top_k=1)
        asyncio.run(block.aput(messages, session_id="s1"))
        asyncio.run(block.aput(later, session_id="s1"))
        frames = list(store.client.frames(kind="memory"))
        assert len(frames) == 2  # one node per flushed batch
        assert "Marmalade" in frames[0].text and frames[0].metadata["session_id"] == "s1"

    with MemvidVectorStore(capsule, kind="memory") as reopened:  # long-term memory outlives the process
        block = VectorMemoryBlock(vector_store=reopened, embed_model=embed_model, similarity_top_k=1)
        question = [ChatMessage(role="user", content="what is my cat called?")]
        recalled = asyncio.run(block.aget(question, session_id="s1"))
        assert "Marmalade" in recalled and "lighthouse" not in recalled
        job = asyncio.run(
            block.aget([ChatMessage(role="user", content="where do I work as a keeper?")], session_id="s1")
        )
        assert "lighthouse" in job
        # A fresh block: VectorMemoryBlock keeps the first session's filter in its query_kwargs.
        other = VectorMemoryBlock(vector_store=reopened, embed_model=embed_model, similarity_top_k=1)
        assert asyncio.run(other.aget(question, session_id="someone-else")) == ""
