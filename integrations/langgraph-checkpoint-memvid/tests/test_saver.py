"""MemvidSaver under real LangGraph graphs: conversations, restarts, interrupts, history."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memvid import KIND_CHECKPOINT, MemvidSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from memvid import Memvid

CHAT = """
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.graph import START, MessagesState, StateGraph

def build(checkpointer, replies):
    model = FakeListChatModel(responses=replies)
    graph = StateGraph(MessagesState)
    graph.add_node("chat", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_edge(START, "chat")
    return graph.compile(checkpointer=checkpointer)
"""


def _build(checkpointer: Any, replies: list[str]) -> Any:
    namespace: dict[str, Any] = {}
    exec(CHAT, namespace)
    return namespace["build"](checkpointer, replies)


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def test_a_conversation_survives_a_process_restart(tmp_path: Path) -> None:
    path = tmp_path / "chat.mv2"
    with MemvidSaver.from_path(path) as saver:
        graph = _build(saver, ["Nice to meet you, Ada."])
        graph.invoke({"messages": [HumanMessage("Hi, I am Ada.")]}, _config("ada"))
        graph.invoke({"messages": [HumanMessage("Hi, I am Bob.")]}, _config("bob"))

    child = CHAT + textwrap.dedent(
        f"""
        import json
        from langchain_core.messages import HumanMessage
        from langgraph.checkpoint.memvid import MemvidSaver
        with MemvidSaver.from_path({str(path)!r}) as saver:
            graph = build(saver, ["You told me you are Ada."])
            out = graph.invoke({{"messages": [HumanMessage("Who am I?")]}}, {{"configurable": {{"thread_id": "ada"}}}})
            print(json.dumps([m.content for m in out["messages"]]))
        """
    )
    env = {**os.environ, "MEMVID_TELEMETRY": "0"}
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        '["Hi, I am Ada.", "Nice to meet you, Ada.", "Who am I?", "You told me you are Ada."]'
    )

    with MemvidSaver.from_path(path) as saver:
        graph = _build(saver, ["unused"])
        bob = graph.get_state(_config("bob")).values["messages"]
        assert [m.content for m in bob] == ["Hi, I am Bob.", "Nice to meet you, Ada."]
        history = list(graph.get_state_history(_config("ada")))
        assert len(history) == 6  # input, chat: twice, plus the empty first checkpoints
        # newest first: chat, input (with the new message), input (before it), chat, input, start
        assert [len(s.values.get("messages", [])) for s in history] == [4, 3, 2, 2, 1, 0]


def test_async_graph_and_time_travel(tmp_path: Path) -> None:
    async def main() -> None:
        async with MemvidSaver(tmp_path / "async.mv2") as saver:
            graph = _build(saver, ["one", "two", "three"])
            for text in ["a", "b", "c"]:
                await graph.ainvoke({"messages": [HumanMessage(text)]}, _config("t"))
            states = [s async for s in graph.aget_state_history(_config("t"))]
            after_first = next(s for s in states if [m.content for m in s.values.get("messages", [])] == ["a", "one"])
            # Resume from an older checkpoint: a fork, which the saver keeps beside the original.
            forked = await graph.ainvoke({"messages": [HumanMessage("b2")]}, after_first.config)
            assert [m.content for m in forked["messages"]] == ["a", "one", "b2", "one"]
            latest = await saver.aget_tuple(_config("t"))
            assert latest is not None
            assert len(latest.checkpoint["channel_values"]["messages"]) == 4
            everything = [s async for s in graph.aget_state_history(_config("t"))]
            assert len(everything) > len(states)  # both branches are kept
            assert len([c async for c in saver.alist(_config("t"))]) == len(everything)
            assert states[0].config in [s.config for s in everything]

    asyncio.run(main())


def test_an_interrupted_graph_resumes_after_reopening(tmp_path: Path) -> None:
    def ask(state: MessagesState) -> dict[str, Any]:
        answer = interrupt("What is your name?")
        return {"messages": [HumanMessage(f"My name is {answer}.")]}

    def build(saver: MemvidSaver) -> Any:
        graph = StateGraph(MessagesState)
        graph.add_node("ask", ask)
        graph.add_edge(START, "ask")
        return graph.compile(checkpointer=saver)

    path = tmp_path / "interrupt.mv2"
    with MemvidSaver.from_path(path) as saver:
        paused = build(saver).invoke({"messages": [HumanMessage("hello")]}, _config("x"))
        assert paused["__interrupt__"][0].value == "What is your name?"
    with MemvidSaver.from_path(path) as saver:
        graph = build(saver)
        assert graph.get_state(_config("x")).next == ("ask",)
        done = graph.invoke(Command(resume="Ada"), _config("x"))
        assert [m.content for m in done["messages"]] == ["hello", "My name is Ada."]


def _checkpoint(checkpoint_id: str, version: str = "1", **values: Any) -> Any:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = checkpoint_id
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = dict.fromkeys(values, version)
    return checkpoint


def test_checkpoints_are_frames_with_tags_and_metadata(tmp_path: Path) -> None:
    with MemvidSaver.from_path(tmp_path / "frames.mv2") as saver:
        parent = saver.put(
            {"configurable": {"thread_id": "t/1", "checkpoint_ns": ""}},
            _checkpoint("0001", msg="hi"),
            {"source": "input", "step": -1, "when": dt.date(2026, 1, 2)},
            {"msg": "1"},
        )
        saver.put(
            {"configurable": {**parent["configurable"], "checkpoint_ns": "sub:1"}},
            _checkpoint("0002"),
            {"source": "loop", "step": 0},
            {},
        )
        frames = list(saver.mem.frames(kind=KIND_CHECKPOINT))
        assert [dict(f.tags) for f in frames] == [
            {"thread_id": "t/1", "checkpoint_ns": "", "checkpoint_id": "0001"},
            {"thread_id": "t/1", "checkpoint_ns": "sub:1", "checkpoint_id": "0002", "parent_checkpoint_id": "0001"},
        ]
        assert frames[0].uri == "langgraph://threads/t%2F1//checkpoints/0001"
        # The JSON part of the metadata is the frame's metadata; the date is kept (exactly) in the payload.
        assert dict(frames[0].metadata) == {"metadata": {"source": "input", "step": -1}, "opaque": ["when"]}
        assert frames[0].text == "" and frames[0].timestamp is not None
        loop = next(saver.mem.frames(where={"metadata.source": "loop"}))
        assert loop.metadata["metadata"]["step"] == 0

        # list(filter=...) runs through memvid's where=, and in Python for what JSON cannot hold.
        def ids(**filter: Any) -> list[str]:
            return [t.config["configurable"]["checkpoint_id"] for t in saver.list(None, filter=filter)]

        assert ids(source="loop") == ["0002"]
        assert ids(step=-1) == ["0001"]
        assert ids(when=dt.date(2026, 1, 2)) == ["0001"]
        assert ids(source="input", when=dt.date(2026, 1, 3)) == []
        assert ids() == ["0002", "0001"]
        tup = saver.get_tuple({"configurable": {"thread_id": "t/1", "checkpoint_ns": ""}})
        assert tup is not None and tup.metadata["when"] == dt.date(2026, 1, 2)


def test_deleted_threads_stay_in_the_capsules_history(tmp_path: Path) -> None:
    path = tmp_path / "history.mv2"
    with MemvidSaver.from_path(path) as saver:
        saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, _checkpoint("1", a=1), {}, {"a": "1"})
        before = saver.mem.head.seq
        saver.delete_thread("t")
        assert saver.get_tuple(_config("t")) is None
        old = saver.mem.at(commit=before)
        assert [f.kind for f in old.frames(uri_prefix="langgraph://threads/t/")] == [
            "langgraph.checkpoint.blob",
            "langgraph.checkpoint",
            "langgraph.checkpoint.head",
        ]
    with Memvid.open(path, read_only=True) as mem:
        assert list(mem.frames(uri_prefix="langgraph://threads/t/")) == []


def test_threads_checkpoint_at_once(tmp_path: Path) -> None:
    with MemvidSaver.from_path(tmp_path / "threads.mv2") as saver:

        def work(n: int) -> None:
            parent: dict[str, Any] = {"configurable": {"thread_id": f"t{n}", "checkpoint_ns": ""}}
            for i in range(8):
                parent = saver.put(parent, _checkpoint(f"{i:04}", f"{i}", i=i), {"step": i}, {"i": f"{i}"})  # type: ignore[assignment]
                saver.put_writes(parent, [("i", i)], f"task{i}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for n in range(4):
            latest = saver.get_tuple(_config(f"t{n}"))
            assert latest is not None
            assert latest.checkpoint["channel_values"] == {"i": 7}
            assert latest.pending_writes == [("task7", "i", 7)]
            assert len(list(saver.list(_config(f"t{n}")))) == 8


def test_a_locked_capsule_and_a_borrowed_handle(tmp_path: Path) -> None:
    path = tmp_path / "locked.mv2"
    with MemvidSaver.from_path(path) as first:
        try:
            MemvidSaver(path)
        except Exception as exc:  # the writer lock: one writer per capsule
            assert type(exc).__name__ == "CapsuleLockedError"
        else:  # pragma: no cover
            raise AssertionError("a second writer opened the capsule")
        borrowed = MemvidSaver(first.mem)
        borrowed.close()
        assert not first.mem.closed


def test_fake_chat_model_is_deterministic() -> None:
    model = FakeListChatModel(responses=["x", "y"])
    assert [model.invoke("q").content for _ in range(3)] == ["x", "y", "x"]
