"""MemvidVectorStore: nodes in and out, each query mode, deletes, durability, async and threads."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.vector_stores.memvid import NODE_ID_KEY, MemvidVectorStore

from memvid import CapsuleLockedError, FunctionEmbedder, Memvid, ReadOnlyError


def _node(node_id: str, text: str, vector: list[float], doc: str | None = None, **metadata: object) -> TextNode:
    node = TextNode(id_=node_id, text=text, metadata=metadata, embedding=vector)
    if doc is not None:
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
    return node


NODES = [
    _node("tea", "Alice drinks green tea every morning", [1.0, 0.0, 0.0], doc="d1", topic="drinks"),
    _node("coffee", "Bob prefers strong black coffee", [0.8, 0.6, 0.0], doc="d1", topic="drinks"),
    _node("rust", "The borrow checker keeps Rust memory safe", [0.0, 0.1, 1.0], doc="d2", topic="code"),
    _node("python", "Python lists are dynamic arrays of references", [0.0, 0.7, 0.7], doc="d2", topic="code"),
]


@pytest.fixture
def store(capsule: Path) -> MemvidVectorStore:
    store = MemvidVectorStore(capsule)
    store.add(NODES)
    yield store
    store.close()


def test_is_a_llama_index_vector_store_that_stores_text(store: MemvidVectorStore) -> None:
    assert isinstance(store, BasePydanticVectorStore)
    assert store.stores_text is True
    assert isinstance(store.client, Memvid)
    assert MemvidVectorStore.class_name() == "MemvidVectorStore"


def test_a_node_is_one_frame(store: MemvidVectorStore) -> None:
    frame = store.client.get_by_uri("rust")
    assert frame.text == "The borrow checker keeps Rust memory safe"
    assert frame.metadata["topic"] == "code"
    assert frame.metadata["ref_doc_id"] == "d2"
    assert frame.metadata[NODE_ID_KEY] == "rust"
    assert frame.embedding is not None and frame.embedding.tolist() == pytest.approx([0.0, 0.1, 1.0])
    assert len(store.client) == len(NODES)


def test_get_nodes_round_trips_text_metadata_relationships_and_embeddings(store: MemvidVectorStore) -> None:
    got = store.get_nodes(node_ids=["python", "missing", "tea"])
    assert [n.node_id for n in got] == ["python", "tea"]
    assert got[1].get_content() == NODES[0].get_content()
    assert got[1].metadata == {"topic": "drinks"}
    assert got[1].ref_doc_id == "d1"
    assert got[0].embedding == pytest.approx([0.0, 0.7, 0.7], abs=1e-6)
    assert sorted(n.node_id for n in store.get_nodes()) == sorted(n.node_id for n in NODES)
    assert len(store.get_nodes(node_ids=[])) == len(NODES)  # an empty list does not restrict


def test_get_nodes_by_ids_and_filters(store: MemvidVectorStore) -> None:
    code = MetadataFilters(filters=[MetadataFilter(key="topic", value="code")])
    assert [n.node_id for n in store.get_nodes(node_ids=["tea", "rust"], filters=code)] == ["rust"]


def test_add_replaces_a_node_with_the_same_id(store: MemvidVectorStore) -> None:
    replaced = _node("tea", "Alice switched to oolong", [1.0, 0.1, 0.0], doc="d1", topic="drinks")
    dup = _node("new", "first version", [0.0, 0.0, 1.0])
    dup2 = _node("new", "second version", [0.0, 0.0, 1.0])
    assert store.add([replaced, dup, dup2]) == ["tea", "new", "new"]
    assert len(store.client) == len(NODES) + 1
    assert store.get_nodes(["tea"])[0].get_content() == "Alice switched to oolong"
    assert store.get_nodes(["new"])[0].get_content() == "second version"


def test_vector_query(store: MemvidVectorStore) -> None:
    result = store.query(VectorStoreQuery(query_embedding=[0.7, 0.7, 0.0], similarity_top_k=2))
    assert result.ids == ["coffee", "tea"]
    assert result.nodes is not None and [n.node_id for n in result.nodes] == result.ids
    assert result.similarities is not None and result.similarities[0] >= result.similarities[1]
    assert result.nodes[0].get_content() == "Bob prefers strong black coffee"


def test_text_search_uses_bm25_and_sparse_top_k(store: MemvidVectorStore) -> None:
    q = VectorStoreQuery(query_str="borrow checker", mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=3)
    assert store.query(q).ids == ["rust"]
    q = VectorStoreQuery(query_str="coffee tea", mode="text_search", similarity_top_k=5, sparse_top_k=1)
    assert len(store.query(q).ids or []) == 1
    q = VectorStoreQuery(query_str="coffee tea", mode="sparse", similarity_top_k=5)
    assert set(store.query(q).ids or []) == {"tea", "coffee"}


def test_hybrid_alpha_weights_vector_against_bm25(store: MemvidVectorStore) -> None:
    def ids(alpha: float | None) -> list[str]:
        q = VectorStoreQuery(
            query_str="python arrays",
            query_embedding=[1.0, 0.0, 0.0],  # points at "tea"
            mode="hybrid",
            similarity_top_k=4,
            alpha=alpha,
        )
        return store.query(q).ids or []

    assert ids(1.0)[0] == "tea"  # all vector
    assert ids(0.0)[0] == "python"  # all BM25
    assert set(ids(None)) == {n.node_id for n in NODES}  # memvid's default (adaptive) fusion
    q = VectorStoreQuery(query_str="python", query_embedding=[1.0, 0, 0], mode="hybrid", hybrid_top_k=1)
    assert len(store.query(q).ids or []) == 1


def test_mmr_prefers_diverse_results(store: MemvidVectorStore) -> None:
    plain = store.query(VectorStoreQuery(query_embedding=[1.0, 0.3, 0.1], similarity_top_k=2))
    mmr = store.query(
        VectorStoreQuery(query_embedding=[1.0, 0.3, 0.1], similarity_top_k=2, mode="mmr", mmr_threshold=0.1)
    )
    assert plain.ids == ["tea", "coffee"]
    assert mmr.ids is not None and mmr.ids[0] == "tea" and mmr.ids[1] != "coffee"


def test_node_ids_and_doc_ids_restrict_a_query(store: MemvidVectorStore) -> None:
    q = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=4, node_ids=["rust", "python"])
    assert set(store.query(q).ids or []) == {"rust", "python"}
    q = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=4, node_ids=[])
    assert len(store.query(q).ids or []) == 4  # an empty list does not restrict
    q = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=4, doc_ids=["d2"])
    assert set(store.query(q).ids or []) == {"rust", "python"}


def test_unsupported_mode_and_missing_inputs_are_clear_errors(store: MemvidVectorStore) -> None:
    with pytest.raises(ValueError, match="svm"):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0], mode="svm"))
    with pytest.raises(ValueError, match="query_str"):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0], mode="text_search"))
    with pytest.raises(ValueError, match="query_embedding"):
        store.query(VectorStoreQuery(similarity_top_k=2))


def test_query_on_an_empty_store_finds_nothing(capsule: Path) -> None:
    with MemvidVectorStore(capsule) as store:
        result = store.query(VectorStoreQuery(query_embedding=[1.0, 0.0], similarity_top_k=3))
        assert result.ids == [] and result.nodes == []


def test_delete_by_ref_doc_id(store: MemvidVectorStore) -> None:
    store.delete("d1")
    assert sorted(n.node_id for n in store.get_nodes()) == ["python", "rust"]
    store.delete("no-such-doc")
    assert len(store.client) == 2


def test_delete_nodes_by_ids_filters_or_both(store: MemvidVectorStore) -> None:
    store.delete_nodes()  # neither ids nor filters: nothing
    store.delete_nodes(node_ids=[])
    assert len(store.client) == 4
    drinks = MetadataFilters(filters=[MetadataFilter(key="topic", value="drinks")])
    store.delete_nodes(node_ids=["tea", "rust"], filters=drinks)
    assert sorted(n.node_id for n in store.get_nodes()) == ["coffee", "python", "rust"]
    store.delete_nodes(node_ids=["rust"])
    assert sorted(n.node_id for n in store.get_nodes()) == ["coffee", "python"]
    store.delete_nodes(node_ids=[], filters=drinks)
    assert [n.node_id for n in store.get_nodes()] == ["python"]


def test_clear(store: MemvidVectorStore) -> None:
    store.clear()
    assert store.get_nodes() == []
    assert store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0], similarity_top_k=2)).ids == []


def test_every_mutation_is_committed_at_once(store: MemvidVectorStore, capsule: Path) -> None:
    store.delete_nodes(node_ids=["rust"])
    # Another process would see it now: open a reader without closing the store.
    with Memvid.open(capsule, read_only=True) as reader:
        assert sorted(f.uri for f in reader.frames()) == ["coffee", "python", "tea"]
    assert store.client.pending == 0


def test_reopen_from_the_path(store: MemvidVectorStore, capsule: Path) -> None:
    store.close()
    with MemvidVectorStore(capsule) as again:
        assert again.query(VectorStoreQuery(query_embedding=[0.0, 0.1, 1.0], similarity_top_k=1)).ids == ["rust"]
    with MemvidVectorStore(capsule, read_only=True) as reader:
        assert len(reader.get_nodes()) == 4
        with pytest.raises(ReadOnlyError):
            reader.add([_node("x", "x", [1.0, 0, 0])])


def test_one_writer_at_a_time(store: MemvidVectorStore, capsule: Path) -> None:
    with pytest.raises(CapsuleLockedError):
        MemvidVectorStore(capsule)


def test_kind_keeps_stores_apart_in_one_capsule(capsule: Path) -> None:
    with Memvid.create(capsule) as mem:
        notes = MemvidVectorStore(memvid=mem, kind="notes")
        code = MemvidVectorStore(memvid=mem, kind="code")
        notes.add(NODES[:2])
        code.add(NODES[2:])
        q = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=4)
        assert set(code.query(q).ids or []) == {"rust", "python"}
        assert [n.node_id for n in notes.get_nodes(["tea", "rust"])] == ["tea"]
        notes.clear()
        assert len(mem) == 2
        notes.close()  # a handle it was given stays open
        assert not mem.closed


def test_frames_written_by_other_tools_are_plain_text_nodes(capsule: Path) -> None:
    with Memvid.create(capsule) as mem:
        mem.put("written by the memvid CLI", uri="notes/cli", metadata={"source": "cli"}, embedding=[1.0, 0.0])
        mem.put("no uri here", embedding=[0.0, 1.0])
        mem.commit()
    with MemvidVectorStore(capsule) as store:
        nodes = store.query(VectorStoreQuery(query_embedding=[1.0, 0.1], similarity_top_k=2)).nodes or []
        assert [n.node_id for n in nodes] == ["notes/cli", "memvid-frame-1"]
        assert nodes[0].get_content() == "written by the memvid CLI" and nodes[0].metadata == {"source": "cli"}


def test_capsule_embedder_embeds_nodes_without_vectors_and_text_queries(capsule: Path) -> None:
    def letters(texts: list[str]) -> list[list[float]]:
        return [[t.count("a") + 0.1, t.count("e") + 0.1, t.count("o") + 0.1] for t in texts]

    embedder = FunctionEmbedder(letters, dim=3, name="letters")
    with MemvidVectorStore(capsule, embedder=embedder) as store:
        store.add([TextNode(id_="a", text="banana papaya"), TextNode(id_="o", text="good food, cool room")])
        assert store.query(VectorStoreQuery(query_str="foo boo", similarity_top_k=1)).ids == ["o"]
        hybrid = VectorStoreQuery(query_str="banana", mode="hybrid", similarity_top_k=1)
        assert store.query(hybrid).ids == ["a"]


def test_async_methods(store: MemvidVectorStore) -> None:
    async def scenario() -> None:
        await store.async_add([_node("go", "Go has goroutines", [0.0, 0.0, 1.0], doc="d3")])
        result = await store.aquery(VectorStoreQuery(query_embedding=[0.0, 0.0, 1.0], similarity_top_k=1))
        assert result.ids == ["go"]
        assert [n.node_id for n in await store.aget_nodes(["go"])] == ["go"]
        await store.adelete("d3")
        await store.adelete_nodes(node_ids=["tea"])
        assert len(await store.aget_nodes()) == 3
        await store.aclear()
        assert await store.aget_nodes() == []

    asyncio.run(scenario())


def test_threads_share_one_store(store: MemvidVectorStore) -> None:
    def work(i: int) -> list[str]:
        store.add([_node(f"t{i}", f"thread note {i}", [1.0, i / 10, 0.0])])
        return store.query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=50)).ids or []

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(12)))
    assert all(f"t{i}" in ids for i, ids in enumerate(results))
    assert len(store.client) == len(NODES) + 12


def test_constructor_needs_exactly_one_source(capsule: Path) -> None:
    with pytest.raises(ValueError, match="not both or neither"):
        MemvidVectorStore()
    with Memvid.create(capsule) as mem, pytest.raises(ValueError, match="not both or neither"):
        MemvidVectorStore(capsule, memvid=mem)
