"""MemvidVectorStore beyond the standard suite: durability, scores, MMR, filters, time, kinds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_memvid_capsule import MemvidVectorStore

from memvid import InvalidInputError, Memvid

ANIMALS = [
    ("cats purr and sleep", {"animal": "cat", "legs": 4, "tags": ["pet", "indoor"]}),
    ("dogs bark and fetch", {"animal": "dog", "legs": 4, "tags": ["pet"]}),
    ("parrots talk and fly", {"animal": "parrot", "legs": 2, "tags": ["pet", "bird"]}),
    ("eagles hunt and fly", {"animal": "eagle", "legs": 2, "tags": ["bird"], "wild": True}),
]


def _fill(store: MemvidVectorStore) -> list[str]:
    texts, metadatas = zip(*ANIMALS, strict=True)
    return store.add_texts(list(texts), list(metadatas), ids=[m["animal"] for m in metadatas])


def _ids(docs: list[Document]) -> list[str | None]:
    return [d.id for d in docs]


def test_documents_survive_reopening(tmp_path: Path, bow) -> None:
    path = tmp_path / "durable.mv2"
    with MemvidVectorStore(path, bow) as store:
        _fill(store)
        assert store.capsule.pending == 0  # every call commits
    with MemvidVectorStore(path, bow) as store:
        assert _ids(store.similarity_search("dogs bark", k=1)) == ["dog"]
        (cat,) = store.get_by_ids(["cat"])
        assert cat == Document(id="cat", page_content=ANIMALS[0][0], metadata=ANIMALS[0][1])


def test_a_handle_passed_in_stays_open_and_is_used(tmp_path: Path, bow) -> None:
    with Memvid.create(tmp_path / "h.mv2") as mem:
        with MemvidVectorStore(mem, bow) as store:
            _fill(store)
        assert not mem.closed
        assert mem.get_by_uri("cat").text == "cats purr and sleep"
        assert mem.get_by_uri("cat").embedding is not None


def test_re_adding_an_id_supersedes_and_history_keeps_the_old_text(store: MemvidVectorStore) -> None:
    store.add_texts(["first version"], ids=["doc"])
    store.add_texts(["second version"], [{"v": 2}], ids=["doc"])
    assert store.get_by_ids(["doc"]) == [Document(id="doc", page_content="second version", metadata={"v": 2})]
    assert len(store.capsule) == 1
    before = store.capsule.at(commit=-2)
    assert before.get_by_uri("doc").text == "first version"


def test_an_id_given_twice_in_one_call_keeps_the_last(store: MemvidVectorStore) -> None:
    ids = store.add_texts(["one", "two"], ids=["x", "x"])
    assert ids == ["x", "x"]
    assert [d.page_content for d in store.get_by_ids(["x"])] == ["two"]
    assert len(store.capsule) == 1


def test_scores_are_cosine_and_relevance_is_in_unit_range(store: MemvidVectorStore) -> None:
    _fill(store)
    scored = store.similarity_search_with_score("cats purr and sleep", k=4)
    assert scored[0][0].id == "cat"
    assert scored[0][1] == pytest.approx(1.0, abs=1e-3)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
    relevance = store.similarity_search_with_relevance_scores("cats purr and sleep", k=4)
    for (doc, cos), (doc2, rel) in zip(scored, relevance, strict=True):
        assert doc == doc2
        assert rel == pytest.approx((1 + cos) / 2, abs=1e-6)
        assert 0.0 <= rel <= 1.0


def test_a_score_threshold_retriever_keeps_only_close_documents(store: MemvidVectorStore) -> None:
    _fill(store)
    retriever = store.as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.9})
    assert _ids(retriever.invoke("dogs bark and fetch")) == ["dog"]
    loose = store.as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.0, "k": 4})
    assert len(loose.invoke("dogs bark and fetch")) == 4


def test_search_by_vector_matches_search_by_text(store: MemvidVectorStore, bow) -> None:
    _fill(store)
    vector = bow.embed_query("parrots talk")
    assert store.similarity_search_by_vector(vector, k=2) == store.similarity_search("parrots talk", k=2)
    pairs = store.similarity_search_with_score_by_vector(vector, k=2)
    assert [d for d, _ in pairs] == store.similarity_search("parrots talk", k=2)


def test_mmr_trades_relevance_for_diversity(store: MemvidVectorStore) -> None:
    store.add_texts(["apple pie", "apple pie", "apple cider"], ids=["a1", "a2", "cider"])
    plain = store.similarity_search("apple pie", k=2)
    assert sorted(_ids(plain)) == ["a1", "a2"]  # the two duplicates
    diverse = store.max_marginal_relevance_search("apple pie", k=2, fetch_k=3, lambda_mult=0.3)
    assert diverse[0].id in ("a1", "a2")
    assert diverse[1].id == "cider"  # the duplicate adds nothing new
    relevant = store.max_marginal_relevance_search("apple pie", k=2, fetch_k=3, lambda_mult=1.0)
    assert sorted(_ids(relevant)) == ["a1", "a2"]
    by_vector = store.max_marginal_relevance_search_by_vector(
        store.embeddings.embed_query("apple pie"), k=2, fetch_k=3, lambda_mult=0.3
    )
    assert by_vector == diverse


def test_mmr_honours_filters_and_handles_an_empty_store(store: MemvidVectorStore) -> None:
    assert store.max_marginal_relevance_search("anything", k=2) == []
    _fill(store)
    docs = store.max_marginal_relevance_search("fly", k=4, filter={"legs": 2})
    assert sorted(_ids(docs)) == ["eagle", "parrot"]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"animal": "cat"}, ["cat"]),
        ({"animal": {"$eq": "dog"}}, ["dog"]),
        ({"animal": {"$ne": "dog"}}, ["cat", "eagle", "parrot"]),
        ({"animal": {"$in": ["cat", "eagle"]}}, ["cat", "eagle"]),
        ({"animal": {"$nin": ["cat", "eagle"]}}, ["dog", "parrot"]),
        ({"legs": {"$gt": 2}}, ["cat", "dog"]),
        ({"legs": {"$lte": 2}}, ["eagle", "parrot"]),
        ({"legs": {"$between": [2, 3]}}, ["eagle", "parrot"]),
        ({"animal": {"$like": "%arr%"}}, ["parrot"]),
        ({"animal": {"$ilike": "%AG%"}}, ["eagle"]),
        ({"wild": {"$exists": True}}, ["eagle"]),
        ({"tags": {"$contains": "bird"}}, ["eagle", "parrot"]),
        ({"$and": [{"legs": 2}, {"tags": {"$contains": "pet"}}]}, ["parrot"]),
        ({"$or": [{"animal": "cat"}, {"wild": True}]}, ["cat", "eagle"]),
        ({"$not": {"legs": 4}}, ["eagle", "parrot"]),
        ({"legs": 4, "animal": {"$in": ["dog", "eagle"]}}, ["dog"]),
        ({}, ["cat", "dog", "eagle", "parrot"]),
    ],
)
def test_metadata_filters(store: MemvidVectorStore, filter: dict, expected: list[str]) -> None:
    _fill(store)
    assert sorted(_ids(store.similarity_search("animals", k=10, filter=filter))) == expected


def test_bad_filters_are_clear_errors(store: MemvidVectorStore) -> None:
    _fill(store)
    with pytest.raises(InvalidInputError):
        store.similarity_search("x", filter={"legs": {"$near": 3}})
    with pytest.raises(ValueError, match="only '%text%'"):
        store.similarity_search("x", filter={"animal": {"$like": "c_t"}})
    with pytest.raises(ValueError, match=r"\$between takes"):
        store.similarity_search("x", filter={"legs": {"$between": [1]}})
    with pytest.raises(TypeError, match="filter must be a dict"):
        store.similarity_search("x", filter=lambda doc: True)
    with pytest.raises(TypeError, match="unexpected search keyword"):
        store.similarity_search("x", fitler={"legs": 2})


def test_time_ranges_filter_on_timestamps(store: MemvidVectorStore) -> None:
    store.add_texts(
        ["report of january", "report of march", "report of may"],
        ids=["jan", "mar", "may"],
        timestamps=[datetime(2024, 1, 15, tzinfo=UTC), "2024-03-15T00:00:00Z", datetime(2024, 5, 15, tzinfo=UTC)],
    )
    spring = store.similarity_search("report", k=10, since="2024-03-01", until="2024-05-01")
    assert _ids(spring) == ["mar"]
    assert sorted(_ids(store.similarity_search("report", k=10, until=datetime(2024, 4, 1, tzinfo=UTC)))) == [
        "jan",
        "mar",
    ]
    later = store.max_marginal_relevance_search("report", k=10, since="2024-03-01")
    assert sorted(_ids(later)) == ["mar", "may"]


def test_kinds_keep_collections_apart_in_one_capsule(tmp_path: Path, bow) -> None:
    with Memvid.create(tmp_path / "two.mv2") as mem:
        recipes = MemvidVectorStore(mem, bow, kind="recipe")
        notes = MemvidVectorStore(mem, bow, kind="note")
        recipes.add_texts(["apple pie with cinnamon"], ids=["pie"])
        notes.add_texts(["buy apples tomorrow"], ids=["todo"])
        assert _ids(recipes.similarity_search("apple", k=5)) == ["pie"]
        assert _ids(notes.similarity_search("apple", k=5)) == ["todo"]
        assert notes.get_by_ids(["pie"]) == []
        notes.delete(["pie"])  # not a note: left alone
        assert recipes.get_by_ids(["pie"])[0].id == "pie"
        notes.delete()  # every note, and nothing else
        assert len(mem) == 1
        assert mem.get_by_uri("pie").kind == "recipe"


def test_delete_all_and_missing_ids(store: MemvidVectorStore) -> None:
    _fill(store)
    assert store.delete(["cat", "cat", "nobody"]) is True
    assert store.get_by_ids(["cat", "dog"]) == [store.get_by_ids(["dog"])[0]]
    store.delete()
    assert store.similarity_search("dogs", k=3) == []
    assert len(store.capsule) == 0


def test_a_failed_add_stores_nothing(store: MemvidVectorStore) -> None:
    store.add_texts(["kept"], ids=["kept"])
    with pytest.raises(InvalidInputError):
        store.add_texts(["fine", "broken"], [{}, {"when": object()}], ids=["fine", "broken"])
    assert store.capsule.pending == 0
    assert store.get_by_ids(["fine", "broken"]) == []
    assert _ids(store.get_by_ids(["kept"])) == ["kept"]


def test_bad_arguments(store: MemvidVectorStore) -> None:
    with pytest.raises(ValueError, match="got 1 metadatas for 2 texts"):
        store.add_texts(["a", "b"], [{}])
    with pytest.raises(ValueError, match="got 1 ids for 2 texts"):
        store.add_texts(["a", "b"], ids=["a"])
    with pytest.raises(ValueError, match="non-empty str"):
        store.add_texts(["a"], ids=[""])
    with pytest.raises(TypeError, match="unexpected keyword"):
        store.add_texts(["a"], namespace="x")
    with pytest.raises(ValueError, match="k must be"):
        store.similarity_search("a", k=-1)
    with pytest.raises(TypeError, match=r"path or a memvid\.Memvid"):
        MemvidVectorStore(42, store.embeddings)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Embeddings"):
        MemvidVectorStore(store.capsule, object())  # type: ignore[arg-type]
    assert store.similarity_search("a", k=0) == []
    assert store.add_texts([]) == []


def test_a_second_embedding_dimension_is_refused(tmp_path: Path) -> None:
    with MemvidVectorStore(tmp_path / "d.mv2", DeterministicFakeEmbedding(size=8)) as store:
        store.add_texts(["eight"], ids=["8"])
        other = MemvidVectorStore(store.capsule, DeterministicFakeEmbedding(size=4))
        with pytest.raises(InvalidInputError, match="dimension"):
            other.add_texts(["four"], ids=["4"])
        with pytest.raises(InvalidInputError):
            other.similarity_search("four")
        assert store.get_by_ids(["4"]) == []


def test_from_texts_and_from_documents(tmp_path: Path, bow) -> None:
    store = MemvidVectorStore.from_texts(
        ["cats purr", "dogs bark"], bow, [{"n": 1}, {"n": 2}], ids=["c", "d"], capsule=tmp_path / "t.mv2"
    )
    with store:
        assert _ids(store.similarity_search("dogs", k=1)) == ["d"]
    docs = [Document(id="c", page_content="cats purr", metadata={"n": 1}), Document(page_content="dogs bark")]
    with MemvidVectorStore.from_documents(docs, bow, capsule=tmp_path / "d.mv2", kind="animals") as store:
        assert store.kind == "animals"
        assert store.get_by_ids(["c"]) == [docs[0]]
        assert len(store.similarity_search("dogs", k=5)) == 2
    with pytest.raises(ValueError, match="needs capsule="):
        MemvidVectorStore.from_texts(["x"], bow)


def test_embeddings_property(store: MemvidVectorStore, bow) -> None:
    assert store.embeddings is bow


async def test_async_methods_run_concurrently_on_one_handle(tmp_path: Path) -> None:
    # Random vectors, one per distinct text: each text is its own nearest neighbour.
    store = MemvidVectorStore(tmp_path / "async.mv2", DeterministicFakeEmbedding(size=32))
    await asyncio.gather(*(store.aadd_texts([f"note number {i}"], [{"i": i}], ids=[f"n{i}"]) for i in range(20)))
    assert len(store.capsule) == 20
    assert store.capsule.pending == 0
    results = await asyncio.gather(*(store.asimilarity_search(f"note number {i}", k=1) for i in range(20)))
    assert [docs[0].metadata["i"] for docs in results] == list(range(20))
    mmr = await store.amax_marginal_relevance_search("note number 3", k=2, fetch_k=5)
    assert mmr[0].id == "n3"
    scored = await store.asimilarity_search_with_relevance_scores("note number 4", k=1, filter={"i": {"$gte": 4}})
    assert scored[0][0].id == "n4"
    by_vector = await store.asimilarity_search_by_vector(store.embeddings.embed_query("note number 5"), k=1)
    assert by_vector[0].id == "n5"
    await store.adelete([f"n{i}" for i in range(10)])
    assert sorted(d.id for d in await store.aget_by_ids([f"n{i}" for i in range(20)])) == sorted(
        f"n{i}" for i in range(10, 20)
    )
    store.close()


async def test_afrom_texts(tmp_path: Path, bow) -> None:
    store = await MemvidVectorStore.afrom_texts(["async text"], bow, ids=["a"], capsule=tmp_path / "a.mv2")
    with store:
        assert _ids(await store.asimilarity_search("async", k=1)) == ["a"]


def test_returned_vectors_are_the_stored_ones(store: MemvidVectorStore, bow) -> None:
    store.add_texts(["exact vectors"], ids=["v"])
    stored = store.capsule.get_by_uri("v").embedding
    np.testing.assert_allclose(stored, np.asarray(bow.embed_query("exact vectors"), dtype=np.float32))
