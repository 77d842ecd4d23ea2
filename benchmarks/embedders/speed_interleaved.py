"""Embedding throughput of several candidates, interleaved, so that a shared machine's load hits them all alike.

Loads every candidate once, then for ``--rounds`` rounds embeds the same SciFact sample (256 abstracts by default;
title + text, the model's max length) with each candidate in turn, and prints the best and median docs/s of each.

    /tmp/embed-venv/bin/python benchmarks/embedders/speed_interleaved.py \
        --candidates st-minilm-l6 ort-minilm-l6-int8 np-minilm-l6 ort-paraphrase-minilm-l3
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

THREADS = 2
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402
import time  # noqa: E402

import evalkit  # noqa: E402
import numpy as np  # noqa: E402
from candidates import CANDIDATES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", nargs="*", default=["st-minilm-l6", "ort-minilm-l6-int8", "np-minilm-l6"])
    ap.add_argument("--docs", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    texts = evalkit.load("scifact").doc_texts[: args.docs]
    cands = {}
    for name in args.candidates:
        c = CANDIDATES[name](THREADS)
        c.batch_size = args.batch_size
        c.encode_docs(texts[:8])  # warm-up
        cands[name] = c
    rates: dict[str, list[float]] = {n: [] for n in cands}
    loads: list[float] = []
    for r in range(args.rounds):
        for name, c in cands.items():
            loads.append(os.getloadavg()[0])
            t0 = time.perf_counter()
            c.encode_docs(texts)
            rates[name].append(len(texts) / (time.perf_counter() - t0))
            print(f"round {r + 1} {name}: {rates[name][-1]:.1f} docs/s (load {loads[-1]:.1f})", flush=True)
    print(f"\n| candidate | best docs/s | median docs/s | ({args.docs} SciFact docs, batch {args.batch_size}) |")
    print("|---|---|---|---|")
    for name, xs in rates.items():
        print(f"| {name} | {max(xs):.1f} | {float(np.median(xs)):.1f} | |")
    print(f"load average during the runs: {min(loads):.1f} to {max(loads):.1f} (2 cores)")
    if args.json:
        args.json.write_text(json.dumps({"rates": rates, "loadavg": loads, "docs": args.docs}, indent=1))


if __name__ == "__main__":
    main()
