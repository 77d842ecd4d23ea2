"""Small thread pools the library shares within a process, made on first use."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

__all__ = ["thread_pool"]


@functools.cache
def thread_pool(name: str) -> ThreadPoolExecutor:
    """The process's pool for ``name`` (threads named ``memvid-<name>``): as many threads as
    cores, at most four. For work that releases the GIL (zstd, BLAKE2b, usearch, tantivy's search)."""
    return ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix=f"memvid-{name}")
