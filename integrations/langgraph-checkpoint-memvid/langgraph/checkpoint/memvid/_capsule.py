"""How the saver and the store hold a capsule: their own handle, or one they borrow.

A capsule has one writer, so a saver and a store that share a file share one
:class:`memvid.Memvid` handle. Each of their operations reads, then writes and
commits; :func:`lock_for` gives every adapter on the same handle the same
re-entrant lock, so one operation's pending frames are never committed by another's.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from urllib.parse import quote, unquote

from memvid import CapsuleExistsError, Frame, FrameNotFoundError, Memvid

__all__ = ["CapsuleTarget", "find", "lock_for", "open_capsule", "quote_part", "unquote_part"]

CapsuleTarget = Memvid | str | os.PathLike[str]

_locks: weakref.WeakKeyDictionary[Memvid, threading.RLock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def open_capsule(target: CapsuleTarget, *, lock_timeout: float | None = 0.0) -> tuple[Memvid, bool]:
    """The handle for ``target`` and whether the caller owns it (and must close it).

    A path is opened for writing, or created when no file is there yet."""
    if isinstance(target, Memvid):
        return target, False
    path = Path(target)
    if not path.exists():
        try:
            return Memvid.create(path), True
        except CapsuleExistsError:  # another process created it in between
            pass
    return Memvid.open(path, lock_timeout=lock_timeout), True


def lock_for(mem: Memvid) -> threading.RLock:
    """The one lock that every adapter on ``mem`` holds around a read-write-commit."""
    with _locks_guard:
        lock = _locks.get(mem)
        if lock is None:
            lock = _locks[mem] = threading.RLock()
        return lock


def find(mem: Memvid, uri: str) -> Frame | None:
    """The latest live frame with ``uri``, or ``None``."""
    try:
        return mem.get_by_uri(uri)
    except FrameNotFoundError:
        return None


def quote_part(text: str) -> str:
    """``text`` as one uri segment: no ``/`` (so a prefix of segments is a uri prefix)."""
    return quote(text, safe="")


def unquote_part(text: str) -> str:
    return unquote(text)
