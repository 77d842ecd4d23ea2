"""Fusion: how hybrid search merges the lexical and the vector ranking into one.

Three fusions, each a function of the two retrievers' ranked ``(frame_id, score)``
lists (best first) that returns one ranked list:

- ``rrf``: reciprocal-rank fusion, ``sum(1 / (rrf_k + rank))``. Scores only by rank.
- ``weighted``: ``alpha * vec + (1 - alpha) * lex`` over each list's scores min-max
  normalised over its own candidates (so the worst candidate of a list scores 0 and how
  far the ranking reaches, ``depth``, moves every score).
- ``adaptive``: a convex combination whose vector weight is chosen per query from how
  clearly the vector retriever found something, measured against what a close match looks
  like in this capsule; no relevance judgement is used.

``adaptive`` in detail. Each score is first put on a scale that does not depend on how
many candidates were asked for:

- lexical: ``bm25 / bm25_top`` (BM25's least possible score is 0);
- vector: ``(cos - mu) / (cos_top - mu)``, clipped to 0..1, where ``mu = q . m`` is the
  query's expected cosine to a frame of this capsule (``m`` the mean frame vector): a
  frame no closer to the query than an average frame scores 0.

The vector weight is ``a = c / (1 + c)`` with the vector retriever's *clarity*
``c = (cos_top - mu) / g``: how far the query's best match stands above an average frame,
in units of ``g``, the median of the same quantity for the capsule's own frames (each
frame's nearest other frame against its mean cosine). ``c = 1`` means the query found a
match as close as a typical frame's nearest neighbour, and the two retrievers get equal
weight; a query whose best vector match is no better than an average frame leaves the
ranking to BM25 (``a`` near 0), one with an unusually close match leans on the vectors.
The score is ``a * vec + (1 - a) * lex``, between 0 and 1 (1 for a frame both retrievers
rank first); a frame one retriever did not return gets 0 from it. When one retriever
returns nothing, the other's normalised scores are the result.

``m`` and ``g`` are the capsule's :class:`Calibration` (:mod:`memvid.index.calibration`),
taken from a deterministic sample of at most :data:`CALIBRATION_SAMPLES` frames (one
nearest-neighbour search each) and recorded by the commit in its manifest: the writer
computes it when the live frames have moved by more than a tenth since its parent's
entry, and repeats the parent's otherwise, so a search of a given commit uses the same
calibration in every process and never computes one. A commit written before entries
existed is calibrated when first searched, once per snapshot. It holds no queries and no
judgements.

Why this rule (``docs/benchmarks/search.md``, "Adaptive fusion"): on the three labelled
sets of the benchmark, features of the two lists (the z-gap of each top score, overlap
of the top tens) predict which retriever wins a query weakly and with a sign that
changes from set to set; the vector clarity correlates with it positively on all three
(+0.17, +0.31, +0.14), and the rule has no constant to fit. Pseudo-queries made of a
frame's own words were tried for a per-capsule weight and favour BM25 everywhere. Vector
pseudo-relevance feedback and corroboration (``min(lex, vec)`` in place of ``lex``) were tried
after it (``benchmarks/fusion_study.py``): what they gain on MS MARCO and DBpedia they lose on
SciFact, and corroboration loses rare-word lookups that only BM25 finds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from memvid.engine.snapshot import Snapshot
from memvid.index import fusion_calibration, vec_segments
from memvid.index.calibration import CALIBRATION_SAMPLES, Calibration, calibrate
from memvid.index.vec import normalise

__all__ = ["CALIBRATION_SAMPLES", "FUSIONS", "Calibration", "Fusion", "calibrate", "calibration", "fuse"]

Fusion = Literal["rrf", "weighted", "adaptive"]
FUSIONS: Final[tuple[Fusion, ...]] = ("rrf", "weighted", "adaptive")

Ranked = Sequence[tuple[int, float]]


def calibration(snapshot: Snapshot) -> Calibration:
    """The capsule's calibration at ``snapshot``'s commit: the one its manifest records, else
    (a commit written before they were recorded) computed once and cached on the snapshot."""
    cached = snapshot.extras.get("fusion-calibration")
    if not isinstance(cached, Calibration):
        cached = fusion_calibration(snapshot)
        if cached is None:
            cached = calibrate(vec_segments(snapshot), snapshot.dead, frames=snapshot.manifest.frames_live)
        snapshot.extras["fusion-calibration"] = cached
    return cached


def fuse(
    ranked: Mapping[str, Ranked],
    fusion: Fusion,
    *,
    rrf_k: int = 60,
    alpha: float = 0.5,
    query_vector: npt.NDArray[np.float32] | None = None,
    calibration: Calibration | None = None,
) -> list[tuple[int, float]]:
    """One ranking, best first (ties by frame id), from the retrievers' rankings
    (``ranked["lex"]``, ``ranked["vec"]``). ``adaptive`` needs the query vector and the
    capsule's calibration; without them it weighs both retrievers equally."""
    fused: dict[int, float] = {}
    if fusion == "rrf":
        for lst in ranked.values():
            for rank, (fid, _) in enumerate(lst, start=1):
                fused[fid] = fused.get(fid, 0.0) + 1.0 / (rrf_k + rank)
    elif fusion == "weighted":
        weights = {"vec": alpha, "lex": 1.0 - alpha}
        for name, lst in ranked.items():
            if not lst:
                continue
            scores = [s for _, s in lst]
            lo, hi = min(scores), max(scores)
            span = hi - lo
            for fid, s in lst:
                norm = (s - lo) / span if span > 0 else 1.0
                fused[fid] = fused.get(fid, 0.0) + weights[name] * norm
    else:
        fused = _adaptive(ranked.get("lex", ()), ranked.get("vec", ()), query_vector, calibration)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def vector_weight(top: float, mu: float, gap: float | None) -> float:
    """``adaptive``'s vector weight for a query whose best cosine is ``top`` and whose
    expected cosine to a frame is ``mu``, in a capsule whose calibration gap is ``gap``."""
    if gap is None or gap <= 0:
        return 0.5
    clarity = max(top - mu, 0.0) / gap
    return clarity / (1.0 + clarity)


def _adaptive(
    lex: Ranked, vec: Ranked, query_vector: npt.NDArray[np.float32] | None, cal: Calibration | None
) -> dict[int, float]:
    fused: dict[int, float] = {}
    lex_top = lex[0][1] if lex else 0.0
    lex_norm = [(fid, s / lex_top if lex_top > 0 else 1.0) for fid, s in lex]
    if not vec:
        return dict(lex_norm)
    mu = 0.0
    if query_vector is not None and cal is not None and len(cal.mean) == len(query_vector):
        q = normalise(np.asarray(query_vector, dtype=np.float32).reshape(1, -1))[0]
        mu = float(q @ cal.mean)
    top = vec[0][1]
    span = top - mu
    vec_norm = [(fid, min(max((s - mu) / span, 0.0), 1.0) if span > 0 else 1.0) for fid, s in vec]
    if not lex:
        return dict(vec_norm)
    a = vector_weight(top, mu, None if cal is None else cal.gap) if query_vector is not None else 0.5
    for fid, s in vec_norm:
        fused[fid] = a * s
    for fid, s in lex_norm:
        fused[fid] = fused.get(fid, 0.0) + (1.0 - a) * s
    return fused
