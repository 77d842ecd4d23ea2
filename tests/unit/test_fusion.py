"""Fusion of the lexical and vector rankings, above all ``adaptive`` and its calibration."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from memvid import InvalidInputError, Memvid, SearchRequest
from memvid.fusion import (
    CALIBRATION_SAMPLES,
    Calibration,
    _sample_positions,
    calibrate,
    calibration,
    fuse,
    vector_weight,
)
from memvid.index.vec import HnswShape, HnswView, SegmentVectors, VecDtype, build_hnsw, normalise


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path / "cache"))


def _unit(rng: np.random.Generator, n: int, dim: int) -> npt.NDArray[np.float32]:
    return normalise(rng.standard_normal((n, dim)).astype(np.float32))


def _segment(first_id: int, vectors: npt.NDArray[np.float32]) -> SegmentVectors:
    ids = np.arange(first_id, first_id + len(vectors), dtype=np.uint64)
    return SegmentVectors(ids, lambda: vectors, None)


def _calibration(gap: float, dim: int = 4) -> Calibration:
    return Calibration(np.zeros(dim, np.float32), gap, 10, 0.0)


LEX = [(1, 12.0), (2, 9.0), (3, 3.0)]
"""BM25 ranks frame 1 first, then 2 and 3."""
VEC = [(3, 0.31), (4, 0.20), (1, 0.10)]
"""The vector search prefers frame 3."""


# -- the weight -------------------------------------------------------------------------------


def test_vector_weight_follows_the_clarity_of_the_vector_match() -> None:
    gap = 0.4
    assert vector_weight(0.4, 0.0, gap) == pytest.approx(0.5)  # as close as a frame's nearest neighbour
    assert vector_weight(0.0, 0.0, gap) == 0.0  # no closer than an average frame: BM25 decides
    assert vector_weight(-0.2, 0.0, gap) == 0.0
    weights = [vector_weight(top, 0.1, gap) for top in np.linspace(0.1, 1.0, 10)]
    assert weights == sorted(weights) and weights[-1] < 1.0
    assert vector_weight(0.9, 0.1, None) == 0.5  # no calibration: equal weights
    assert vector_weight(0.9, 0.1, 0.0) == 0.5


def test_a_vector_search_that_finds_nothing_clear_is_outweighed_by_bm25() -> None:
    query = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    # The capsule's frames have nearest neighbours 0.4 above their mean cosine; this
    # query's best match is only 0.31 above it (mean vector 0): weight 0.31 / 0.71.
    noisy = fuse({"lex": LEX, "vec": VEC}, "adaptive", query_vector=query, calibration=_calibration(0.4))
    assert [fid for fid, _ in noisy][:2] == [1, 3]
    # In a capsule whose frames are far apart (gap 0.05) the same match is very clear.
    clear = fuse({"lex": LEX, "vec": VEC}, "adaptive", query_vector=query, calibration=_calibration(0.05))
    assert [fid for fid, _ in clear][:2] == [3, 4]  # the vector ranking leads


def test_adaptive_scores_are_between_0_and_1_and_1_only_for_a_frame_both_rank_first() -> None:
    rng = np.random.default_rng(7)
    query = _unit(rng, 1, 4)[0]
    cal = Calibration(_unit(rng, 1, 4)[0] * 0.3, 0.2, 10, 0.0)
    for _ in range(50):
        lex = sorted(
            ((int(i), float(s)) for i, s in zip(rng.choice(40, 15, replace=False), rng.random(15) * 30, strict=True)),
            key=lambda x: -x[1],
        )
        vec = sorted(
            (
                (int(i), float(s))
                for i, s in zip(rng.choice(40, 15, replace=False), rng.random(15) * 2 - 1, strict=True)
            ),
            key=lambda x: -x[1],
        )
        fused = fuse({"lex": lex, "vec": vec}, "adaptive", query_vector=query, calibration=cal)
        scores = [s for _, s in fused]
        assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
        assert {fid for fid, _ in fused} == {fid for fid, _ in lex} | {fid for fid, _ in vec}
        assert (scores[0] == pytest.approx(1.0)) == (lex[0][0] == vec[0][0])


def test_adaptive_is_deterministic_and_breaks_ties_by_frame_id() -> None:
    query = np.array([0.0, 1.0, 0.0, 0.0], np.float32)
    cal = _calibration(0.3)
    ranked = {"lex": [(9, 5.0), (4, 5.0), (7, 1.0)], "vec": [(9, 0.5), (4, 0.5), (8, 0.1)]}
    first = fuse(ranked, "adaptive", query_vector=query, calibration=cal)
    swapped = {"vec": [(4, 0.5), (9, 0.5), (8, 0.1)], "lex": [(4, 5.0), (9, 5.0), (7, 1.0)]}
    assert fuse(swapped, "adaptive", query_vector=query, calibration=cal) == first
    assert first == fuse(ranked, "adaptive", query_vector=query.copy(), calibration=_calibration(0.3))
    assert [fid for fid, _ in first][:2] == [4, 9]


def test_adaptive_with_one_retriever_empty_is_that_retriever() -> None:
    query = np.array([0.0, 0.0, 1.0, 0.0], np.float32)
    cal = _calibration(0.3)
    only_lex = fuse({"lex": LEX, "vec": []}, "adaptive", query_vector=query, calibration=cal)
    assert only_lex == [(1, 1.0), (2, 0.75), (3, 0.25)]
    only_vec = fuse({"lex": [], "vec": VEC}, "adaptive", query_vector=query, calibration=cal)
    assert [fid for fid, _ in only_vec] == [3, 4, 1] and only_vec[0][1] == 1.0
    assert fuse({"lex": [], "vec": []}, "adaptive", query_vector=query, calibration=cal) == []


def test_the_query_mean_cosine_is_the_vector_scores_zero() -> None:
    # The mean frame vector is the query's direction scaled: every frame's expected cosine
    # to the query is 0.2, and a candidate at or below it contributes nothing.
    query = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    cal = Calibration(np.array([0.2, 0.0, 0.0, 0.0], np.float32), 0.3, 10, 0.0)
    fused = dict(
        fuse(
            {"lex": [], "vec": [(1, 0.8), (2, 0.5), (3, 0.2), (4, 0.1)]},
            "adaptive",
            query_vector=query,
            calibration=cal,
        )
    )
    assert fused == pytest.approx({1: 1.0, 2: 0.5, 3: 0.0, 4: 0.0})


def test_rrf_and_weighted_are_unchanged() -> None:
    ranked = {"lex": LEX, "vec": VEC}
    rrf = dict(fuse(ranked, "rrf", rrf_k=60))
    assert rrf[1] == pytest.approx(1 / 61 + 1 / 63) and rrf[4] == pytest.approx(1 / 62)
    weighted = dict(fuse(ranked, "weighted", alpha=0.25))
    assert weighted[1] == pytest.approx(0.75 * 1.0 + 0.25 * 0.0)
    assert weighted[3] == pytest.approx(0.25 * 1.0)


# -- the calibration --------------------------------------------------------------------------


def test_sample_positions_are_runs_spread_over_the_capsule() -> None:
    assert _sample_positions(10, 256, 8) == list(range(10))
    positions = _sample_positions(100_000, 256, 8)
    assert len(positions) == 256 and positions == sorted(set(positions))
    assert positions[0] == 0 and positions[-1] == 99_999
    runs = sum(1 for a, b in itertools.pairwise(positions) if b != a + 1) + 1
    assert runs == 8


def test_calibration_gap_is_larger_when_frames_have_close_neighbours() -> None:
    rng = np.random.default_rng(0)
    scattered = _unit(rng, 600, 128)
    centres = _unit(rng, 30, 128)
    clustered = normalise(np.repeat(centres, 20, axis=0) + 0.05 * rng.standard_normal((600, 128)).astype(np.float32))
    far = calibrate([_segment(0, scattered)], {})
    near = calibrate([_segment(0, clustered)], {})
    assert far.gap is not None and near.gap is not None
    assert near.gap > far.gap + 0.3
    assert far.sampled == near.sampled == CALIBRATION_SAMPLES
    assert far.mean.shape == (128,) and far.seconds >= 0


def test_calibration_is_deterministic_and_skips_removed_frames() -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 40, 8)
    segments = [_segment(0, vectors[:25]), _segment(25, vectors[25:])]
    one, two = calibrate(segments, {}), calibrate(segments, {})
    assert one.gap == two.gap and np.array_equal(one.mean, two.mean)
    # Frames 0..29 removed: the calibration is that of the ten left.
    dead = {i: 1 for i in range(30)}
    left = calibrate(segments, dead)
    assert left.sampled == 10
    assert np.allclose(left.mean, vectors[30:].mean(axis=0), atol=1e-6)
    alone = calibrate([_segment(30, vectors[30:])], {})
    assert left.gap == pytest.approx(alone.gap)


def test_calibration_of_too_few_frames() -> None:
    assert calibrate([], {}).gap is None and calibrate([], {}).sampled == 0
    single = calibrate([_segment(0, _unit(np.random.default_rng(2), 1, 8))], {})
    assert single.gap is None and single.sampled == 1


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_calibration_reads_an_hnsw_segment_through_its_index(dtype: VecDtype) -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng, 300, 16)
    ids = np.arange(100, 400, dtype=np.uint64)
    view = HnswView(build_hnsw(ids, vectors, dtype), HnswShape(dtype, 16, 100, 399, 300))

    def no_load() -> npt.NDArray[np.float32]:
        raise AssertionError("the segment's vectors were loaded")

    from_index = calibrate([SegmentVectors(ids, no_load, view)], {})
    exact = calibrate([SegmentVectors(ids, lambda: vectors, None)], {})
    assert from_index.sampled == exact.sampled == 256
    assert from_index.gap == pytest.approx(exact.gap, abs=0.01)
    assert np.allclose(from_index.mean, exact.mean, atol=0.01)


# -- through Memvid.search --------------------------------------------------------------------


class BagEmbedder:
    """Deterministic bag-of-words vectors: shared words make vectors close."""

    name = "test/fusion-bow"
    dim = 32
    normalized = True

    def _one(self, text: str) -> npt.NDArray[np.float32]:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in text.lower().split():
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self._one(text)


TEXTS = [
    "Alice prefers green tea in the morning",
    "Bob drinks espresso after lunch",
    "The quarterly report is due on Friday",
    "Running shoes were ordered for the marathon",
    "Alice is allergic to peanuts",
    "Green tea and peanuts for the office kitchen",
]


def test_adaptive_search_through_the_capsule(tmp_path: Path) -> None:
    path = tmp_path / "mem.mv2"
    with Memvid.create(path, embedder=BagEmbedder()) as mem:
        for text in TEXTS:
            mem.put(text)
        mem.commit()
    with Memvid.open(path, read_only=True, embedder=BagEmbedder()) as mem:
        hits = mem.search("alice green tea", mode="hybrid", fusion="adaptive", limit=6)
        scores = [h.score for h in hits]
        assert len(hits) == 6 and all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
        assert hits[0].title is None and "Alice prefers green tea" in hits[0].snippet
        assert hits[0].retrievers == {"lex": 1, "vec": 1} and scores[0] == pytest.approx(1.0)
        again = mem.search(SearchRequest(query="alice green tea", mode="hybrid", fusion="adaptive", limit=6))
        assert [(h.frame_id, h.score) for h in again] == [(h.frame_id, h.score) for h in hits]
        assert [h.score for h in mem.search("alice green tea", mode="hybrid", fusion="adaptive", threshold=0.999)] == [
            scores[0]
        ]
        cal = calibration(mem._snapshot)
        assert cal is calibration(mem._snapshot)  # computed once per commit
        assert cal.sampled == len(TEXTS) and cal.gap is not None
        with pytest.raises(InvalidInputError, match="adaptive"):
            mem.search("tea", mode="hybrid", fusion="convex")  # type: ignore[arg-type]


def test_a_new_commit_is_calibrated_again(tmp_path: Path) -> None:
    path = tmp_path / "mem.mv2"
    with Memvid.create(path, embedder=BagEmbedder()) as mem:
        for text in TEXTS[:3]:
            mem.put(text)
        mem.commit()
        mem.search("tea", mode="hybrid", fusion="adaptive")
        first = calibration(mem._snapshot)
        for text in TEXTS[3:]:
            mem.put(text)
        mem.commit()
        mem.search("tea", mode="hybrid", fusion="adaptive")
        second = calibration(mem._snapshot)
        assert (first.sampled, second.sampled) == (3, 6)
