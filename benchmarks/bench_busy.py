"""memvid beside a busy Python thread: a commit and searches, alone, beside the thread, and beside it with the
quick GIL hand-off turned off.

::

    .venv/bin/python benchmarks/bench_busy.py                 # 8,192 frames (one HNSW segment), ~3 minutes
    .venv/bin/python benchmarks/bench_busy.py --frames 20000 --queries 100

An application that holds a capsule often has other Python threads: a web server's, an agent's tool calls, a
progress reporter. While one of them runs Python, a thread that leaves the GIL for native code (tantivy, usearch,
zstd) gets it back only after that thread's switch interval, 5 ms by default; a commit or a search crosses into
native code thousands of times, so it waits that long thousands of times (CPython's "convoy effect"). memvid's
commit and search run with a 50 µs interval (``memvid._threads.quick_gil_handoff``). The busy thread here counts
in a Python loop; the commit is one ``put_many`` of random 384-d unit vectors with short texts and one
``commit()`` (tantivy, the HNSW, the calibration); each search is timed alone (lexical and hybrid, limit 10).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import memvid.api
import memvid.engine.writer
import memvid.index.vec
from memvid import Memvid

_PATCHED = (memvid.api, memvid.engine.writer, memvid.index.vec)


@contextlib.contextmanager
def busy_thread(on: bool) -> Iterator[None]:
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=spin, daemon=True)
    if on:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if on:
            thread.join()


@contextlib.contextmanager
def handoff(on: bool) -> Iterator[None]:
    saved = [m.quick_gil_handoff for m in _PATCHED]  # type: ignore[attr-defined]
    if not on:
        for m in _PATCHED:
            m.quick_gil_handoff = contextlib.nullcontext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m, f in zip(_PATCHED, saved, strict=True):
            m.quick_gil_handoff = f  # type: ignore[attr-defined]


def p50_ms(fn: Callable[[int], Any], n: int) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def run(path: Path, texts: list[str], vecs: np.ndarray, queries: int, busy: bool, quick: bool) -> dict[str, float]:
    rng = np.random.default_rng(1)
    qv = rng.standard_normal((queries, vecs.shape[1])).astype(np.float32)
    with handoff(quick), busy_thread(busy):
        mem = Memvid.create(path, overwrite=True)
        try:
            t0 = time.perf_counter()
            mem.put_many([{"text": t, "embedding": v} for t, v in zip(texts, vecs, strict=True)])
            mem.commit()
            commit_s = time.perf_counter() - t0
            lex = p50_ms(lambda i: mem.search(f"word{i % 50} frame", mode="lex", limit=10), queries)
            hyb = p50_ms(lambda i: mem.search(f"word{i % 50} frame", vector=qv[i], mode="hybrid", limit=10), queries)
            turn = p50_ms(lambda i: (mem.put(f"turn {i} word{i % 50}"), mem.commit()), min(queries, 30))
        finally:
            mem.close()
    return {"commit_s": commit_s, "lex_ms": lex, "hybrid_ms": hyb, "turn_ms": turn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=8192, help="frames in the one commit (8,192: one HNSW)")
    parser.add_argument("--queries", type=int, default=50, help="searches timed per mode")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.frames, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    texts = [f"frame {i} word{i % 50} word{i % 7} some more text {i % 97}" for i in range(args.frames)]
    cases = {
        "alone": (False, True),
        "beside a busy thread (quick hand-off, the code)": (True, True),
        "beside a busy thread, hand-off off (before)": (True, False),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (busy, quick) in cases.items():
            print(f"[{time.strftime('%H:%M:%S')}] {label}", file=sys.stderr, flush=True)
            results[label] = run(Path(tmp) / "c.mv2", texts, vecs, args.queries, busy, quick)
    print(f"memvid beside a busy Python thread: {args.frames:,} frames, switch interval {sys.getswitchinterval()} s\n")
    print(f"| case | {args.frames:,}-frame commit s | lex p50 ms | hybrid p50 ms | turn (put + commit) p50 ms |")
    print("|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {r['commit_s']:.2f} | {r['lex_ms']:.3f} | {r['hybrid_ms']:.3f} | {r['turn_ms']:.2f} |")
    base = results["beside a busy thread (quick hand-off, the code)"]
    off = results["beside a busy thread, hand-off off (before)"]
    print(
        f"\nhand-off off / on, beside the busy thread: commit {off['commit_s'] / base['commit_s']:.1f}x, "
        f"lex {off['lex_ms'] / base['lex_ms']:.1f}x, hybrid {off['hybrid_ms'] / base['hybrid_ms']:.1f}x, "
        f"turn {off['turn_ms'] / base['turn_ms']:.1f}x"
    )


if __name__ == "__main__":
    main()
