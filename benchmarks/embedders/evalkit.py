"""BEIR-layout data loading, exact cosine search and the two metrics (nDCG@10, Recall@100).

Metric conventions (the same as trec_eval / pytrec_eval, which BEIR uses):

* only queries with at least one judged-relevant document (qrels score > 0) are evaluated;
* qrels scores <= 0 are non-relevant;
* nDCG@10 uses *linear* gains (gain = grade, i.e. 1/2/3 for MS MARCO TREC-DL, 1/2 for DBpedia-Entity, 1 for
  SciFact) with log2(rank + 1) discounts; the ideal DCG is built from all judged grades of the query;
  ``ndcg_exp`` (gain 2^grade - 1) is reported in the JSON as well;
* Recall@100 = |relevant in top 100| / |relevant|.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA_ROOT = Path("/work/shared/data")
DATASETS = ("scifact", "msmarco-trecdl-5k", "dbpedia-entity-5k")


@dataclass
class Dataset:
    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]  # only queries with >= 1 relevant doc, in file order
    query_texts: list[str]
    qrels: dict[str, dict[str, int]] = field(repr=False)  # qid -> docid -> grade (> 0 only)

    def subset(self, name: str, keep_doc_idx: np.ndarray) -> Dataset:
        keep = sorted(int(i) for i in keep_doc_idx)
        return Dataset(
            name,
            [self.doc_ids[i] for i in keep],
            [self.doc_texts[i] for i in keep],
            self.query_ids,
            self.query_texts,
            self.qrels,
        )


def load(name: str, root: Path = DATA_ROOT, split: str = "test") -> Dataset:
    d = root / name
    doc_ids, doc_texts = [], []
    with open(d / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            doc_ids.append(str(r["_id"]))
            doc_texts.append(((r.get("title") or "") + " " + (r.get("text") or "")).strip())
    qrels: dict[str, dict[str, int]] = {}
    with open(d / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t")
        header = next(rows)
        assert header[:3] == ["query-id", "corpus-id", "score"], header
        for qid, did, score in rows:
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    qids, qtexts = [], []
    with open(d / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if str(r["_id"]) in qrels:
                qids.append(str(r["_id"]))
                qtexts.append(r["text"])
    missing = set(qrels) - set(qids)
    assert not missing, f"qrels without query text: {sorted(missing)[:5]}"
    return Dataset(name, doc_ids, doc_texts, qids, qtexts, qrels)


def scifact_subset(ds: Dataset, size: int = 1000, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """All judged test docs plus seeded random distractors, ``size`` docs in all (for slow candidates)."""
    judged = {did for rel in ds.qrels.values() for did in rel}
    idx_judged = [i for i, d in enumerate(ds.doc_ids) if d in judged]
    rest = np.array([i for i, d in enumerate(ds.doc_ids) if d not in judged])
    rng = np.random.default_rng(seed)
    extra = rng.choice(rest, size=max(0, size - len(idx_judged)), replace=False)
    keep = np.sort(np.concatenate([np.array(idx_judged), extra]))
    return ds.subset(f"{ds.name}-{size // 1000}k", keep), keep


Run = dict[str, list[tuple[str, float]]]  # qid -> [(docid, score)] best first


def dense_search(ds: Dataset, doc_vecs: np.ndarray, query_vecs: np.ndarray, k: int = 100) -> Run:
    """Exact cosine search: vectors are L2-normalised, so the dot product is the cosine."""
    scores = query_vecs @ doc_vecs.T
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    run: Run = {}
    for qi, qid in enumerate(ds.query_ids):
        idx = top[qi][np.argsort(-scores[qi, top[qi]], kind="stable")]
        run[qid] = [(ds.doc_ids[j], float(scores[qi, j])) for j in idx]
    return run


def ndcg_at(ranked: list[str], rel: dict[str, int], k: int = 10, exp: bool = False) -> float:
    def g(x: int) -> float:
        return float(2**x - 1) if exp else float(x)

    dcg = sum(g(rel.get(d, 0)) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(g(x) / math.log2(i + 2) for i, x in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], rel: dict[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(rel)) / len(rel)


def evaluate(ds: Dataset, run: Run) -> dict[str, float]:
    n10, n10e, r100 = [], [], []
    for qid in ds.query_ids:
        ranked = [d for d, _ in run.get(qid, [])]
        rel = ds.qrels[qid]
        n10.append(ndcg_at(ranked, rel))
        n10e.append(ndcg_at(ranked, rel, exp=True))
        r100.append(recall_at(ranked, rel))
    return {
        "ndcg@10": float(np.mean(n10)),
        "ndcg@10_exp": float(np.mean(n10e)),
        "recall@100": float(np.mean(r100)),
        "queries": len(ds.query_ids),
    }


def per_query_ndcg(ds: Dataset, run: Run) -> np.ndarray:
    return np.array([ndcg_at([d for d, _ in run.get(q, [])], ds.qrels[q]) for q in ds.query_ids])
