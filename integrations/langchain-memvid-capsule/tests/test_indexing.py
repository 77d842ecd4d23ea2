"""langchain_core.indexing.index() keeps a capsule in step with its sources."""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.indexing import InMemoryRecordManager, aindex, index
from langchain_memvid_capsule import MemvidVectorStore


def _docs(*pairs: tuple[str, str]) -> list[Document]:
    return [Document(page_content=text, metadata={"source": source}) for text, source in pairs]


def _contents(store: MemvidVectorStore) -> list[str]:
    return sorted(frame.text for frame in store.capsule.frames())


def test_incremental_cleanup(store: MemvidVectorStore) -> None:
    manager = InMemoryRecordManager(namespace="memvid/incremental")
    manager.create_schema()
    first = _docs(("alpha one", "a.txt"), ("alpha two", "a.txt"), ("beta one", "b.txt"))
    result = index(first, manager, store, cleanup="incremental", source_id_key="source", key_encoder="blake2b")
    assert result == {"num_added": 3, "num_updated": 0, "num_skipped": 0, "num_deleted": 0}

    again = index(first, manager, store, cleanup="incremental", source_id_key="source", key_encoder="blake2b")
    assert again == {"num_added": 0, "num_updated": 0, "num_skipped": 3, "num_deleted": 0}
    assert len(store.capsule) == 3

    # a.txt changed: its old chunks go, b.txt (not in this batch) stays.
    changed = index(
        _docs(("alpha three", "a.txt")),
        manager,
        store,
        cleanup="incremental",
        source_id_key="source",
        key_encoder="blake2b",
    )
    assert changed == {"num_added": 1, "num_updated": 0, "num_skipped": 0, "num_deleted": 2}
    assert _contents(store) == ["alpha three", "beta one"]
    assert [d.page_content for d in store.similarity_search("alpha three", k=1)] == ["alpha three"]


def test_full_cleanup(store: MemvidVectorStore) -> None:
    manager = InMemoryRecordManager(namespace="memvid/full")
    manager.create_schema()
    index(_docs(("alpha one", "a.txt"), ("beta one", "b.txt")), manager, store, cleanup="full", key_encoder="blake2b")
    result = index(
        _docs(("beta one", "b.txt"), ("gamma one", "c.txt")), manager, store, cleanup="full", key_encoder="blake2b"
    )
    assert result == {"num_added": 1, "num_updated": 0, "num_skipped": 1, "num_deleted": 1}
    assert _contents(store) == ["beta one", "gamma one"]
    assert index([], manager, store, cleanup="full", key_encoder="blake2b")["num_deleted"] == 2
    assert len(store.capsule) == 0


def test_the_capsule_history_records_each_run(store: MemvidVectorStore) -> None:
    manager = InMemoryRecordManager(namespace="memvid/history")
    manager.create_schema()
    index(_docs(("alpha one", "a.txt")), manager, store, cleanup="full", key_encoder="blake2b")
    index(_docs(("alpha two", "a.txt")), manager, store, cleanup="full", key_encoder="blake2b")
    assert _contents(store) == ["alpha two"]
    # The first run's document is still in the capsule's history.
    first_run = store.capsule.at(commit=1)
    assert [f.text for f in first_run.frames()] == ["alpha one"]


async def test_aindex(store: MemvidVectorStore) -> None:
    manager = InMemoryRecordManager(namespace="memvid/async")
    await manager.acreate_schema()
    docs = _docs(("alpha one", "a.txt"), ("beta one", "b.txt"))
    result = await aindex(docs, manager, store, cleanup="incremental", source_id_key="source", key_encoder="blake2b")
    assert result["num_added"] == 2
    result = await aindex(docs[:1], manager, store, cleanup="full", key_encoder="blake2b")
    assert result == {"num_added": 0, "num_updated": 0, "num_skipped": 1, "num_deleted": 1}
    assert _contents(store) == ["alpha one"]
