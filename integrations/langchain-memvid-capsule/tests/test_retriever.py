"""MemvidRetriever: the capsule's own modes, thresholds, filters and time ranges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from langchain_memvid_capsule import MemvidRetriever, MemvidVectorStore, memvid_embedder

from memvid import Memvid

NOTES = [
    ("tantivy builds the keyword index", {"topic": "lexical"}, datetime(2024, 1, 10, tzinfo=UTC)),
    ("usearch stores the vectors in an HNSW graph", {"topic": "vectors"}, datetime(2024, 2, 10, tzinfo=UTC)),
    ("hybrid search fuses keyword and vector ranks", {"topic": "fusion"}, datetime(2024, 3, 10, tzinfo=UTC)),
    ("the capsule keeps every commit for time travel", {"topic": "history"}, datetime(2024, 4, 10, tzinfo=UTC)),
]


@pytest.fixture
def filled(store: MemvidVectorStore) -> MemvidVectorStore:
    texts, metadatas, times = zip(*NOTES, strict=True)
    store.add_texts(list(texts), list(metadatas), ids=[m["topic"] for m in metadatas], timestamps=list(times))
    return store


def _topics(docs) -> list[str]:
    return [d.metadata["topic"] for d in docs]


def test_each_mode_runs_the_capsule_retrievers(filled: MemvidVectorStore) -> None:
    retriever = MemvidRetriever.from_vector_store(filled, k=2)
    for mode, used in [("lex", {"lex"}), ("vec", {"vec"}), ("hybrid", {"lex", "vec"})]:
        docs = retriever.invoke("keyword index", mode=mode)
        assert docs[0].metadata["topic"] == "lexical"
        assert set(docs[0].metadata["memvid"]["retrievers"]) <= used
    hybrid = retriever.invoke("keyword index", mode="hybrid")
    assert set(hybrid[0].metadata["memvid"]["retrievers"]) == {"lex", "vec"}
    assert hybrid[0].id == "lexical"
    assert hybrid[0].page_content == NOTES[0][0]


def test_auto_mode_is_lexical_without_embeddings(filled: MemvidVectorStore) -> None:
    retriever = MemvidRetriever(capsule=filled.capsule, k=3)
    docs = retriever.invoke("HNSW graph")
    assert _topics(docs) == ["vectors"]
    assert set(docs[0].metadata["memvid"]["retrievers"]) == {"lex"}


def test_threshold_filter_and_time_range(filled: MemvidVectorStore) -> None:
    retriever = MemvidRetriever.from_vector_store(filled, mode="vec", k=4)
    assert len(retriever.invoke("keyword index")) == 4
    strict = retriever.invoke("keyword index", threshold=0.5)
    assert _topics(strict) == ["lexical"]
    assert all(d.metadata["memvid"]["score"] >= 0.5 for d in strict)
    filtered = retriever.invoke("keyword", filter={"topic": {"$in": ["fusion", "history"]}})
    assert sorted(_topics(filtered)) == ["fusion", "history"]
    spring = retriever.invoke("search", since="2024-02-01", until=datetime(2024, 4, 1, tzinfo=UTC))
    assert sorted(_topics(spring)) == ["fusion", "vectors"]
    configured = MemvidRetriever.from_vector_store(filled, mode="lex", since="2024-03-01")
    assert _topics(configured.invoke("keyword")) == ["fusion"]


def test_hit_info_can_be_left_out_and_unknown_keywords_are_refused(filled: MemvidVectorStore) -> None:
    retriever = MemvidRetriever.from_vector_store(filled, include_hit_info=False, k=1)
    (doc,) = retriever.invoke("time travel")
    assert doc.metadata == {"topic": "history"}
    with pytest.raises(TypeError, match="unexpected retriever keyword"):
        retriever.invoke("x", limit=3)


def test_a_view_of_a_past_commit_retrieves_what_was_there(filled: MemvidVectorStore) -> None:
    filled.delete(["history"])
    now = MemvidRetriever(capsule=filled.capsule, mode="lex")
    assert now.invoke("time travel") == []
    then = MemvidRetriever(capsule=filled.capsule.at(commit=-2), mode="lex")
    assert _topics(then.invoke("time travel")) == ["history"]


def test_a_capsule_with_its_own_embedder_needs_no_embeddings(tmp_path: Path, bow) -> None:
    with Memvid.create(tmp_path / "own.mv2", embedder=memvid_embedder(bow, name="bag-of-words")) as mem:
        for text, metadata, _ in NOTES:
            mem.put(text, metadata=metadata)
        mem.commit()
        docs = MemvidRetriever(capsule=mem, mode="vec", k=1).invoke("HNSW graph vectors")
        assert _topics(docs) == ["vectors"]


def test_an_empty_capsule_retrieves_nothing(tmp_path: Path, bow) -> None:
    with Memvid.create(tmp_path / "empty.mv2") as mem:
        assert MemvidRetriever(capsule=mem, embeddings=bow, mode="vec").invoke("anything") == []


async def test_ainvoke(filled: MemvidVectorStore) -> None:
    retriever = MemvidRetriever.from_vector_store(filled, mode="hybrid", k=1)
    docs = await retriever.ainvoke("commit history time travel")
    assert _topics(docs) == ["history"]


def test_frame_tags_filter_and_callback_tags_stay_langchains(tmp_path: Path) -> None:
    with Memvid.create(tmp_path / "tags.mv2") as mem:
        mem.put("tea for alice", tags={"person": "alice"})
        mem.put("tea for bob", tags={"person": "bob"})
        mem.commit()
        retriever = MemvidRetriever(capsule=mem, mode="lex", tags=["tracing-tag"], frame_tags={"person": "bob"})
        assert retriever.tags == ["tracing-tag"]
        assert [d.page_content for d in retriever.invoke("tea")] == ["tea for bob"]
        assert [d.page_content for d in retriever.invoke("tea", frame_tags={"person": "alice"})] == ["tea for alice"]


def test_hybrid_fusion_follows_memvid_unless_chosen(filled: MemvidVectorStore) -> None:
    retriever = MemvidRetriever.from_vector_store(filled, mode="hybrid", k=1)
    assert retriever.fusion is None
    query = "keyword index"
    expected = {
        fusion: filled.capsule.search(query, vector=filled.embeddings.embed_query(query), mode="hybrid", fusion=fusion)
        for fusion in ("adaptive", "rrf")
    }
    # memvid's default is adaptive: a frame both retrievers rank first scores 1 (RRF: 2 / 61).
    (default,) = retriever.invoke(query)
    assert default.metadata["memvid"]["score"] == pytest.approx(expected["adaptive"][0].score)
    assert default.metadata["memvid"]["score"] > 0.5
    (rrf,) = retriever.invoke(query, fusion="rrf")
    rrf_score = rrf.metadata["memvid"]["score"]
    assert rrf_score == pytest.approx(expected["rrf"][0].score) and rrf_score < 0.05
    (weighted,) = MemvidRetriever.from_vector_store(filled, mode="hybrid", k=1, fusion="weighted").invoke(query)
    assert weighted.metadata["memvid"]["score"] <= 1.0
