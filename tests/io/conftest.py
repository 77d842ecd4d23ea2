"""Helpers for the export and import tests: a frame's every field, and a capsule with some history."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memvid import Frame, Memvid
from memvid.api import CapsuleView


def state(frame: Frame) -> dict[str, Any]:
    """Every field of a frame, the embedding as its float32 bytes (so equality is bit for bit)."""
    out = frame.to_dict()
    out["embedding"] = None if frame.embedding is None else (frame.embedding.dtype.str, frame.embedding.tobytes())
    return out


def states(mem: Memvid | CapsuleView) -> list[dict[str, Any]]:
    return [state(frame) for frame in mem.frames()]


@pytest.fixture
def capsule(tmp_path: Path) -> Path:
    """Frames with every kind of field, an update (so a frame supersedes another) and a delete."""
    path = tmp_path / "source.mv2"
    with Memvid.create(path) as mem:
        mem.put(
            "Alice prefers green tea\x00 and ünïcode ☕",
            uri="mv2://people/alice",
            title="Alice",
            kind="note",
            tags={"person": "alice", "topic": "drinks"},
            timestamp="2024-05-01T09:30:00.123456Z",
            metadata={"source": "chat", "nested": {"list": [1, 2.5, None, True], "deep": {"x": "y"}}},
            embedding=[0.1, -0.2, 0.3],
        )
        mem.put("", uri="mv2://empty")
        mem.put_bytes(b"\x00\xffbinary payload", None)
        old = mem.put("Bob takes the bus", uri="mv2://people/bob", embedding=[1.0, 2.0, 3.0])
        doomed = mem.put("to be deleted")
        mem.commit("first")
        mem.update(old, "Bob takes the train")
        mem.delete(doomed)
        mem.put("Carol has no vector", tags={"person": "carol"})
        mem.commit("second")
    return path


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Fail any attempt to resolve a name or open a connection (other than a local socket pair)."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> Any:
        attempts.append(args)
        raise NetworkUsed(f"network use attempted: {args!r}")

    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        return refuse(address)

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert attempts == []
