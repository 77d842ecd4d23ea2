"""Fusion of the lexical and vector rankings, above all ``adaptive`` and its calibration."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from memvid import CorruptCapsuleError, InvalidInputError, Memvid, SearchRequest
from memvid.fusion import CALIBRATION_SAMPLES, Calibration, calibrate, calibration, fuse, vector_weight
from memvid.index import vec_segments
from memvid.index.calibration import _sample_positions
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


# -- the calibration a commit records ---------------------------------------------------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of calibrations computed by the writer (``commit``) and by a search (``search``)."""
    import memvid.fusion
    import memvid.index

    calls = {"commit": 0, "search": 0}

    def counting(where: str, real: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Calibration:
            calls[where] += 1
            result: Calibration = real(*args, **kwargs)
            return result

        return run

    monkeypatch.setattr(memvid.index, "calibrate", counting("commit", memvid.index.calibrate))
    monkeypatch.setattr(memvid.fusion, "calibrate", counting("search", memvid.fusion.calibrate))
    return calls


def _entry(mem: Memvid) -> Any:
    return mem._snapshot.manifest.indexes.get("fusion")


def _vectors(n: int, seed: int, dim: int = 16) -> npt.NDArray[np.float32]:
    return _unit(np.random.default_rng(seed), n, dim)


def test_the_first_commit_with_vectors_records_a_calibration(tmp_path: Path, counted: dict[str, int]) -> None:
    with Memvid.create(tmp_path / "c.mv2") as mem:
        mem.put("no vector yet")
        mem.commit()
        assert _entry(mem) is None and counted["commit"] == 0
        for i, v in enumerate(_vectors(50, 0)):
            mem.put(f"frame {i}", embedding=v)
        mem.commit()
        entry = _entry(mem)
        assert counted["commit"] == 1
        assert entry["v"] == 1 and entry["frames"] == 51 and entry["sampled"] == 50
        recorded = calibration(mem._snapshot)
        computed = calibrate(vec_segments(mem._snapshot), {})
        assert recorded.gap == pytest.approx(computed.gap, abs=1e-6)
        assert np.array_equal(recorded.mean, computed.mean)  # base64 float32: exact
        assert counted["search"] == 0  # the search did not calibrate: it read the manifest


def test_small_commits_repeat_the_calibration_and_growth_recomputes_it(tmp_path: Path, counted: dict[str, int]) -> None:
    vectors = _vectors(200, 1)
    with Memvid.create(tmp_path / "c.mv2") as mem:
        for i in range(100):
            mem.put(f"frame {i}", embedding=vectors[i])
        mem.commit()
        first = _entry(mem)
        assert counted["commit"] == 1 and first["frames"] == 100
        for i in range(100, 110):  # ten one-frame commits: +10%, not more
            mem.put(f"frame {i}", embedding=vectors[i])
            mem.commit()
            assert _entry(mem) == first
            mem.search("frame", vector=vectors[i], mode="hybrid", fusion="adaptive")
        assert counted == {"commit": 1, "search": 0}
        mem.put("frame 110", embedding=vectors[110])  # 111 frames: more than a tenth over 100
        mem.commit()
        second = _entry(mem)
        assert counted["commit"] == 2 and second["frames"] == 111 and second["sampled"] == 111
        assert second["mean"] != first["mean"]
        for fid in range(12):  # deletes count too: 99 frames, down by more than a tenth of 111
            mem.delete(fid)
        mem.commit()
        assert counted["commit"] == 3 and _entry(mem)["frames"] == 99
        before = _entry(mem)
        mem.reindex()  # rebuilds every index, the calibration included (the same frames: the same numbers)
        assert counted["commit"] == 4 and _entry(mem) == before
        assert counted["search"] == 0


def test_a_fresh_process_searches_a_commit_as_its_writer_did(tmp_path: Path) -> None:
    path = tmp_path / "c.mv2"
    vectors = _vectors(300, 2, dim=BagEmbedder.dim)
    queries = _vectors(5, 3, dim=BagEmbedder.dim)
    with Memvid.create(path) as mem:
        for i in range(300):
            mem.put(f"{TEXTS[i % len(TEXTS)]} {i}", embedding=vectors[i])
        mem.commit()
        mem.put("alice green tea", embedding=queries[0])
        mem.commit()
        writer = [
            [
                (h.frame_id, h.score)
                for h in mem.search(TEXTS[q], vector=queries[q], mode="hybrid", fusion="adaptive", limit=20)
            ]
            for q in range(5)
        ]
        head = mem.head.seq
    script = (
        "import json, sys, numpy as np\n"
        "from memvid import Memvid\n"
        "q = np.array(json.loads(sys.argv[2]), dtype=np.float32)\n"
        "texts = json.loads(sys.argv[3])\n"
        "with Memvid.open(sys.argv[1], read_only=True) as mem:\n"
        f"    assert mem.head.seq == {head}\n"
        "    found = [mem.search(t, vector=v, mode='hybrid', fusion='adaptive', limit=20) for t, v in zip(texts, q)]\n"
        "    print(json.dumps([[(h.frame_id, h.score) for h in hits] for hits in found]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), json.dumps(queries.tolist()), json.dumps(TEXTS[:5])],
        capture_output=True,
        text=True,
        check=True,
    )
    reader = [[(fid, score) for fid, score in hits] for hits in json.loads(out.stdout)]
    assert reader == writer  # the same frames with the same float scores, to the last bit


def test_a_commit_without_a_recorded_calibration_is_calibrated_when_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: dict[str, int]
) -> None:
    import memvid.index

    path = tmp_path / "old.mv2"
    monkeypatch.setattr(memvid.index.IndexMaintainer, "_update_fusion", lambda self, change, read: None)
    with Memvid.create(path, embedder=BagEmbedder()) as mem:  # as a writer before calibrations were recorded
        for text in TEXTS:
            mem.put(text)
        mem.commit()
    monkeypatch.undo()
    import memvid.fusion

    monkeypatch.setattr(memvid.fusion, "calibrate", counting_calibrate(counted))
    with Memvid.open(path, read_only=True, embedder=BagEmbedder()) as mem:
        assert _entry(mem) is None
        hits = mem.search("alice green tea", mode="hybrid", fusion="adaptive")
        assert counted["search"] == 1 and hits[0].score == pytest.approx(1.0)
        mem.search("bob espresso", mode="hybrid", fusion="adaptive")
        assert counted["search"] == 1  # once per snapshot
        assert calibration(mem._snapshot).sampled == len(TEXTS)
    with Memvid.open(path, embedder=BagEmbedder()) as mem:  # the next commit records one
        mem.put("Carol brews oolong")
        mem.commit()
        assert _entry(mem)["sampled"] == len(TEXTS) + 1


def counting_calibrate(calls: dict[str, int]) -> Any:
    from memvid.index.calibration import calibrate as real

    def run(*args: Any, **kwargs: Any) -> Calibration:
        calls["search"] += 1
        return real(*args, **kwargs)

    return run


GOOD = {"v": 1, "frames": 6, "sampled": 6, "gap": 0.25, "mean": ""}


def _good(dim: int = 4) -> dict[str, Any]:
    mean = np.full(dim, 0.1, dtype="<f4")
    return {**GOOD, "mean": base64.b64encode(mean.tobytes()).decode()}


@pytest.mark.parametrize(
    "change",
    [
        {"v": "1"},
        {"v": True},
        {"v": None},
        {"frames": -1},
        {"frames": 1.5},
        {"frames": True},
        {"sampled": None},
        {"sampled": 2**64},
        {"gap": float("nan")},
        {"gap": float("inf")},
        {"gap": 3.0},
        {"gap": "0.2"},
        {"gap": True},
        {"mean": None},
        {"mean": [0.1, 0.1, 0.1, 0.1]},
        {"mean": "not base64!"},
        {"mean": base64.b64encode(np.full(3, 0.1, "<f4").tobytes()).decode()},  # another dimension
        {"mean": base64.b64encode(np.full(5, 0.1, "<f4").tobytes()).decode()},
        {"mean": base64.b64encode(b"\x00" * 15).decode()},  # not whole float32s
        {"mean": base64.b64encode(np.array([np.nan, 0, 0, 0], "<f4").tobytes()).decode()},
        {"mean": base64.b64encode(np.array([2.0, 0, 0, 0], "<f4").tobytes()).decode()},  # longer than 1
        {"mean": "A" * 10_000_000},
        {"sampled": 1},  # a gap needs two frames
        {"sampled": 0},  # then the mean is empty
    ],
)
def test_a_malformed_calibration_entry_is_a_corrupt_capsule(change: dict[str, Any]) -> None:
    with pytest.raises(CorruptCapsuleError, match="fusion calibration"):
        Calibration.from_json({**_good(), **change}, 4)


def test_calibration_entries_that_are_read() -> None:
    cal = Calibration.from_json(_good(), 4)
    assert cal is not None and cal.gap == 0.25 and cal.sampled == 6 and cal.frames == 6 and cal.seconds == 0.0
    assert np.array_equal(cal.mean, np.full(4, 0.1, np.float32))
    assert Calibration.from_json({**_good(), "v": 2, "mean": 7}, 4) is None  # another version: computed again
    empty = Calibration.from_json({**GOOD, "sampled": 0, "gap": None}, 4)
    assert empty is not None and len(empty.mean) == 0 and empty.gap is None
    again = Calibration.from_json(cal.to_json(), 4)
    assert again is not None and again.to_json() == cal.to_json() == _good()
    for bad in (None, [], "x", 1):
        with pytest.raises(CorruptCapsuleError):
            Calibration.from_json(bad, 4)
    with pytest.raises(CorruptCapsuleError, match="no vectors"):
        Calibration.from_json(_good(), None)


def test_vectors_too_long_for_float32_leave_the_calibration_finite(tmp_path: Path) -> None:
    """A finite vector whose squared norm overflows float32 (seen by the round-trip property test)."""
    with Memvid.create(tmp_path / "c.mv2") as mem:
        for i, v in enumerate(_vectors(20, 4, dim=4)):
            mem.put(f"frame {i}", embedding=v)
        mem.put("huge", embedding=[1.8446744073709552e19, 0.0, 0.0, 0.0])
        mem.put("inf after squaring", embedding=[3e38, 3e38, 0.0, 0.0])
        mem.commit()
        entry = _entry(mem)
        assert entry["sampled"] >= 20 and entry["gap"] is not None
        recorded = calibration(mem._snapshot)  # the reader's checks pass: finite, of length at most 1
        assert np.all(np.isfinite(recorded.mean))
