"""LlamaIndex chat stores kept in a memvid capsule (one ``.mv2`` file).

Each message is one frame of kind ``llama_index.chat`` (by default): its text is
the message's text, so ``memvid find`` and ``Memvid.search`` search
conversations; its tags are the chat key (``chat_key``) and the message status
(``status``: ``active`` or ``archived``); its metadata holds the whole message
(``ChatMessage.model_dump(mode="json")``) and its place in the conversation
(``order``). Every change is committed before the method returns.

Two classes, because LlamaIndex has two chat-store interfaces whose methods
share names but not colour:

- :class:`MemvidChatStore` is a ``BaseChatStore`` (synchronous, with ``a*``
  variants): for ``ChatMemoryBuffer``, chat engines and agents.
- :class:`MemvidAsyncChatStore` is an ``AsyncDBChatStore`` (asynchronous, with
  message statuses): the ``chat_store`` of LlamaIndex's ``Memory``.

Both read and write the same frames, so one capsule can serve both.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store.base import BaseChatStore
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus

from memvid import Frame, Memvid

__all__ = ["DEFAULT_KIND", "MemvidAsyncChatStore", "MemvidChatStore"]

DEFAULT_KIND = "llama_index.chat"
_KEY_TAG = "chat_key"
_STATUS_TAG = "status"


class _ChatLog:
    """The frames of every conversation in one capsule, and the lock that makes each change atomic."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        memvid: Memvid | None,
        kind: str,
        lock_timeout: float | None,
    ) -> None:
        if (path is None) == (memvid is None):
            raise ValueError("give the capsule's path or an open memvid handle (memvid=), not both or neither")
        if memvid is not None:
            self.mem, self.owned = memvid, False
        else:
            assert path is not None
            opener = Memvid.open if Path(path).exists() else Memvid.create
            self.mem, self.owned = opener(path, lock_timeout=lock_timeout), True
        self.kind = kind
        self.lock = threading.RLock()
        self._last_order = 0

    def close(self) -> None:
        if self.owned and not self.mem.closed:
            self.mem.close()

    # reading

    def frames(self, key: str, status: MessageStatus | None = None) -> list[Frame]:
        """The conversation's frames in order (optionally only those with ``status``)."""
        tags = {_KEY_TAG: key}
        if status is not None:
            tags[_STATUS_TAG] = MessageStatus(status).value
        found = list(self.mem.frames(kind=self.kind, tags=tags))
        found.sort(key=lambda f: (f.metadata.get("order", 0), f.id))
        return found

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for frame in self.mem.frames(kind=self.kind):
            key = frame.tags.get(_KEY_TAG)
            if key is not None:
                seen.setdefault(key, None)
        return list(seen)

    # writing (each commits)

    def append(self, key: str, messages: Sequence[ChatMessage], status: MessageStatus) -> None:
        if not messages:
            return
        self.mem.put_many([self._fields(key, m, status) for m in messages])
        self.mem.commit(f"llama-index: {len(messages)} messages for {key}")

    def replace(self, key: str, messages: Sequence[ChatMessage], status: MessageStatus) -> None:
        for frame in self.frames(key):
            self.mem.delete(frame.id)
        if messages:
            self.mem.put_many([self._fields(key, m, status) for m in messages])
        self.mem.commit(f"llama-index: set messages of {key}")

    def remove(self, frames: Sequence[Frame], message: str) -> list[ChatMessage]:
        for frame in frames:
            self.mem.delete(frame.id)
        self.mem.commit(message)
        return [message_of(f) for f in frames]

    def archive(self, frames: Sequence[Frame]) -> list[ChatMessage]:
        for frame in frames:
            self.mem.update(frame.id, tags={**frame.tags, _STATUS_TAG: MessageStatus.ARCHIVED.value})
        self.mem.commit("llama-index: archive messages")
        return [message_of(f) for f in frames]

    def _fields(self, key: str, message: ChatMessage, status: MessageStatus) -> dict[str, Any]:
        self._last_order = max(time.time_ns(), self._last_order + 1)
        return {
            "text": message.content or "",
            "title": str(message.role.value),
            "kind": self.kind,
            "tags": {_KEY_TAG: key, _STATUS_TAG: MessageStatus(status).value},
            "metadata": {"message": message.model_dump(mode="json"), "order": self._last_order},
        }


def message_of(frame: Frame) -> ChatMessage:
    return ChatMessage.model_validate(frame.metadata["message"])


def _at(items: list[Frame], idx: int) -> Frame | None:
    return items[idx] if -len(items) <= idx < len(items) else None


class _CapsuleStore:
    """What both chat stores share: opening the capsule (a path, created when missing, or an
    open ``memvid`` handle, not closed by the store), ``client``, ``close`` and ``with``.
    Mixed in before the pydantic base, which declares the ``path`` and ``kind`` fields."""

    _log: _ChatLog

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        memvid: Memvid | None = None,
        kind: str = DEFAULT_KIND,
        lock_timeout: float | None = 0.0,
        **kwargs: Any,
    ) -> None:
        log = _ChatLog(path, memvid, kind, lock_timeout)
        try:
            where = log.mem.path
            super().__init__(path=None if where is None else os.fspath(where), kind=kind, **kwargs)
        except BaseException:
            log.close()
            raise
        self._log = log

    @property
    def client(self) -> Memvid:
        """The :class:`memvid.Memvid` handle."""
        return self._log.mem

    def close(self) -> None:
        """Close the capsule if this store opened it (everything is already committed)."""
        self._log.close()

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemvidChatStore(_CapsuleStore, BaseChatStore):
    """A LlamaIndex ``BaseChatStore`` in a memvid capsule (for ``ChatMemoryBuffer``).

    Give the capsule's ``path`` (created when missing) or an open ``memvid`` handle
    (not closed by the store). ``kind`` is the frame kind of the messages.

    >>> import tempfile, os
    >>> from llama_index.core.llms import ChatMessage
    >>> store = MemvidChatStore(os.path.join(tempfile.mkdtemp(), "chats.mv2"))
    >>> store.add_message("user-1", ChatMessage(role="user", content="hi"))
    >>> store.add_message("user-1", ChatMessage(role="assistant", content="hello!"))
    >>> [m.content for m in store.get_messages("user-1")]
    ['hi', 'hello!']
    >>> store.get_keys()
    ['user-1']
    >>> store.close()
    """

    path: str | None = None
    kind: str = DEFAULT_KIND

    _log: _ChatLog = PrivateAttr()

    @classmethod
    def class_name(cls) -> str:
        return "MemvidChatStore"

    def __enter__(self) -> MemvidChatStore:
        return self

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        with self._log.lock:
            self._log.replace(key, messages, MessageStatus.ACTIVE)

    def get_messages(self, key: str) -> list[ChatMessage]:
        with self._log.lock:
            return [message_of(f) for f in self._log.frames(key)]

    def add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        """Append ``message``, or insert it at position ``idx``."""
        with self._log.lock:
            if idx is None:
                self._log.append(key, [message], MessageStatus.ACTIVE)
                return
            messages = self.get_messages(key)
            messages.insert(idx, message)
            self._log.replace(key, messages, MessageStatus.ACTIVE)

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete the conversation; returns its messages, or ``None`` if there were none."""
        with self._log.lock:
            frames = self._log.frames(key)
            if not frames:
                return None
            return self._log.remove(frames, f"llama-index: delete chat {key}")

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at position ``idx``; ``None`` if there is none."""
        with self._log.lock:
            frame = _at(self._log.frames(key), idx)
            if frame is None:
                return None
            return self._log.remove([frame], f"llama-index: delete message {idx} of {key}")[0]

    def delete_last_message(self, key: str) -> ChatMessage | None:
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        with self._log.lock:
            return self._log.keys()


class MemvidAsyncChatStore(_CapsuleStore, AsyncDBChatStore):
    """A LlamaIndex ``AsyncDBChatStore`` in a memvid capsule: the ``chat_store`` of ``Memory``.

    Messages carry a status: ``Memory`` archives the oldest active ones when its
    short-term queue is full (``archive_oldest_messages``), and they stay in the
    capsule, searchable. Calls run in worker threads; the capsule handle is
    thread-safe. ``delete_message(key, idx)`` deletes by position in the
    conversation (all statuses), as :class:`MemvidChatStore` does.

    >>> import asyncio, tempfile, os
    >>> from llama_index.core.llms import ChatMessage
    >>> store = MemvidAsyncChatStore(os.path.join(tempfile.mkdtemp(), "memory.mv2"))
    >>> asyncio.run(store.add_messages("s1", [ChatMessage(role="user", content="a"), ChatMessage(content="b")]))
    >>> [m.content for m in asyncio.run(store.archive_oldest_messages("s1", 1))]
    ['a']
    >>> [m.content for m in asyncio.run(store.get_messages("s1"))], asyncio.run(store.count_messages("s1", None))
    (['b'], 2)
    >>> store.close()
    """

    path: str | None = None
    kind: str = DEFAULT_KIND

    _log: _ChatLog = PrivateAttr()

    @classmethod
    def class_name(cls) -> str:
        return "MemvidAsyncChatStore"

    def __enter__(self) -> MemvidAsyncChatStore:
        return self

    async def _run(self, fn: Any, *args: Any) -> Any:
        def locked() -> Any:
            with self._log.lock:
                return fn(*args)

        return await asyncio.to_thread(locked)

    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        frames: list[Frame] = await self._run(self._log.frames, key, status)
        start = offset or 0
        frames = frames[start:] if limit is None else frames[start : start + limit]
        return [message_of(f) for f in frames]

    async def count_messages(self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE) -> int:
        return len(await self._run(self._log.frames, key, status))

    async def add_message(self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE) -> None:
        await self._run(self._log.append, key, [message], status)

    async def add_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        await self._run(self._log.append, key, list(messages), status)

    async def set_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        await self._run(self._log.replace, key, list(messages), status)

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        def delete() -> ChatMessage | None:
            frame = _at(self._log.frames(key), idx)
            return None if frame is None else self._log.remove([frame], f"llama-index: delete message of {key}")[0]

        result: ChatMessage | None = await self._run(delete)
        return result

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        def delete() -> None:
            self._log.remove(self._log.frames(key, status), f"llama-index: delete messages of {key}")

        await self._run(delete)

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        def delete() -> list[ChatMessage]:
            oldest = self._log.frames(key, MessageStatus.ACTIVE)[: max(n, 0)]
            return self._log.remove(oldest, f"llama-index: delete {len(oldest)} oldest of {key}") if oldest else []

        result: list[ChatMessage] = await self._run(delete)
        return result

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        def archive() -> list[ChatMessage]:
            oldest = self._log.frames(key, MessageStatus.ACTIVE)[: max(n, 0)]
            return self._log.archive(oldest) if oldest else []

        result: list[ChatMessage] = await self._run(archive)
        return result

    async def get_keys(self) -> list[str]:
        keys: list[str] = await self._run(self._log.keys)
        return keys
