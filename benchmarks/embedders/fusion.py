"""Fusion of a lexical (BM25) and a dense run, each the top ``depth`` (100) hits of its retriever.

Textbook fusions:

* ``rrf``: reciprocal rank fusion, score = sum over retrievers of 1 / (60 + rank), rank from 1.
* ``convex(a)``: per query, each run's scores are min-max normalised to [0, 1] over its own top 100 (a doc that a
  retriever did not return gets 0 from it); fused = a * dense + (1 - a) * bm25, so ``a`` is the *dense* weight.

Adaptive fusions. None of them looks at the judgements; each picks the dense weight ``a`` from the two runs alone:

* ``zgap`` (per query): each retriever's confidence is how far its top-1 score stands out of its own top-100
  scores, z = (s1 - mean) / std (scale-free, so BM25 and cosine are comparable); a = z_dense / (z_dense + z_bm25).
* ``corrob`` (per query): how much each retriever's top 10 is corroborated by the other retriever's top 100,
  c_dense = |top10_dense & top100_bm25| / 10 and c_bm25 likewise; a = (c_dense + 0.1) / (c_dense + c_bm25 + 0.2).
  A retriever whose best hits the other one does not even rank in its top 100 is probably matching on the wrong
  thing (BM25 on a shared surface word, dense on a vague topic).
* ``capsule-corrob`` / ``capsule-zgap`` (per capsule): the mean of the per-query ``a`` over all the set's queries
  (a query log, no judgements), then one ``convex(a)`` for every query of that capsule.
* ``zgate`` (per query): dense alone when z_dense >= z_bm25, else ``convex(0.5)``.
* ``capsule-zgate`` (per capsule): dense alone for every query when the median z_dense over the query log is at
  least the median z_bm25, else ``convex(0.5)`` for every query. (``zgate``/``capsule-zgate`` were written after
  seeing that on DBpedia-Entity no mixing weight, not even a = 0.95, beats dense alone.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from evalkit import Run

Hits = list[tuple[str, float]]
RRF_K = 60
DEPTH = 100


def _minmax(hits: Hits) -> dict[str, float]:
    if not hits:
        return {}
    s = np.array([x for _, x in hits], dtype=np.float64)
    lo, hi = float(s.min()), float(s.max())
    span = hi - lo
    return {d: ((x - lo) / span if span > 0 else 1.0) for d, x in hits}


def _sorted(scores: dict[str, float], k: int) -> Hits:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def rrf(lex: Hits, dense: Hits, k: int = DEPTH) -> Hits:
    out: dict[str, float] = {}
    for hits in (lex[:DEPTH], dense[:DEPTH]):
        for rank, (d, _) in enumerate(hits, start=1):
            out[d] = out.get(d, 0.0) + 1.0 / (RRF_K + rank)
    return _sorted(out, k)


def convex(lex: Hits, dense: Hits, alpha: float, k: int = DEPTH) -> Hits:
    nl, nd = _minmax(lex[:DEPTH]), _minmax(dense[:DEPTH])
    out = {d: alpha * nd.get(d, 0.0) + (1 - alpha) * nl.get(d, 0.0) for d in set(nl) | set(nd)}
    return _sorted(out, k)


def _z_top1(hits: Hits) -> float:
    s = np.array([x for _, x in hits[:DEPTH]], dtype=np.float64)
    if len(s) < 2 or s.std() == 0:
        return 0.0
    return float((s[0] - s.mean()) / s.std())


def alpha_zgap(lex: Hits, dense: Hits) -> float:
    zl, zd = max(_z_top1(lex), 0.0), max(_z_top1(dense), 0.0)
    return 0.5 if zl + zd == 0 else zd / (zl + zd)


def alpha_corrob(lex: Hits, dense: Hits) -> float:
    top_l, top_d = {d for d, _ in lex[:10]}, {d for d, _ in dense[:10]}
    all_l, all_d = {d for d, _ in lex[:DEPTH]}, {d for d, _ in dense[:DEPTH]}
    cd = len(top_d & all_l) / 10
    cl = len(top_l & all_d) / 10
    return (cd + 0.1) / (cd + cl + 0.2)


ALPHA_RULES: dict[str, Callable[[Hits, Hits], float]] = {"zgap": alpha_zgap, "corrob": alpha_corrob}


def fuse_all(lex_run: Run, dense_run: Run, qids: list[str]) -> tuple[dict[str, Run], dict[str, float]]:
    """Every fusion of two runs. Returns the fused runs and, for the adaptive ones, the mean dense weight."""
    runs: dict[str, Run] = {"rrf": {}, "convex0.3": {}, "convex0.5": {}, "convex0.7": {}}
    mean_alpha: dict[str, float] = {}
    for q in qids:
        lex, dense = lex_run.get(q, []), dense_run.get(q, [])
        runs["rrf"][q] = rrf(lex, dense)
        for a in (0.3, 0.5, 0.7):
            runs[f"convex{a}"][q] = convex(lex, dense, a)
    for rule_name, rule in ALPHA_RULES.items():
        alphas = {q: rule(lex_run.get(q, []), dense_run.get(q, [])) for q in qids}
        runs[rule_name] = {q: convex(lex_run.get(q, []), dense_run.get(q, []), alphas[q]) for q in qids}
        cap = float(np.mean(list(alphas.values())))
        runs[f"capsule-{rule_name}"] = {q: convex(lex_run.get(q, []), dense_run.get(q, []), cap) for q in qids}
        mean_alpha[rule_name] = cap
    zl = {q: _z_top1(lex_run.get(q, [])) for q in qids}
    zd = {q: _z_top1(dense_run.get(q, [])) for q in qids}
    runs["zgate"] = {
        q: dense_run.get(q, [])[:DEPTH] if zd[q] >= zl[q] else convex(lex_run.get(q, []), dense_run.get(q, []), 0.5)
        for q in qids
    }
    capsule_dense = bool(np.median(list(zd.values())) >= np.median(list(zl.values())))
    runs["capsule-zgate"] = {
        q: dense_run.get(q, [])[:DEPTH] if capsule_dense else convex(lex_run.get(q, []), dense_run.get(q, []), 0.5)
        for q in qids
    }
    mean_alpha["zgate"] = float(np.mean([zd[q] >= zl[q] for q in qids]))  # share of queries sent to dense alone
    mean_alpha["capsule-zgate"] = float(capsule_dense)
    return runs, mean_alpha
