"""Agent turns: one ``put`` + ``commit`` + lexical ``search`` at a time, into a capsule of SciFact documents.

::

    .venv/bin/python benchmarks/bench_turns.py                    # 5,000 documents, 300 turns, 3 rounds
    .venv/bin/python benchmarks/bench_turns.py --docs 1000 --turns 100
    .venv/bin/python benchmarks/bench_turns.py --mode hybrid      # with 384-d vectors (random, supplied)

An agent that remembers one chat turn at a time commits it and then searches its memory before the next one, so
the search after a commit pays for the writer's lexical index catching up with that commit. Each turn here is
timed whole (put, commit with its fdatasyncs, a search that must find the turn just written, the hits' uris
read); with ``--mode hybrid`` every document and turn carries a vector (random, unit length, supplied by the
caller as an agent's embedder would) and the search is hybrid with the turn's vector. The table gives
p50/p90/p99 of the turns and the process's CPU seconds, per round (each round a fresh copy of the same capsule).
Run it against an older checkout with ``PYTHONPATH=<checkout>`` to compare.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import memvid
from memvid import Memvid

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--docs", type=int, default=5000, help="documents in the capsule before the turns")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--mode", choices=["lex", "hybrid"], default="lex")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="memvid-bench-turns-"))
    try:
        base = work / "base.mv2"
        texts = []
        with args.corpus.open() as f:
            for line, _ in zip(f, range(args.docs), strict=False):
                doc = json.loads(line)
                texts.append(f"{doc.get('title') or ''}\n{doc['text']}")
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((len(texts) + args.turns, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        hybrid = args.mode == "hybrid"
        with Memvid.create(base) as mem:
            if hybrid:
                mem.put_many([{"text": t, "embedding": v} for t, v in zip(texts, vectors, strict=False)])
            else:
                mem.put_many(texts)
            mem.commit()
        where = Path(memvid.__file__).parent
        print(f"memvid {memvid.__version__} from {where}; {len(texts)} documents, {args.turns} turns, {args.mode}")
        print()
        print("| round | p50 ms | p90 ms | p99 ms | mean ms | wall s | CPU s |")
        print("|---|---|---|---|---|---|---|")
        for round_ in range(1, args.rounds + 1):
            path = work / f"round{round_}.mv2"
            shutil.copy(base, path)
            times = []
            with Memvid.open(path) as mem:
                if hybrid:
                    mem.search("protein", vector=vectors[0], mode="hybrid")  # both indexes, opened once
                else:
                    mem.search("protein", mode="lex")  # the writer's lexical index, opened once
                cpu, wall = time.process_time(), time.perf_counter()
                for i in range(args.turns):
                    started = time.perf_counter()
                    text = f"turn {i}: the user asked about cell membranes and word{i}"
                    if hybrid:
                        vector = vectors[len(texts) + i]
                        mem.put(text, embedding=vector)
                        mem.commit()
                        hits = mem.search(f"word{i} membranes", vector=vector, mode="hybrid", limit=5)
                    else:
                        mem.put(text)
                        mem.commit()
                        hits = mem.search(f"word{i} membranes", mode="lex", limit=5)
                    _ = [hit.uri for hit in hits]  # what an agent shows reads the hits' fields
                    if hits[0].frame_id != args.docs + i:
                        raise SystemExit(f"turn {i}: the search did not find the turn first ({hits[0].frame_id})")
                    times.append((time.perf_counter() - started) * 1e3)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            q = statistics.quantiles(times, n=100)
            print(
                f"| {round_} | {q[49]:.2f} | {q[89]:.2f} | {q[98]:.2f} | {statistics.fmean(times):.2f} "
                f"| {wall:.2f} | {cpu:.2f} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
