"""What the LlamaIndex adapters cost: import time, and the vector store's query overhead
over memvid's own search with the same vector and the same filter.

    .venv/bin/python integrations/llama-index-vector-stores-memvid/bench_llamaindex.py [--nodes 5000] [--queries 300]

Both sides run in the same process, interleaved query by query, so machine noise hits
them alike; the table reports medians and their ratio. The raw search asks for no
snippets, as the store does (LlamaIndex nodes carry their whole text).
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

import numpy as np

IMPORTS = [
    ("memvid", "import memvid"),
    ("llama_index.core", "import llama_index.core"),
    ("llama_index.vector_stores.memvid", "import llama_index.vector_stores.memvid"),
    ("llama_index.storage.chat_store.memvid", "import llama_index.storage.chat_store.memvid"),
    ("llama_index.embeddings.memvid", "import llama_index.embeddings.memvid"),
]


def import_seconds(runs: int) -> dict[str, float]:
    """The fastest of ``runs`` fresh interpreters for each import, taken round-robin so
    that a busy moment of the machine does not land on one module only."""
    times: dict[str, list[float]] = {name: [] for name, _ in IMPORTS}
    for _ in range(runs):
        for name, statement in IMPORTS:
            code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
            times[name].append(float(subprocess.check_output([sys.executable, "-c", code], text=True)))
    return {name: min(values) for name, values in times.items()}


def query_overhead(n_nodes: int, n_queries: int, dim: int) -> list[tuple[str, float, float]]:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery
    from llama_index.vector_stores.memvid import MemvidVectorStore

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(n_nodes, dim)).astype(np.float32)
    words = ["tea", "coffee", "rust", "python", "capsule", "memory", "search", "index"]
    nodes = [
        TextNode(
            id_=f"n{i}",
            text=" ".join(rng.choice(words, size=8)),
            metadata={"group": int(i % 10), "lang": "en" if i % 3 else "fr"},
            embedding=vectors[i].tolist(),
        )
        for i in range(n_nodes)
    ]
    queries = rng.normal(size=(n_queries, dim)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MEMVID_CACHE_DIR", str(Path(tmp) / "cache"))
        with MemvidVectorStore(Path(tmp) / "bench.mv2") as store:
            store.add(nodes)
            mem = store.client
            filters = MetadataFilters(filters=[MetadataFilter(key="group", value=3)])
            where = {"group": {"$eq": 3}}
            cases = [
                (
                    "vector, top 10",
                    lambda q: store.query(VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=10)),
                    lambda q: mem.search(vector=q, mode="vec", limit=10, snippet_chars=0),
                ),
                (
                    "vector + filter, top 10",
                    lambda q: store.query(
                        VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=10, filters=filters)
                    ),
                    lambda q: mem.search(vector=q, mode="vec", limit=10, where=where, snippet_chars=0),
                ),
                (
                    "hybrid, top 10",
                    lambda q: store.query(
                        VectorStoreQuery(
                            query_str="tea capsule", query_embedding=q.tolist(), mode="hybrid", similarity_top_k=10
                        )
                    ),
                    lambda q: mem.search("tea capsule", vector=q, mode="hybrid", limit=10, snippet_chars=0),
                ),
            ]
            for name, adapter, raw in cases:
                adapter(queries[0]), raw(queries[0])  # warm caches
                a_times, r_times = [], []
                for q in queries:
                    t = time.perf_counter()
                    adapter(q)
                    a_times.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    raw(q)
                    r_times.append(time.perf_counter() - t)
                rows.append((name, statistics.median(a_times), statistics.median(r_times)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--import-runs", type=int, default=7)
    args = parser.parse_args()

    print(f"Import time (fastest of {args.import_runs} fresh interpreters each)\n")
    seconds = import_seconds(args.import_runs)
    base = seconds["llama_index.core"]
    print(f"| {'module':<40} | {'ms':>7} | {'ms over llama_index.core':>24} |")
    print(f"|{'-' * 42}|{'-' * 9}|{'-' * 26}|")
    for name, _ in IMPORTS:
        extra = (
            f"{(seconds[name] - base) * 1000:.0f}"
            if name.startswith("llama_index.") and name != "llama_index.core"
            else ""
        )
        print(f"| {name:<40} | {seconds[name] * 1000:>7.0f} | {extra:>24} |")

    print(f"\nQuery overhead: {args.nodes} nodes, {args.dim}-d, {args.queries} queries (median ms per query)\n")
    print(f"| {'query':<24} | {'MemvidVectorStore.query':>23} | {'Memvid.search':>13} | {'ratio':>5} |")
    print(f"|{'-' * 26}|{'-' * 25}|{'-' * 15}|{'-' * 7}|")
    for name, adapter, raw in query_overhead(args.nodes, args.queries, args.dim):
        print(f"| {name:<24} | {adapter * 1000:>23.3f} | {raw * 1000:>13.3f} | {adapter / raw:>5.2f} |")


if __name__ == "__main__":
    main()
