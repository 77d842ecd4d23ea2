"""MemvidChatStore (BaseChatStore) and MemvidAsyncChatStore (AsyncDBChatStore): the behaviour
LlamaIndex's own SimpleChatStore and SQLAlchemyChatStore have, on a capsule that survives
reopening, and both stores inside ChatMemoryBuffer and Memory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import ChatMemoryBuffer, Memory, VectorMemoryBlock
from llama_index.core.storage.chat_store.base import BaseChatStore
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus
from llama_index.storage.chat_store.memvid import DEFAULT_KIND, MemvidAsyncChatStore, MemvidChatStore
from llama_index.vector_stores.memvid import MemvidVectorStore

from memvid import CapsuleLockedError, Memvid


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def bot(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


@pytest.fixture
def store(capsule: Path) -> MemvidChatStore:
    store = MemvidChatStore(capsule)
    yield store
    store.close()


# -- MemvidChatStore -----------------------------------------------------------------------


def test_is_a_base_chat_store(store: MemvidChatStore) -> None:
    assert isinstance(store, BaseChatStore)
    assert isinstance(store.client, Memvid)


def test_messages_keep_their_order_per_key(store: MemvidChatStore) -> None:
    store.add_message("a", user("hello"))
    store.add_message("b", user("other"))
    store.add_message("a", bot("world"))
    assert store.get_messages("a") == [user("hello"), bot("world")]
    assert store.get_messages("b") == [user("other")]
    assert store.get_messages("nobody") == []
    assert store.get_keys() == ["a", "b"]


def test_insert_at_an_index(store: MemvidChatStore) -> None:
    store.set_messages("a", [user("one"), user("three")])
    store.add_message("a", user("two"), idx=1)
    store.add_message("a", user("zero"), idx=0)
    assert [m.content for m in store.get_messages("a")] == ["zero", "one", "two", "three"]


def test_set_messages_replaces(store: MemvidChatStore) -> None:
    store.set_messages("a", [user("old")])
    store.set_messages("a", [user("new 1"), bot("new 2")])
    assert [m.content for m in store.get_messages("a")] == ["new 1", "new 2"]
    store.set_messages("a", [])
    assert store.get_messages("a") == [] and store.get_keys() == []


def test_deletes(store: MemvidChatStore) -> None:
    store.set_messages("a", [user("m0"), bot("m1"), user("m2"), bot("m3")])
    store.set_messages("b", [user("keep")])
    assert store.delete_message("a", 1) == bot("m1")
    assert store.delete_message("a", 10) is None
    assert store.delete_message("a", -10) is None
    assert store.delete_last_message("a") == bot("m3")
    assert [m.content for m in store.get_messages("a")] == ["m0", "m2"]
    assert store.delete_messages("a") == [user("m0"), user("m2")]
    assert store.delete_messages("a") is None
    assert store.delete_last_message("a") is None
    assert store.get_messages("b") == [user("keep")]


def test_rich_messages_round_trip(store: MemvidChatStore) -> None:
    message = ChatMessage(role="tool", content="ハロー héllo", additional_kwargs={"tool_call_id": "c1", "n": [1, 2]})
    store.add_message("a", message)
    assert store.get_messages("a") == [message]


def test_survives_reopening_and_is_searchable(store: MemvidChatStore, capsule: Path) -> None:
    store.set_messages("a", [user("my parrot is named Kiwi"), bot("noted")])
    store.close()
    with MemvidChatStore(capsule) as again:
        assert [m.content for m in again.get_messages("a")] == ["my parrot is named Kiwi", "noted"]
        hits = again.client.search("parrot", mode="lex")
        assert [h.tags["chat_key"] for h in hits] == ["a"] and hits[0].kind == DEFAULT_KIND


def test_every_change_is_committed(store: MemvidChatStore, capsule: Path) -> None:
    store.add_message("a", user("durable"))
    with Memvid.open(capsule, read_only=True) as reader:
        assert [f.text for f in reader.frames(kind=DEFAULT_KIND)] == ["durable"]
    with pytest.raises(CapsuleLockedError):
        MemvidChatStore(capsule)


def test_async_variants(store: MemvidChatStore) -> None:
    async def scenario() -> None:
        await store.aset_messages("a", [user("x")])
        await store.async_add_message("a", bot("y"))
        assert [m.content for m in await store.aget_messages("a")] == ["x", "y"]
        assert await store.aget_keys() == ["a"]
        assert await store.adelete_last_message("a") == bot("y")
        assert await store.adelete_message("a", 0) == user("x")
        await store.aset_messages("a", [user("z")])
        assert await store.adelete_messages("a") == [user("z")]

    asyncio.run(scenario())


def test_chat_memory_buffer_on_a_capsule(store: MemvidChatStore, capsule: Path) -> None:
    memory = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key="alice", token_limit=40)
    for i in range(8):
        memory.put(user(f"message number {i} about the weather"))
    assert len(memory.get_all()) == 8
    recent = memory.get()
    assert 0 < len(recent) < 8 and recent[-1].content == "message number 7 about the weather"
    store.close()
    with MemvidChatStore(capsule) as again:  # a new process picks the conversation up
        memory = ChatMemoryBuffer.from_defaults(chat_store=again, chat_store_key="alice", token_limit=40)
        assert [m.content for m in memory.get_all()][:2] == [
            "message number 0 about the weather",
            "message number 1 about the weather",
        ]
        memory.reset()
        assert again.get_messages("alice") == []


# -- MemvidAsyncChatStore ------------------------------------------------------------------


def test_async_store_is_what_memory_takes(capsule: Path) -> None:
    with MemvidAsyncChatStore(capsule) as store:
        assert isinstance(store, AsyncDBChatStore)


def test_async_store_behaves_like_the_sql_store(capsule: Path) -> None:
    async def scenario(store: MemvidAsyncChatStore) -> None:
        await store.add_message("u1", user("hello"))
        await store.add_message("u1", bot("world"))
        assert [(m.role.value, m.content) for m in await store.get_messages("u1")] == [
            ("user", "hello"),
            ("assistant", "world"),
        ]
        assert await store.get_messages("missing") == [] and await store.count_messages("missing") == 0

        await store.add_messages("p", [user(f"message{i}") for i in range(1, 6)])
        assert await store.count_messages("p") == 5
        assert [m.content for m in await store.get_messages("p", limit=2)] == ["message1", "message2"]
        assert [m.content for m in await store.get_messages("p", offset=2)] == ["message3", "message4", "message5"]
        assert [m.content for m in await store.get_messages("p", limit=2, offset=1)] == ["message2", "message3"]

        await store.set_messages("p", [user("replaced1"), bot("replaced2")])
        assert [m.content for m in await store.get_messages("p")] == ["replaced1", "replaced2"]

        await store.add_messages("o", [user("oldest"), bot("middle"), user("newest")])
        assert [m.content for m in await store.delete_oldest_messages("o", 1)] == ["oldest"]
        assert [m.content for m in await store.get_messages("o")] == ["middle", "newest"]
        assert (await store.delete_message("o", 0)).content == "middle"  # type: ignore[union-attr]
        assert await store.delete_message("o", 5) is None

        await store.add_messages("ar", [user("oldest"), bot("middle"), user("newest")])
        assert [m.content for m in await store.archive_oldest_messages("ar", 1)] == ["oldest"]
        assert [m.content for m in await store.get_messages("ar")] == ["middle", "newest"]
        archived = await store.get_messages("ar", status=MessageStatus.ARCHIVED)
        assert [m.content for m in archived] == ["oldest"]
        everything = await store.get_messages("ar", status=None)
        assert [m.content for m in everything] == ["oldest", "middle", "newest"]  # archiving keeps the order
        assert await store.count_messages("ar", status=None) == 3

        await store.delete_messages("ar", status=MessageStatus.ACTIVE)
        assert [m.content for m in await store.get_messages("ar", status=None)] == ["oldest"]
        await store.delete_messages("ar")
        assert await store.count_messages("ar", status=None) == 0
        assert set(await store.get_keys()) == {"u1", "p", "o"}

    with MemvidAsyncChatStore(capsule) as store:
        asyncio.run(scenario(store))


def test_memory_with_a_vector_block_all_in_one_capsule(capsule: Path, embed_model: BaseEmbedding) -> None:
    """LlamaIndex's Memory: short-term queue in the chat store, older messages flushed into a
    VectorMemoryBlock; both live in one capsule and come back after reopening."""

    def memory_on(mem: Memvid) -> tuple[Memory, MemvidVectorStore]:
        vectors = MemvidVectorStore(memvid=mem, kind="long-term")
        block = VectorMemoryBlock(vector_store=vectors, embed_model=embed_model, similarity_top_k=1)
        memory = Memory.from_defaults(
            session_id="s1",
            chat_store=MemvidAsyncChatStore(memvid=mem),
            memory_blocks=[block],
            token_limit=60,
            chat_history_token_ratio=0.3,  # a small short-term queue: older messages flush to the block
            token_flush_size=20,
        )
        return memory, vectors

    async def first_session() -> None:
        with Memvid.create(capsule) as mem:
            memory, vectors = memory_on(mem)
            await memory.aput_messages(
                [
                    user("My cat is called Marmalade and she loves tuna."),
                    bot("Marmalade sounds lovely."),
                    user("I work as a lighthouse keeper in Cornwall."),
                    bot("That must be a quiet job."),
                    user("Remind me to buy more tuna later."),
                ]
            )
            await memory.aget()  # flushing happens as the queue is read
            assert len(list(mem.frames(kind="long-term"))) >= 1
            archived = await memory.sql_store.get_messages("s1", status=MessageStatus.ARCHIVED)
            assert archived and archived[0].content == "My cat is called Marmalade and she loves tuna."
            vectors.close()

    async def second_session() -> None:
        with Memvid.open(capsule) as mem:
            memory, vectors = memory_on(mem)
            context = await memory.aget(input="what is my cat called?")
            text = " ".join(str(m.content) for m in context)
            assert "Marmalade" in text
            assert len(await memory.aget_all()) == 5  # the whole conversation, archived included
            vectors.close()

    asyncio.run(first_session())
    asyncio.run(second_session())
