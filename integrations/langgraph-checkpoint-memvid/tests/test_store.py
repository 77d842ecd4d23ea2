"""MemvidStore: LangGraph's BaseStore contract, checked against LangGraph's own InMemoryStore."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memvid import MemvidSaver
from langgraph.store.base import GetOp, InvalidNamespaceError, ListNamespacesOp, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore
from langgraph.store.memvid import KIND_ITEM, KIND_VECTOR, MemvidStore

from memvid import FunctionEmbedder, InvalidInputError, Memvid


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemvidStore]:
    with MemvidStore.from_path(tmp_path / "store.mv2") as s:
        yield s


@pytest.fixture
def vstore(tmp_path: Path, embeddings: Any) -> Iterator[MemvidStore]:
    with MemvidStore.from_path(
        tmp_path / "vstore.mv2", index={"dims": embeddings.dims, "embed": embeddings, "fields": ["text"]}
    ) as s:
        yield s


# -- items -----------------------------------------------------------------------------


def test_put_get_update_delete(store: MemvidStore) -> None:
    assert store.get(("users", "ada"), "prefs") is None
    store.put(("users", "ada"), "prefs", {"drink": "tea", "nested": {"cups": [1, 2]}})
    first = store.get(("users", "ada"), "prefs")
    assert first is not None
    assert (first.namespace, first.key, first.value) == (
        ("users", "ada"),
        "prefs",
        {"drink": "tea", "nested": {"cups": [1, 2]}},
    )
    assert first.created_at == first.updated_at
    assert first.created_at.tzinfo is not None

    store.put(("users", "ada"), "prefs", {"drink": "coffee"})
    second = store.get(("users", "ada"), "prefs")
    assert second is not None and second.value == {"drink": "coffee"}
    assert second.created_at == first.created_at  # an update keeps created_at, as PostgresStore does
    assert second.updated_at > first.updated_at

    store.delete(("users", "ada"), "prefs")
    assert store.get(("users", "ada"), "prefs") is None
    store.delete(("users", "ada"), "prefs")  # deleting what is not there is fine
    assert store.search(("users",)) == []


def test_items_are_frames_whose_metadata_is_the_value(store: MemvidStore) -> None:
    store.put(("docs",), "a/b#c d%", {"lang": "en", "year": 2024})
    store.put(("docs",), "other", {"lang": "fr", "year": 2019})
    frames = list(store.mem.frames(kind=KIND_ITEM, where={"lang": "en"}))
    assert [dict(f.metadata) for f in frames] == [{"lang": "en", "year": 2024}]
    assert frames[0].uri == "langgraph://store/docs/a%2Fb%23c%20d%25"
    assert store.get(("docs",), "a/b#c d%") is not None
    # The value's JSON is the frame's text, so memvid's lexical search finds memories.
    assert [h.uri for h in store.mem.search("fr", mode="lex")] == ["langgraph://store/docs/other"]


def test_labels_and_keys_with_separators_stay_apart(store: MemvidStore) -> None:
    store.put(("a",), "b", {"n": 1})
    store.put(("a", "b"), "c", {"n": 2})
    store.put(("ab",), "c", {"n": 3})
    store.put(("a/b",), "c", {"n": 4})
    store.put(("ü", "日本"), "k/%", {"n": 5})
    assert sorted(i.value["n"] for i in store.search(("a",))) == [1, 2]
    assert [i.value["n"] for i in store.search(("a", "b"))] == [2]
    assert [i.value["n"] for i in store.search(("a/b",))] == [4]
    item = store.get(("ü", "日本"), "k/%")
    assert item is not None and item.namespace == ("ü", "日本") and item.key == "k/%"
    assert sorted(store.list_namespaces()) == [("a",), ("a", "b"), ("a/b",), ("ab",), ("ü", "日本")]


def test_invalid_namespaces_raise(store: MemvidStore) -> None:
    for bad in [(), ("a", ""), ("a.b",), ("langgraph", "x")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(bad, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(("has.dot",), "k", {"v": 1})])
    store.batch([PutOp(("langgraph", "ok"), "k", {"v": 1})])  # like InMemoryStore, batch() skips the root check
    assert store.get(("langgraph", "ok"), "k") is not None


def test_values_must_be_json(store: MemvidStore) -> None:
    with pytest.raises(InvalidInputError):
        store.put(("x",), "k", {"when": object()})
    assert store.get(("x",), "k") is None
    assert store.mem.pending == 0  # nothing half-written is left behind
    with pytest.raises(NotImplementedError):
        store.put(("x",), "k", {"v": 1}, ttl=5)


def test_batch_reads_see_the_state_before_its_writes(store: MemvidStore) -> None:
    store.put(("n",), "k", {"v": 0})
    head = store.mem.head.seq
    results = store.batch(
        [
            GetOp(("n",), "k"),
            PutOp(("n",), "k", {"v": 1}),
            PutOp(("n",), "k", {"v": 2}),
            SearchOp(("n",)),
            PutOp(("n",), "new", {"v": 3}),
            ListNamespacesOp(),
        ]
    )
    assert results[0].value == {"v": 0}  # type: ignore[union-attr]
    assert [i.value for i in results[3]] == [{"v": 0}]  # type: ignore[union-attr]
    assert results[5] == [("n",)]
    assert results[1] is results[2] is results[4] is None
    assert store.get(("n",), "k").value == {"v": 2}  # type: ignore[union-attr]  # the last put wins
    assert store.mem.head.seq == head + 1  # the whole batch is one commit
    store.batch([GetOp(("n",), "k"), SearchOp(("n",))])
    assert store.mem.head.seq == head + 1  # reads commit nothing


# -- filters and paging -----------------------------------------------------------------


DOCS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("docs", "a"), "1", {"color": "red", "score": 4.5, "meta": {"lang": "en", "tags": ["x"]}, "n": None}),
    (("docs", "a"), "2", {"color": "red", "score": 3.0, "meta": {"lang": "fr"}}),
    (("docs", "b"), "3", {"color": "green", "score": 4.0, "meta": {"lang": "en"}, "list": [1, 2]}),
    (("docs",), "4", {"color": "blue", "score": 3.5, "list": [1, 2, 3], "n": 0}),
    (("other",), "5", {"color": "red", "score": 5.0}),
]

FILTERS: list[dict[str, Any]] = [
    {},
    {"color": "red"},
    {"score": {"$gt": 3.2}},
    {"score": {"$gte": 3.0, "$lt": 4.5}},
    {"score": {"$lte": 3.5}, "color": "blue"},
    {"color": {"$ne": "red"}},
    {"meta": {"lang": "en"}},
    {"meta.lang": "fr"},
    {"list": [1, 2]},
    {"n": None},
    {"n": 0},
    {"color": {"$eq": "green"}},
    {"meta": {"tags": ["x"]}},
]


def _seed(*stores: Any) -> None:
    for s in stores:
        for ns, key, value in DOCS:
            s.put(ns, key, value)


@pytest.mark.parametrize("filter", FILTERS, ids=str)
@pytest.mark.parametrize("prefix", [("docs",), ("docs", "a"), ("other",), ("nothing",)], ids=str)
def test_filters_match_in_memory_store(store: MemvidStore, filter: dict[str, Any], prefix: tuple[str, ...]) -> None:
    reference = InMemoryStore()
    _seed(store, reference)
    if "meta.lang" in filter:
        # Dotted keys are paths (PostgresStore, and InMemoryStore after langgraph-checkpoint 4.3).
        expected = {"2"} if prefix[0] == "docs" else set()
    else:
        expected = {i.key for i in reference.search(prefix, filter=filter, limit=100)}
    got = store.search(prefix, filter=filter, limit=100)
    assert {i.key for i in got} == expected
    assert all(i.score is None for i in got)


def test_operators_beyond_langgraphs_pass_through_to_memvid(store: MemvidStore) -> None:
    _seed(store)
    assert {i.key for i in store.search(("docs",), filter={"color": {"$in": ["green", "blue"]}})} == {"3", "4"}
    assert {i.key for i in store.search(("docs",), filter={"list": {"$contains": 3}})} == {"4"}
    assert {i.key for i in store.search((), filter={"meta": {"$exists": False}})} == {"4", "5"}
    with pytest.raises(InvalidInputError):
        store.search(("docs",), filter={"color": {"$regex": "r.*"}})


def test_offset_and_limit_page_without_overlap(store: MemvidStore) -> None:
    for i in range(7):
        store.put(("p",), f"k{i}", {"i": i})
    pages = [store.search(("p",), limit=3, offset=o) for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    keys = [i.key for p in pages for i in p]
    assert keys == [f"k{i}" for i in range(7)]  # the order items were written in, as InMemoryStore
    assert store.search(("p",), limit=0) == []


# -- namespaces --------------------------------------------------------------------------


NAMESPACES = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
    ("b", "a", "f"),
    ("users", "123"),
    ("users", "456", "settings"),
    ("admin", "users", "789"),
]

NAMESPACE_QUERIES: list[dict[str, Any]] = [
    {},
    {"prefix": ("a", "b")},
    {"suffix": ("f",)},
    {"prefix": ("a",), "suffix": ("f",)},
    {"prefix": ("a", "b"), "max_depth": 3},
    {"max_depth": 2},
    {"prefix": ("a", "b"), "limit": 2},
    {"prefix": ("a", "b"), "offset": 2},
    {"prefix": ("a", "*", "f")},
    {"suffix": ("*", "f")},
    {"prefix": ("*", "users"), "suffix": ("*", "settings")},
    {"prefix": ("nonexistent",)},
    {"prefix": ("users", "123")},
    {"limit": 3, "offset": 4},
]


@pytest.mark.parametrize("query", NAMESPACE_QUERIES, ids=str)
def test_list_namespaces_matches_in_memory_store(store: MemvidStore, query: dict[str, Any]) -> None:
    reference = InMemoryStore()
    for s in (store, reference):
        for i, ns in enumerate(NAMESPACES):
            s.put(ns, f"id_{i}", {"data": i})
            s.put(ns, f"extra_{i}", {"data": i})
    assert store.list_namespaces(**query) == reference.list_namespaces(**query)


def test_list_namespaces_follows_deletes(store: MemvidStore) -> None:
    store.put(("a", "b"), "k", {"v": 1})
    store.put(("c",), "k", {"v": 1})
    assert store.list_namespaces() == [("a", "b"), ("c",)]
    store.delete(("a", "b"), "k")
    assert store.list_namespaces() == [("c",)]
    assert store.list_namespaces(prefix=("a",)) == []


# -- semantic search ---------------------------------------------------------------------


def _fill_colours(*stores: Any) -> None:
    docs = [
        ("doc1", {"text": "red apple", "color": "red", "score": 4.5}),
        ("doc2", {"text": "red car", "color": "red", "score": 3.0}),
        ("doc3", {"text": "green apple", "color": "green", "score": 4.0}),
        ("doc4", {"text": "blue car", "color": "blue", "score": 3.5}),
    ]
    for s in stores:
        for key, value in docs:
            s.put(("test",), key, value)


def test_semantic_search_ranks_like_in_memory_store(vstore: MemvidStore, embeddings: Any) -> None:
    reference = InMemoryStore(index={"dims": embeddings.dims, "embed": embeddings, "fields": ["text"]})
    _fill_colours(vstore, reference)
    for query, filter in [
        ("apple", None),
        ("apple", {"color": "red"}),
        ("car", {"color": "red"}),
        ("blue bbbbluuu", {"score": {"$gt": 3.2}}),
        ("apple", {"score": {"$gte": 4.0}, "color": "green"}),
        ("red car", None),
    ]:
        got = vstore.search(("test",), query=query, filter=filter)
        want = reference.search(("test",), query=query, filter=filter)
        assert [round(i.score or 0, 3) for i in got] == pytest.approx([round(i.score or 0, 3) for i in want], abs=2e-3)
        assert {i.key for i in got} == {i.key for i in want}
        # Ties may come in another order; the best score's items agree.
        top = max(i.score or 0 for i in want)
        assert {i.key for i in got if abs((i.score or 0) - top) < 2e-3} == {
            i.key for i in want if abs((i.score or 0) - top) < 2e-3
        }
    assert vstore.search(("test",), query="car", filter={"color": "red"})[0].key == "doc2"


def test_semantic_search_pages(vstore: MemvidStore) -> None:
    for i in range(5):
        vstore.put(("test",), f"doc{i}", {"text": f"test document number {i}"})
    page1 = vstore.search(("test",), query="test", limit=2)
    page2 = vstore.search(("test",), query="test", limit=2, offset=2)
    assert len(page1) == len(page2) == 2
    assert not {i.key for i in page1} & {i.key for i in page2}
    assert len(vstore.search(("test",), query="test", limit=10)) == 5
    for query in ["", None, "test " * 100, "test!@#$%^&*()"]:
        assert len(vstore.search(("test",), query=query)) == 5


def test_updates_reembed_and_index_false_is_not_scored(vstore: MemvidStore, embeddings: Any) -> None:
    vstore.put(("test",), "doc1", {"text": "zany zebra xerxes"})
    vstore.put(("test",), "doc2", {"text": "something about dogs"})
    before = vstore.search(("test",), query="zany xerxes")
    assert before[0].key == "doc1"
    vstore.put(("test",), "doc1", {"text": "new text about dogs"})
    after = {i.key: i.score for i in vstore.search(("test",), query="zany xerxes")}
    assert (after["doc1"] or 0) < (before[0].score or 0)

    embedded = embeddings.documents_embedded
    vstore.put(("test",), "doc3", {"text": "new text about dogs"}, index=False)
    assert embeddings.documents_embedded == embedded
    results = vstore.search(("test",), query="new text about dogs", limit=2)
    assert results[0].key == "doc1"
    assert "doc3" not in {i.key for i in results}
    # With room on the page, unscored items come after the scored ones (InMemoryStore's rule).
    everything = vstore.search(("test",), query="new text about dogs", limit=10)
    assert [i.key for i in everything][-1] == "doc3" and everything[-1].score is None


def test_several_indexed_texts_score_by_the_best(tmp_path: Path, embeddings: Any) -> None:
    index = {"dims": embeddings.dims, "embed": embeddings, "fields": ["title", "notes[*]"]}
    reference = InMemoryStore(index=index)  # type: ignore[arg-type]
    with MemvidStore.from_path(tmp_path / "multi.mv2", index=index) as store:  # type: ignore[arg-type]
        for s in (store, reference):
            s.put(("m",), "a", {"title": "travel plans", "notes": ["book a flight", "pack the tent"]})
            s.put(("m",), "b", {"title": "camping gear", "notes": ["tent poles are broken"]})
            s.put(("m",), "c", {"title": "groceries", "notes": []})
        kinds = [f.kind for f in store.mem.frames(uri_prefix="langgraph://store/m/")]
        assert kinds.count(KIND_ITEM) == 3 and kinds.count(KIND_VECTOR) == 3  # a: 3 texts, b: 2, c: 1
        for query in ["tent", "flight", "groceries", "camping tent"]:
            got = [(i.key, round(i.score or 0, 2)) for i in store.search(("m",), query=query)]
            want = [(i.key, round(i.score or 0, 2)) for i in reference.search(("m",), query=query)]
            assert sorted(got) == sorted(want), query
        # Replacing an item drops its extra texts; deleting drops everything.
        store.put(("m",), "a", {"title": "travel plans", "notes": []})
        assert [f.kind for f in store.mem.frames(uri_prefix="langgraph://store/m/a")] == [KIND_ITEM]
        store.delete(("m",), "b")
        assert [f.uri for f in store.mem.frames(uri_prefix="langgraph://store/m/b")] == []
        assert store.search(("m",), query="tent poles")[0].key != "b"


def test_a_memvid_embedder_is_accepted_as_is(tmp_path: Path) -> None:
    def embed(texts: list[str]) -> list[list[float]]:
        return [[1.0, float(len(t)), 0.5] for t in texts]

    embedder = FunctionEmbedder(embed, dim=3, name="length")
    with MemvidStore.from_path(tmp_path / "fe.mv2", index={"embed": embedder, "fields": ["t"]}) as store:
        assert store.embedder is embedder
        store.put(("x",), "short", {"t": "ab"})
        store.put(("x",), "long", {"t": "a" * 40})
        assert store.search(("x",), query="a" * 39)[0].key == "long"
    with pytest.raises(InvalidInputError):
        MemvidStore(tmp_path / "fe2.mv2", index={"dims": 4, "embed": embedder})
    with pytest.raises(InvalidInputError):
        MemvidStore(tmp_path / "fe3.mv2", index={"embed": lambda texts: [[1.0] for _ in texts]})  # no dims


def test_async_api_with_an_async_only_embedding_function(tmp_path: Path) -> None:
    calls: list[int] = []

    async def aembed(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return [[1.0, float("apple" in t), float("car" in t)] for t in texts]

    async def main() -> None:
        with MemvidStore.from_path(tmp_path / "async.mv2", index={"dims": 3, "embed": aembed}) as store:
            await asyncio.gather(
                store.aput(("a",), "1", {"text": "red apple"}),
                store.aput(("a",), "2", {"text": "blue car"}),
            )
            found = await store.asearch(("a",), query="car")
            assert found[0].key == "2"
            assert (await store.aget(("a",), "1")).value == {"text": "red apple"}  # type: ignore[union-attr]
            assert await store.alist_namespaces() == [("a",)]
            await store.adelete(("a",), "1")
            assert await store.aget(("a",), "1") is None

    asyncio.run(main())
    assert sum(calls) >= 3


# -- files, restarts and sharing -----------------------------------------------------------


def test_a_reopened_store_finds_everything(tmp_path: Path, embeddings: Any) -> None:
    path = tmp_path / "memory.mv2"
    index = {"dims": embeddings.dims, "embed": embeddings, "fields": ["text"]}
    with MemvidStore.from_path(path, index=index) as store:  # type: ignore[arg-type]
        _fill_colours(store)
        created = store.get(("test",), "doc1").created_at  # type: ignore[union-attr]
    with MemvidStore.from_path(path, index=index) as store:  # type: ignore[arg-type]
        assert store.get(("test",), "doc1").created_at == created  # type: ignore[union-attr]
        assert store.search(("test",), query="green apple")[0].key == "doc3"
    other = {"dims": 8, "embed": lambda ts: [[1.0] * 8 for _ in ts]}
    with pytest.raises(InvalidInputError), MemvidStore.from_path(path, index=other) as store:  # type: ignore[arg-type]
        store.put(("test",), "doc9", {"text": "x"})  # the capsule's vectors are 64-d


def test_store_and_saver_share_one_capsule(tmp_path: Path) -> None:
    path = tmp_path / "agent.mv2"
    with Memvid.create(path) as mem:
        store, saver = MemvidStore(mem), MemvidSaver(mem)
        store.put(("users", "ada"), "prefs", {"drink": "tea"})
        checkpoint = {
            "v": 1,
            "id": "1",
            "ts": "2026-01-01T00:00:00+00:00",
            "channel_values": {},
            "channel_versions": {},
            "versions_seen": {},
        }
        saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, checkpoint, {}, {})  # type: ignore[arg-type]
        store.close()
        saver.close()
        assert not mem.closed  # borrowed handles stay open
    with MemvidStore.from_path(path) as store:
        assert store.get(("users", "ada"), "prefs") is not None
        assert MemvidSaver(store.mem).get_tuple({"configurable": {"thread_id": "t"}}) is not None


def test_threads_writing_at_once(tmp_path: Path) -> None:
    import threading

    with MemvidStore.from_path(tmp_path / "threads.mv2") as store:

        def work(n: int) -> None:
            for i in range(10):
                store.put(("t", str(n)), f"k{i}", {"n": n, "i": i})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.search(("t",), limit=100)) == 40
        assert len(store.list_namespaces()) == 4


def test_random_workload_matches_in_memory_store(store: MemvidStore) -> None:
    rng = random.Random(7)
    reference = InMemoryStore()
    namespaces = [("a",), ("a", "b"), ("c",), ("a", "b", "c")]
    for _ in range(120):
        ns, key = rng.choice(namespaces), f"k{rng.randrange(8)}"
        if rng.random() < 0.25:
            store.delete(ns, key)
            reference.delete(ns, key)
        else:
            value = {"x": rng.randrange(5), "tag": rng.choice(["p", "q"])}
            store.put(ns, key, value)
            reference.put(ns, key, value)
    for ns in namespaces:
        for key in (f"k{i}" for i in range(8)):
            mine, theirs = store.get(ns, key), reference.get(ns, key)
            assert (mine and mine.value) == (theirs and theirs.value)
    for prefix in [("a",), ("c",), ()]:
        for filter in [None, {"x": 3}, {"tag": "q", "x": {"$gte": 2}}]:
            assert {(i.namespace, i.key) for i in store.search(prefix, filter=filter, limit=1000)} == {
                (i.namespace, i.key) for i in reference.search(prefix, filter=filter, limit=1000)
            }
    assert store.list_namespaces() == reference.list_namespaces()
