#!/usr/bin/env python
"""Offline study of fusion rules that might lift hybrid search to max(lex, vec) on every set (issue 6).

    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/fusion_study.py              # ~2 min on 2 cores, vectors cached

For each of the three sets it builds a capsule as ``bench_search.py`` does (same vectors, same cache), takes
memvid's lexical and vector top 400 of every query (what ``limit=100`` fetches in hybrid mode) and the capsule's
fusion calibration, then ranks with the shipped ``adaptive`` fusion (:func:`memvid.fusion.fuse`) and with
candidate rules evaluated on those lists alone:

* Rocchio pseudo-relevance feedback in vector space: ``q' = unit(q + beta * mean of the top m vectors)`` with the
  feedback taken from the vector, the lexical or the adaptively fused top m; then an exact vector search with
  ``q'`` and ``adaptive`` fusion of it with the lexical list (or ``q'``'s list alone);
* the vector weight chosen per query from the coherence of each retriever's top 5 in embedding space (the mean
  pairwise cosine of the hits over their mean cosine to the capsule's mean vector, in units of the calibration's
  gap), or from a lexical coverage: the query's best BM25 over the sum of each query word's own best BM25;
* products of the two scales, so that lexical evidence counts only where the vector also finds the frame closer
  than an average one (CombMNZ-like corroboration), with the exact cosine of every candidate;
* fixed vector weights over the feedback list (a ceiling, not a rule: chosen by looking).

Then, what the judged sets do not test, rare-word lookups on SciFact (``--rare-words``): a word only one frame
holds as the query; how often each rule ranks that frame first and in its top 10.

Every number is nDCG@10 / Recall@100 and the per-query difference to ``adaptive`` with its standard error.
No judgement is read before ranking; the judgements only score the rankings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "embedders"))

import bench_search as bs  # noqa: E402
import evalkit  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from memvid import Memvid  # noqa: E402
from memvid.fusion import Calibration, calibration, fuse  # noqa: E402

DEPTH = 400
Ranked = list[tuple[int, float]]


@dataclass
class SetLists:
    corpus: bs.Corpus
    lex: list[Ranked]  # per query, rows of the corpus with BM25
    vec: list[Ranked]  # per query, rows with cosine
    cal: Calibration
    coverage: np.ndarray  # per query, best BM25 / sum of each word's best BM25
    row: dict[int, int]  # frame id -> row of the corpus


def collect(name: str, work: Path) -> SetLists:
    c, _ = bs.load_corpus(name, bs.DEFAULT_EMBED_CACHE, 0)
    path = work / f"{name}.mv2"
    built = bs.build_memvid(path, c.titles, c.texts, c.doc_vecs, 10**9)
    row = {int(f): i for i, f in enumerate(built["ids"])}
    lex: list[Ranked] = []
    vec: list[Ranked] = []
    coverage = []
    with Memvid.open(path, read_only=True) as mem:
        cal = calibration(mem._snapshot)
        for q, v in zip(c.queries, c.query_vecs, strict=True):
            hits = mem.search(q, vector=v, mode="lex", limit=DEPTH, snippet_chars=0)
            lex.append([(row[h.frame_id], h.score) for h in hits])
            hits = mem.search(q, vector=v, mode="vec", limit=DEPTH, snippet_chars=0)
            vec.append([(row[h.frame_id], h.score) for h in hits])
            per_word = 0.0
            for word in q.split():
                best = mem.search(word, mode="lex", limit=1, snippet_chars=0)
                per_word += best[0].score if best else 0.0
            coverage.append(lex[-1][0][1] / per_word if lex[-1] and per_word > 0 else 0.0)
    return SetLists(c, lex, vec, cal, np.asarray(coverage), row)


def unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / max(float(np.linalg.norm(x)), 1e-12), dtype=np.float32)


def exact(s: SetLists, q: np.ndarray) -> Ranked:
    sims = s.corpus.doc_vecs @ q
    top = np.argpartition(-sims, DEPTH)[:DEPTH]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [(int(j), float(sims[j])) for j in top]


def clarity(s: SetLists, q: np.ndarray, vec: Ranked) -> float:
    assert s.cal.gap is not None
    return max(vec[0][1] - float(unit(q) @ s.cal.mean), 0.0) / s.cal.gap


def clarity_weight(c: float) -> float:
    """``adaptive``'s vector weight for a vector clarity ``c`` (:func:`memvid.fusion.vector_weight`)."""
    return c / (1.0 + c)


def convex(s: SetLists, lex: Ranked, vec: Ranked, q: np.ndarray, a: float) -> list[int]:
    """``adaptive``'s scales (BM25 over its top; cosine over the query's expected cosine) with weight ``a``."""
    mu = float(unit(q) @ s.cal.mean)
    top, lex_top = vec[0][1], (lex[0][1] if lex else 0.0)
    fused = {j: a * min(max((x - mu) / (top - mu), 0.0), 1.0) if top > mu else a for j, x in vec}
    for j, x in lex:
        fused[j] = fused.get(j, 0.0) + (1 - a) * (x / lex_top if lex_top > 0 else 1.0)
    return [j for j, _ in sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))]


def adaptive(s: SetLists, lex: Ranked, vec: Ranked, q: np.ndarray) -> list[int]:
    return [j for j, _ in fuse({"lex": lex, "vec": vec}, "adaptive", query_vector=q, calibration=s.cal)]


def feedback(s: SetLists, i: int, source: str, m: int, beta: float) -> np.ndarray:
    q = unit(s.corpus.query_vecs[i])
    if source == "vec":
        rows = [j for j, _ in s.vec[i][:m]]
    elif source == "lex":
        rows = [j for j, _ in s.lex[i][:m]]
    else:
        rows = adaptive(s, s.lex[i], s.vec[i], q)[:m]
    return unit(q + beta * s.corpus.doc_vecs[rows].mean(axis=0)) if rows else q


def coherence(s: SetLists, ranked: Ranked, m: int = 5) -> float:
    assert s.cal.gap is not None
    v = s.corpus.doc_vecs[[j for j, _ in ranked[:m]]]
    if len(v) < 2:
        return 0.0
    sims = v @ v.T
    pairs = (sims.sum() - np.trace(sims)) / (len(v) * (len(v) - 1))
    return max((float(pairs) - float((v @ s.cal.mean).mean())) / s.cal.gap, 0.0)


def corroborate(s: SetLists, lex: Ranked, vec: Ranked, q: np.ndarray) -> list[int]:
    """``a * v + (1 - a) * min(l, v)`` on ``adaptive``'s scales and weight, over the two lists as they are."""
    q = unit(q)
    mu, top = float(q @ s.cal.mean), vec[0][1]
    a = clarity_weight(clarity(s, q, vec))
    by_lex, by_vec = dict(lex), dict(vec)
    lex_top = lex[0][1] if lex else 1.0
    fused = {}
    for j in set(by_lex) | set(by_vec):
        v = min(max((by_vec[j] - mu) / (top - mu), 0.0), 1.0) if j in by_vec and top > mu else 0.0
        fused[j] = a * v + (1 - a) * min(by_lex.get(j, 0.0) / lex_top, v)
    return [j for j, _ in sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))]


def every_candidate(s: SetLists, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate of either list with ``adaptive``'s vector scale from its exact cosine, and its lexical scale."""
    q = unit(s.corpus.query_vecs[i])
    mu, top = float(q @ s.cal.mean), s.vec[i][0][1]
    lex = dict(s.lex[i])
    lex_top = s.lex[i][0][1] if s.lex[i] else 1.0
    cand = np.asarray(sorted(set(lex) | {j for j, _ in s.vec[i]}), dtype=np.int64)
    v = np.clip((s.corpus.doc_vecs[cand] @ q - mu) / (top - mu), 0.0, 1.0) if top > mu else np.ones(len(cand))
    return cand, v, np.asarray([lex.get(int(j), 0.0) / lex_top for j in cand])


Rule = Callable[[SetLists, int], Sequence[int]]


def rules() -> dict[str, Rule]:
    out: dict[str, Rule] = {
        "lex": lambda s, i: [j for j, _ in s.lex[i]],
        "vec": lambda s, i: [j for j, _ in s.vec[i]],
        "adaptive (the default)": lambda s, i: adaptive(s, s.lex[i], s.vec[i], s.corpus.query_vecs[i]),
    }
    for source in ("vec", "adaptive", "lex"):
        for m in (3, 5, 10):
            for beta in (0.5, 1.0):

                def prf(s: SetLists, i: int, source: str = source, m: int = m, beta: float = beta) -> Sequence[int]:
                    q2 = feedback(s, i, source, m, beta)
                    return adaptive(s, s.lex[i], exact(s, q2), q2)

                def prf_alone(s: SetLists, i: int, source: str = source, m: int = m, beta: float = beta) -> list[int]:
                    return [j for j, _ in exact(s, feedback(s, i, source, m, beta))]

                out[f"PRF from {source} top {m}, beta {beta}: vec(q') alone"] = prf_alone
                out[f"PRF from {source} top {m}, beta {beta}: adaptive(lex, vec(q'))"] = prf
                if source == "vec":

                    def prf_min(s: SetLists, i: int, m: int = m, beta: float = beta) -> list[int]:
                        q2 = feedback(s, i, "vec", m, beta)
                        return corroborate(s, s.lex[i], exact(s, q2), q2)

                    out[f"PRF from vec top {m}, beta {beta}: a * v' + (1 - a) * min(l, v')"] = prf_min

    def coherence_rule(s: SetLists, i: int) -> list[int]:
        q = s.corpus.query_vecs[i]
        c, cv, cl = clarity(s, q, s.vec[i]), coherence(s, s.vec[i]), coherence(s, s.lex[i])
        r = cl / cv if cv > 0 else 1.0
        return convex(s, s.lex[i], s.vec[i], q, c / (c + r) if c + r > 0 else 0.5)

    def coverage_rule(s: SetLists, i: int) -> list[int]:
        q = s.corpus.query_vecs[i]
        c, cov = clarity(s, q, s.vec[i]), float(s.coverage[i])
        return convex(s, s.lex[i], s.vec[i], q, c / (c + cov) if c + cov > 0 else 0.5)

    for label, combine in {
        "a * v + (1 - a) * l * v": lambda v, lx, a: a * v + (1 - a) * lx * v,
        "a * v + (1 - a) * sqrt(l * v)": lambda v, lx, a: a * v + (1 - a) * np.sqrt(lx * v),
        "a * v + (1 - a) * min(l, v)": lambda v, lx, a: a * v + (1 - a) * np.minimum(lx, v),
    }.items():

        def corroborated(s: SetLists, i: int, combine: Callable[..., np.ndarray] = combine) -> list[int]:
            cand, v, lx = every_candidate(s, i)
            a = clarity_weight(clarity(s, s.corpus.query_vecs[i], s.vec[i]))
            order = np.lexsort((cand, -combine(v, lx, a)))
            return [int(j) for j in cand[order]]

        out[f"exact cosine for every candidate, {label}"] = corroborated
    out["weight c / (c + coherence(lex) / coherence(vec)), top 5"] = coherence_rule
    out["weight c / (c + lexical coverage)"] = coverage_rule
    for a in (0.7, 0.8, 0.9):

        def fixed(s: SetLists, i: int, a: float = a) -> list[int]:
            q2 = feedback(s, i, "vec", 5, 0.5)
            return convex(s, s.lex[i], exact(s, q2), q2, a)

        out[f"fixed a = {a} over PRF from vec top 5, beta 0.5 (chosen by looking)"] = fixed
    return out


def per_query(s: SetLists, ranked: list[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    ds = s.corpus.ds
    run = {
        q: [(ds.doc_ids[j], float(-r)) for r, j in enumerate(list(rows)[:100])]
        for q, rows in zip(ds.query_ids, ranked, strict=True)
    }
    ndcg = evalkit.per_query_ndcg(ds, run)
    recall = np.array([evalkit.recall_at([d for d, _ in run[q]], ds.qrels[q]) for q in ds.query_ids])
    return ndcg, recall


def rare_words(s: SetLists, path: Path, count: int) -> None:
    """What the judged sets do not test: an agent looking up a word that only one frame holds. ``count`` frames
    drawn at random (seed 0), each with one of its words of 7+ letters that no other frame holds, that word as the
    query (embedded with memvid's default embedder); how often each rule puts the frame first and in its top 10."""
    import random
    import re
    from collections import Counter

    from memvid.embed import default_embedder

    words = [
        set(re.findall(r"[a-z]{7,}", f"{t} {x}".lower())) for t, x in zip(s.corpus.titles, s.corpus.texts, strict=True)
    ]
    df = Counter(w for ws in words for w in ws)
    rng = random.Random(0)
    probes = []
    for row in rng.sample(range(len(words)), len(words)):
        unique = sorted(w for w in words[row] if df[w] == 1)
        if unique:
            probes.append((rng.choice(unique), row))
        if len(probes) == count:
            break
    embedder = default_embedder()
    ranks: dict[str, list[int]] = {}
    with Memvid.open(path, read_only=True) as mem:
        for word, target in probes:
            q = unit(np.asarray(embedder.embed_query(word), dtype=np.float32))
            lex = [(s.row[h.frame_id], h.score) for h in mem.search(word, mode="lex", limit=DEPTH, snippet_chars=0)]
            hits = mem.search(word, vector=q, mode="vec", limit=DEPTH, snippet_chars=0)
            vec = [(s.row[h.frame_id], h.score) for h in hits]
            q2 = unit(q + 0.5 * s.corpus.doc_vecs[[j for j, _ in vec[:5]]].mean(axis=0))
            vec2 = exact(s, q2)
            for label, ranked in {
                "lex": [f for f, _ in lex],
                "vec": [f for f, _ in vec],
                "adaptive (the default)": adaptive(s, lex, vec, q),
                "PRF from vec top 5, beta 0.5: adaptive(lex, vec(q'))": adaptive(s, lex, vec2, q2),
                "a * v + (1 - a) * min(l, v)": corroborate(s, lex, vec, q),
                "PRF from vec top 5, beta 0.5: a * v' + (1 - a) * min(l, v')": corroborate(s, lex, vec2, q2),
            }.items():
                ranks.setdefault(label, []).append(ranked.index(target) + 1 if target in ranked else DEPTH + 1)
    print(f"\nRare-word lookups on SciFact ({len(probes)} words, each in one frame only):\n")
    print("| rule | the frame first | in the top 10 |\n|---|---|---|")
    for label, r in ranks.items():
        found = np.asarray(r)
        print(f"| {label} | {np.mean(found == 1):.2f} | {np.mean(found <= 10):.2f} |")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(evalkit.DATASETS), choices=evalkit.DATASETS)
    ap.add_argument("--only", default="", help="run only the rules whose name contains this text")
    ap.add_argument("--rare-words", type=int, default=100, help="rare-word lookups on SciFact (embeds them; 0: none)")
    args = ap.parse_args(argv)
    threadpool_limits(limits=1, user_api="blas")
    with tempfile.TemporaryDirectory(prefix="fusion-study-") as tmp:
        lists = {name: collect(name, Path(tmp)) for name in args.sets}
        if args.rare_words and "scifact" in lists:
            rare_words(lists["scifact"], Path(tmp) / "scifact.mv2", args.rare_words)
    table = rules()
    scores: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {name: {} for name in args.sets}
    print("| rule | " + " | ".join(args.sets) + " |")
    print("|---|" + "---|" * len(args.sets))
    for label, rule in table.items():
        if args.only and args.only not in label and label not in ("lex", "vec", "adaptive (the default)"):
            continue
        cells = []
        for name, s in lists.items():
            ndcg, recall = per_query(s, [rule(s, i) for i in range(len(s.lex))])
            scores[name][label] = (ndcg, recall)
            cell = f"{ndcg.mean():.3f} / {recall.mean():.3f}"
            base = scores[name].get("adaptive (the default)")
            if base is not None and label != "adaptive (the default)":
                diff = ndcg - base[0]
                cell += f" ({diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.3f})"
            cells.append(cell)
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
    print()
    for name in args.sets:
        lex, vec = scores[name]["lex"][0], scores[name]["vec"][0]
        best = lex if lex.mean() >= vec.mean() else vec
        base = scores[name]["adaptive (the default)"][0]
        diff = base - best
        weights = [clarity(s, s.corpus.query_vecs[i], s.vec[i]) for s in (lists[name],) for i in range(len(s.vec))]
        print(
            f"{name}: max(lex, vec) {best.mean():.3f}; adaptive - max {diff.mean():+.3f} ± "
            f"{diff.std(ddof=1) / np.sqrt(len(diff)):.3f}; mean vector weight of adaptive "
            f"{np.mean([clarity_weight(c) for c in weights]):.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
