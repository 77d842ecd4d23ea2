"""``MemvidChatMessageHistory``: a LangChain chat history kept in a capsule.

Each message is one frame of kind ``"chat_message"``, tagged with its session
id; its text is the message's text (so memvid's search finds it) and its
metadata holds the whole message as ``message_to_dict`` writes it, so every
field (tool calls, ids, additional kwargs) round-trips. Messages are listed in
the order they were added. Each ``add_messages`` and ``clear`` is one commit.

>>> import tempfile, os
>>> from langchain_core.messages import AIMessage, HumanMessage
>>> path = os.path.join(tempfile.mkdtemp(), "chat.mv2")
>>> with MemvidChatMessageHistory(path, "alice") as history:
...     history.add_messages([HumanMessage("hi"), AIMessage("hello, alice")])
>>> with MemvidChatMessageHistory(path, "alice") as history:
...     [m.text for m in history.messages]
['hi', 'hello, alice']
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from memvid import Frame, Memvid

__all__ = ["MemvidChatMessageHistory"]

_SESSION_TAG = "session_id"


class MemvidChatMessageHistory(BaseChatMessageHistory):
    """The messages of one session, stored in a capsule.

    ``capsule`` is a path (opened for writing, created if missing, closed by
    :meth:`close`) or an open :class:`memvid.Memvid` handle (which stays yours).
    Sessions are told apart by the frame tag ``session_id``; ``kind`` (default
    ``"chat_message"``) keeps messages apart from documents in the same capsule.
    """

    def __init__(
        self,
        capsule: str | os.PathLike[str] | Memvid,
        session_id: str,
        *,
        kind: str = "chat_message",
        lock_timeout: float | None = 0.0,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValueError(f"session_id must be a non-empty str, not {session_id!r}")
        if isinstance(capsule, Memvid):
            self._mem, self._owns_capsule = capsule, False
        elif isinstance(capsule, str | os.PathLike):
            exists = os.path.exists(capsule)
            opener = Memvid.open if exists else Memvid.create
            self._mem, self._owns_capsule = opener(capsule, lock_timeout=lock_timeout), True
        else:
            raise TypeError(f"capsule must be a path or a memvid.Memvid handle, not {type(capsule).__name__}")
        self.session_id = session_id
        self.kind = kind
        self._write_lock = threading.RLock()

    @property
    def capsule(self) -> Memvid:
        return self._mem

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first."""
        return messages_from_dict([frame.metadata["message"] for frame in self._frames()])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in one commit."""
        messages = list(messages)
        for message in messages:
            if not isinstance(message, BaseMessage):
                raise TypeError(f"expected a langchain_core BaseMessage, not {type(message).__name__}")
        if not messages:
            return
        with self._write_lock:
            try:
                for message in messages:
                    self._mem.put(
                        message.text,
                        kind=self.kind,
                        tags={_SESSION_TAG: self.session_id},
                        metadata={"message": message_to_dict(message)},
                    )
                self._mem.commit(f"langchain: {len(messages)} message(s) in session {self.session_id!r}")
            except BaseException:
                self._mem.rollback()
                raise

    def clear(self) -> None:
        """Remove the session's messages (earlier commits still hold them, for ``at(...)``)."""
        with self._write_lock:
            try:
                for frame in list(self._frames()):
                    self._mem.delete(frame.id)
                self._mem.commit(f"langchain: clear session {self.session_id!r}")
            except BaseException:
                self._mem.rollback()
                raise

    def close(self) -> None:
        """Close the capsule if this history opened it."""
        if self._owns_capsule:
            self._mem.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _frames(self) -> list[Frame]:
        return list(self._mem.frames(kind=self.kind, tags={_SESSION_TAG: self.session_id}))
