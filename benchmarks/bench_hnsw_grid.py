#!/usr/bin/env python
"""HNSW build settings as a grid: usearch (dtype, metric, M, expansion_add, threads) against FAISS, same vectors.

    .venv/bin/python benchmarks/bench_hnsw_grid.py --n 100000 --extra-queries 500 \\
        --faiss 16/128/1 16/64/1 --specs f16/cos/16/64/1 f16/ip/16/64/1 bf16/ip/16/48/1

Vectors are ``bench_search.py``'s perturbed scale vectors (the real MiniLM vectors of the three sets cached by
``bench_search.py``, plus noise); queries are the real queries, plus ``--extra-queries`` perturbed unseen copies
of real docs. Every build reports wall and CPU seconds (``time.process_time``): with one thread (the last field
of a spec, ``faiss.omp_set_num_threads`` for FAISS) CPU seconds are the work a setting costs, which a shared
machine's load moves far less than wall clock. Recall@10 is against exact search.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import DEFAULT_EMBED_CACHE, PERTURB_COS, unit

SETS = ("scifact", "msmarco-trecdl-5k", "dbpedia-entity-5k")


def perturbed(n: int, src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows = np.concatenate([np.arange(min(n, len(src))), rng.integers(0, len(src), size=max(0, n - len(src)))])
    noise = float(np.sqrt(1 / PERTURB_COS**2 - 1)) / np.sqrt(src.shape[1])
    out = src[rows].copy()
    extra = np.arange(n) >= len(src)
    out[extra] += rng.standard_normal((int(extra.sum()), src.shape[1]), dtype=np.float32) * noise
    return unit(out)


def timed(add: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    add()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--extra-queries", type=int, default=0)
    ap.add_argument("--faiss", nargs="*", default=["16/128/1", "16/64/1"], help="M/efConstruction/threads")
    ap.add_argument("--specs", nargs="+", required=True, help="dtype/metric/M/expansion_add/threads (0: all)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cache = DEFAULT_EMBED_CACHE
    src = unit(np.vstack([np.load(cache / s / "docs.npy") for s in args.sets]))
    queries = unit(np.vstack([np.load(cache / s / "queries.npy") for s in args.sets]))
    rng = np.random.default_rng(args.n)
    vecs = perturbed(args.n, src, rng)
    if args.extra_queries:
        picked = src[rng.integers(0, len(src), args.extra_queries)]
        queries = np.vstack([queries, perturbed(len(picked) * 2, picked, rng)[len(picked) :]])
    truth = np.argpartition(-(queries @ vecs.T), 10, axis=1)[:, :10]
    print(f"{len(vecs):,} vectors from {len(src):,} real ones, {len(queries)} queries", flush=True)
    rows: list[dict[str, Any]] = []

    def report(name: str, seconds: tuple[float, float], found: np.ndarray) -> None:
        recall = float(
            np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
        )
        load = os.getloadavg()[0]
        rows.append({"name": name, "wall_s": seconds[0], "cpu_s": seconds[1], "recall@10": recall, "load": load})
        print(f"{name:28s} wall {seconds[0]:7.1f} s  cpu {seconds[1]:7.1f} s  recall@10 {recall:.4f}  load {load:.1f}")

    for spec in args.faiss:
        import faiss

        m, efc, threads = map(int, spec.split("/"))
        faiss.omp_set_num_threads(threads or os.cpu_count() or 1)
        index = faiss.IndexHNSWFlat(vecs.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction, index.hnsw.efSearch = efc, 96
        report(f"faiss {spec}", timed(lambda index=index: index.add(vecs)), index.search(queries, 10)[1])
    for spec in args.specs:
        from usearch.index import Index

        dtype, metric, m, efc, threads = spec.split("/")
        ix = Index(
            ndim=vecs.shape[1],
            metric=metric,
            dtype=dtype,
            connectivity=int(m),
            expansion_add=int(efc),
            expansion_search=96,
        )
        keys = np.arange(len(vecs), dtype=np.uint64)
        seconds = timed(lambda ix=ix, keys=keys, threads=int(threads): ix.add(keys, vecs, threads=threads))
        report(f"usearch {spec}", seconds, np.asarray(ix.search(queries, 10).keys, dtype=np.int64))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
