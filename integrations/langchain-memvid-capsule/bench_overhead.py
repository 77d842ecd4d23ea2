"""What the LangChain adapter costs on top of memvid: import time and query overhead.

Run from the repository root::

    .venv/bin/python integrations/langchain-memvid-capsule/bench_overhead.py [--frames 5000] [--queries 300]

1. Import: wall-clock time of a fresh interpreter (median of several runs) that
   imports nothing, memvid, memvid plus the langchain_core modules the adapter
   builds on, and the adapter itself; plus the adapter's own modules' share
   from ``-X importtime``. The adapter's cost is the difference.
2. Query: ``MemvidVectorStore.similarity_search_by_vector`` against
   ``Memvid.search(vector=..., mode="vec")`` with the same vector, limit and
   filters, over one capsule, interleaved query by query so machine noise hits
   both alike; and ``similarity_search`` (which also embeds the query text) with a
   metadata filter. The ratio is what matters: absolute times depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _import_walls(statements: list[str], runs: int) -> list[float]:
    """Median wall-clock seconds of a fresh interpreter running each statement. The
    statements take turns, run after run, so a busy spell on the machine hits all alike."""
    times: list[list[float]] = [[] for _ in statements]
    for _ in range(runs):
        for i, statement in enumerate(statements):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", statement], check=True)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def _adapter_self_us() -> int:
    """Microseconds ``-X importtime`` charges to the adapter's own modules (self time)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", everything_statement()],
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    total = 0
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip().startswith("langchain_memvid_capsule"):
            total += int(parts[0].split(":")[1])
    return total


def everything_statement() -> str:
    names = ["MemvidChatMessageHistory", "MemvidEmbeddings", "MemvidRetriever", "MemvidVectorStore"]
    return "from langchain_memvid_capsule import " + ", ".join(names)


def _bench_imports(runs: int) -> None:
    everything = everything_statement()
    rows = [
        ("python (nothing)", "pass"),
        ("import memvid", "import memvid"),
        ("memvid + langchain_core VectorStore", "import memvid, langchain_core.vectorstores.base"),
        ("adapter: MemvidVectorStore", "from langchain_memvid_capsule import MemvidVectorStore"),
        (
            "memvid + the langchain_core it uses",
            "import memvid, langchain_core.vectorstores.base, langchain_core.retrievers, "
            "langchain_core.chat_history, langchain_core.embeddings",
        ),
        ("adapter: every class", everything),
    ]
    print(f"\nImport cost (fresh interpreter, median of {runs})")
    print(f"| {'what':<37} | {'wall ms':>8} |")
    print(f"|{'-' * 39}|{'-' * 10}|")
    walls = _import_walls([statement for _, statement in rows], runs)
    for (label, _), wall in zip(rows, walls, strict=True):
        print(f"| {label:<37} | {wall * 1000:8.1f} |")
    print(f"| {'adapter modules alone (-X importtime)':<37} | {_adapter_self_us() / 1000:8.1f} |")


def _bench_queries(frames: int, queries: int, k: int) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_memvid_capsule import MemvidVectorStore

    from memvid import Memvid

    embeddings = DeterministicFakeEmbedding(size=384)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MEMVID_CACHE_DIR", str(Path(tmp) / "cache"))
        with MemvidVectorStore(Path(tmp) / "bench.mv2", embeddings) as store:
            texts = [f"document {i} about topic {i % 50}" for i in range(frames)]
            metadatas = [{"topic": i % 50, "even": i % 2 == 0} for i in range(frames)]
            start = time.perf_counter()
            store.add_texts(texts, metadatas)
            ingest_s = time.perf_counter() - start
            mem: Memvid = store.capsule
            vectors = [embeddings.embed_query(f"query {q}") for q in range(queries)]

            def raw(vector: list[float], where: dict[str, object] | None) -> object:
                return mem.search(vector=vector, mode="vec", limit=k, where=where, snippet_chars=0)

            def adapter(vector: list[float], where: dict[str, object] | None) -> object:
                return store.similarity_search_by_vector(vector, k=k, filter=where)

            results = []
            cases = [("no filter", None), ("filter topic $in 5 values", {"topic": {"$in": [1, 2, 3, 4, 5]}})]
            for label, where in cases:
                for fn in (raw, adapter):  # warm both
                    fn(vectors[0], where)
                raw_t, adapter_t = [], []
                for vector in vectors:
                    t0 = time.perf_counter()
                    raw(vector, where)
                    t1 = time.perf_counter()
                    adapter(vector, where)
                    t2 = time.perf_counter()
                    raw_t.append(t1 - t0)
                    adapter_t.append(t2 - t1)
                results.append((label, statistics.median(raw_t), statistics.median(adapter_t)))
            text_t = []
            for q in range(queries):
                t0 = time.perf_counter()
                store.similarity_search(f"query {q}", k=k)
                text_t.append(time.perf_counter() - t0)

    print(f"\nQuery overhead: {frames} frames, 384-d, k={k}, {queries} queries (median per query)")
    print(f"(ingest through add_texts, one commit: {ingest_s:.2f} s)")
    print(f"| {'query':<27} | {'Memvid.search ms':>16} | {'similarity_search_by_vector ms':>30} | {'ratio':>6} |")
    print(f"|{'-' * 29}|{'-' * 18}|{'-' * 32}|{'-' * 8}|")
    for label, raw_s, adapter_s in results:
        print(f"| {label:<27} | {raw_s * 1000:16.3f} | {adapter_s * 1000:30.3f} | {adapter_s / raw_s:6.2f} |")
    print(f"| {'similarity_search (text)':<27} | {'':>16} | {statistics.median(text_t) * 1000:30.3f} | {'':>6} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--import-runs", type=int, default=7)
    args = parser.parse_args()
    _bench_imports(args.import_runs)
    _bench_queries(args.frames, args.queries, args.k)


if __name__ == "__main__":
    main()
