"""MemvidChatMessageHistory: sessions, round trips, reopening, clearing."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_memvid_capsule import MemvidChatMessageHistory, MemvidVectorStore

from memvid import Memvid

CONVERSATION = [
    SystemMessage("You are terse."),
    HumanMessage("What is the weather in Paris?", id="h1"),
    AIMessage(
        "",
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1", "type": "tool_call"}],
        additional_kwargs={"note": "kept"},
    ),
    ToolMessage("18 C and sunny", tool_call_id="call-1"),
    AIMessage("18 C and sunny.", response_metadata={"model": "fake"}),
]


def test_messages_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "chat.mv2"
    with MemvidChatMessageHistory(path, "alice") as history:
        history.add_messages(CONVERSATION[:2])
        history.add_messages(CONVERSATION[2:])
        assert history.messages == CONVERSATION
    with MemvidChatMessageHistory(path, "alice") as history:
        assert history.messages == CONVERSATION
        assert isinstance(history.messages[2], AIMessage)
        assert history.messages[2].tool_calls[0]["args"] == {"city": "Paris"}


def test_sessions_are_separate_and_clear_removes_one(tmp_path: Path) -> None:
    with Memvid.create(tmp_path / "chat.mv2") as mem:
        alice = MemvidChatMessageHistory(mem, "alice")
        bob = MemvidChatMessageHistory(mem, "bob")
        alice.add_user_message("hi, I am alice")
        bob.add_user_message("hi, I am bob")
        alice.add_ai_message("hello alice")
        assert [m.text for m in alice.messages] == ["hi, I am alice", "hello alice"]
        assert [m.text for m in bob.messages] == ["hi, I am bob"]
        alice.clear()
        assert alice.messages == []
        assert [m.text for m in bob.messages] == ["hi, I am bob"]
        # Cleared messages are still in the capsule's history.
        assert len(list(mem.at(commit=-2).frames(tags={"session_id": "alice"}))) == 2


def test_messages_are_searchable_and_apart_from_documents(tmp_path: Path, bow) -> None:
    with Memvid.create(tmp_path / "both.mv2") as mem:
        history = MemvidChatMessageHistory(mem, "s1")
        history.add_messages([HumanMessage("my favourite colour is teal")])
        store = MemvidVectorStore(mem, bow, kind="document")
        store.add_texts(["teal is a blue-green colour"], ids=["teal"])
        assert [d.id for d in store.similarity_search("teal", k=5)] == ["teal"]
        hits = mem.search("favourite colour", mode="lex", kind="chat_message")
        assert hits[0].frame.metadata["message"]["data"]["content"] == "my favourite colour is teal"


async def test_async_interface(tmp_path: Path) -> None:
    with MemvidChatMessageHistory(tmp_path / "a.mv2", "s") as history:
        await history.aadd_messages([HumanMessage("one"), AIMessage("two")])
        assert [m.text for m in await history.aget_messages()] == ["one", "two"]
        await history.aclear()
        assert await history.aget_messages() == []


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="session_id"):
        MemvidChatMessageHistory(tmp_path / "x.mv2", "")
    with MemvidChatMessageHistory(tmp_path / "y.mv2", "s") as history:
        with pytest.raises(TypeError, match="BaseMessage"):
            history.add_messages(["not a message"])  # type: ignore[list-item]
        assert history.messages == []
        assert history.capsule.pending == 0
