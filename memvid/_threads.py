"""Small thread pools the library shares within a process, made on first use, and a quick
GIL hand-off for native calls that take the GIL back very often."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Final

__all__ = ["HANDOFF_INTERVAL_S", "quick_gil_handoff", "thread_pool"]

HANDOFF_INTERVAL_S: Final = 50e-6
"""The interpreter's switch interval inside :func:`quick_gil_handoff` (Python's default is 5 ms)."""

_handoff_lock = threading.Lock()
_handoff_users = 0
_handoff_saved = 0.0


@functools.cache
def thread_pool(name: str) -> ThreadPoolExecutor:
    """The process's pool for ``name`` (threads named ``memvid-<name>``): as many threads as
    cores, at most four. For work that releases the GIL (zstd, BLAKE2b, usearch, tantivy's search)."""
    return ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix=f"memvid-{name}")


@contextlib.contextmanager
def quick_gil_handoff() -> Iterator[None]:
    """Within the block, a thread that asks for the GIL gets it after at most
    :data:`HANDOFF_INTERVAL_S` of another thread's Python, not 5 ms.

    For a native call that releases the GIL but takes it back for a moment very often:
    usearch's ``Index.add`` checks for signals (``PyErr_CheckSignals``) after each vector it
    inserts, so while any other Python thread is busy each insertion waits out a whole switch
    interval: 5,000 vectors took 27.6 s beside one busy thread instead of 1.4 s alone, and
    2.4 s with a 100 µs interval. Without another busy thread the interval changes nothing.

    The interval is the process's: the first block to enter sets it, the last to leave puts
    back what it found (unless something else changed it meanwhile)."""
    global _handoff_users, _handoff_saved
    with _handoff_lock:
        if _handoff_users == 0:
            _handoff_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_handoff_saved, HANDOFF_INTERVAL_S))
        _handoff_users += 1
    try:
        yield
    finally:
        with _handoff_lock:
            _handoff_users -= 1
            if _handoff_users == 0 and abs(sys.getswitchinterval() - min(_handoff_saved, HANDOFF_INTERVAL_S)) < 1e-6:
                sys.setswitchinterval(_handoff_saved)
