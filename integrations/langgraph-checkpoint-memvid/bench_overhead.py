"""What the LangGraph adapters cost over the capsule calls they make. One command, prints a table:

    .venv/bin/python integrations/langgraph-checkpoint-memvid/bench_overhead.py

- import: a fresh interpreter importing the adapters, against importing memvid
  and LangGraph's base classes (what any saver or store pays).
- store search: ``MemvidStore.search`` (semantic, and filter-only) against the
  raw ``Memvid.search`` / ``Memvid.frames`` it wraps, on the same capsule.
- saver get_tuple: ``MemvidSaver.get_tuple`` of a thread's latest checkpoint
  against one raw ``Memvid.get_by_uri`` of the checkpoint frame.

Calls are interleaved and the median of many repeats is kept (the machine is shared).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any


def _vector(text: str, dims: int = 64) -> list[float]:
    vector = [0.0] * dims
    vector[0] = 0.01
    for word in text.lower().split():
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dims] += 1.0
    return vector


def _import_ms(statement: str, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()) * 1000)
    return statistics.median(times)


def _pair(adapter: Callable[[], Any], raw: Callable[[], Any], repeats: int) -> tuple[float, float]:
    a, r = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        adapter()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw()
        r.append(time.perf_counter() - t)
    return statistics.median(a) * 1e6, statistics.median(r) * 1e6


def main() -> None:
    from langchain_core.embeddings import Embeddings
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.memvid import MemvidSaver
    from langgraph.store.memvid import KIND_ITEM, MemvidStore

    class Words(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [_vector(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return _vector(text)

    rows: list[tuple[str, str, str, str]] = []
    memvid_ms = _import_ms("import memvid")
    base_ms = _import_ms("import memvid, langgraph.checkpoint.base, langgraph.store.base")
    adapter_ms = _import_ms("import langgraph.checkpoint.memvid, langgraph.store.memvid")
    rows.append(
        ("import adapters (fresh process)", f"{adapter_ms:.0f} ms", f"{base_ms:.0f} ms", f"{adapter_ms / base_ms:.2f}")
    )
    rows.append(("  (import memvid alone)", f"{memvid_ms:.0f} ms", "", ""))

    words = [
        "tea",
        "coffee",
        "apple",
        "car",
        "blue",
        "red",
        "green",
        "dog",
        "cat",
        "bird",
        "river",
        "mountain",
        "city",
        "music",
        "book",
        "film",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MEMVID_CACHE_DIR", str(Path(tmp) / "cache"))
        n = 2000
        with MemvidStore.from_path(
            Path(tmp) / "store.mv2", index={"dims": 64, "embed": Words(), "fields": ["text"]}
        ) as store:
            store.batch(
                [
                    *(
                        __import__("langgraph.store.base", fromlist=["PutOp"]).PutOp(
                            ("users", f"u{i % 20}"),
                            f"m{i}",
                            {
                                "text": " ".join(words[(i * 7 + j) % len(words)] for j in range(4)),
                                "i": i,
                                "kind": i % 3,
                            },
                        )
                        for i in range(n)
                    )
                ]
            )
            mem, query = store.mem, "blue river music"
            prefix = "langgraph://store/users/"
            a, r = _pair(
                lambda: store.search(("users",), query=query, limit=10),
                lambda: mem.search(vector=_vector(query), mode="vec", uri_prefix=prefix, limit=10),
                200,
            )
            rows.append((f"store.search semantic ({n} items)", f"{a:.0f} µs", f"{r:.0f} µs", f"{a / r:.2f}"))
            a, r = _pair(
                lambda: store.search(("users",), query=query, filter={"kind": 1}, limit=10),
                lambda: mem.search(vector=_vector(query), mode="vec", uri_prefix=prefix, where={"kind": 1}, limit=10),
                200,
            )
            rows.append(("store.search semantic + filter", f"{a:.0f} µs", f"{r:.0f} µs", f"{a / r:.2f}"))
            a, r = _pair(
                lambda: store.search(("users", "u3"), filter={"kind": 1}, limit=10),
                lambda: list(islice(mem.frames(kind=KIND_ITEM, uri_prefix=prefix + "u3/", where={"kind": 1}), 10)),
                200,
            )
            rows.append(("store.search filter only", f"{a:.0f} µs", f"{r:.0f} µs", f"{a / r:.2f}"))

        with MemvidSaver.from_path(Path(tmp) / "saver.mv2") as saver:
            config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            messages: list[str] = []
            for step in range(200):
                messages.append(f"message {step} " + "lorem ipsum " * 20)
                checkpoint = empty_checkpoint()
                checkpoint["channel_values"] = {"messages": list(messages), "step": step}
                checkpoint["channel_versions"] = {"messages": f"{step}", "step": f"{step}"}
                config = saver.put(
                    config, checkpoint, {"step": step, "source": "loop"}, {"messages": f"{step}", "step": f"{step}"}
                )
                saver.put_writes(config, [("messages", "next")], f"task{step}")
            latest = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            uri = f"langgraph://threads/t//checkpoints/{config['configurable']['checkpoint_id']}"
            a, r = _pair(lambda: saver.get_tuple(latest), lambda: saver.mem.get_by_uri(uri), 300)
            rows.append(("saver.get_tuple latest (200 ckpts)", f"{a:.0f} µs", f"{r:.0f} µs", f"{a / r:.2f}"))

    width = [max(len(row[i]) for row in [*rows, ("what", "adapter", "raw capsule", "ratio")]) for i in range(4)]
    header = ("what", "adapter", "raw capsule", "ratio")
    for row in [header, tuple("-" * w for w in width), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)))


if __name__ == "__main__":
    main()
