"""Exact vector scoring runs BLAS on one thread and gives the process its thread count back; vectors
normalise without overflowing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memvid import Memvid
from memvid.index import vec


class FakeBlas:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.calls: list[int] = []

    @property
    def num_threads(self) -> int:
        return self.threads

    def set_num_threads(self, n: int) -> None:
        self.calls.append(n)
        self.threads = n


def _search(monkeypatch: pytest.MonkeyPatch, libs: list[Any]) -> list[tuple[int, float]]:
    monkeypatch.setattr(vec, "_BLAS", libs)
    rng = np.random.default_rng(0)
    vectors = vec.normalise(rng.standard_normal((50, 8)).astype(np.float32))
    segment = vec.SegmentVectors(np.arange(50, dtype=np.uint64), lambda: vectors, None)
    found = vec.search_segments([segment], vectors[7], 3, lambda ids: np.ones(len(ids), dtype=bool))
    assert found[0][0] == 7 and found[0][1] == pytest.approx(1.0, abs=1e-5)
    return found


def test_exact_scores_on_one_blas_thread_then_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    many, one = FakeBlas(4), FakeBlas(1)
    _search(monkeypatch, [many, one])
    assert many.calls == [1, 4] and many.threads == 4  # one thread for the product, then back
    assert one.calls == []  # already one thread: left alone


def test_exact_scores_restore_when_the_product_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    many = FakeBlas(3)
    monkeypatch.setattr(vec, "_BLAS", [many])
    with pytest.raises(ValueError):
        vec._scores(np.zeros((4, 8), dtype=np.float32), np.zeros(5, dtype=np.float32))
    assert many.threads == 3


def test_the_real_blas_finds_numpy_s_library() -> None:
    vec._BLAS = None
    vectors = np.eye(4, dtype=np.float32)
    assert vec._scores(vectors, vectors[2]).tolist() == [0.0, 0.0, 1.0, 0.0]
    assert vec._BLAS is not None


def test_vectors_whose_squared_norm_overflows_are_normalised_not_zeroed(tmp_path: Path) -> None:
    from memvid.index.vec import normalise

    huge = np.array([[3e38, 3e38, 1.0], [0.0, 0.0, 0.0], [3.0, 4.0, 0.0]], dtype=np.float32)
    unit = normalise(huge)  # warnings are errors in the test suite: an overflow would fail here
    assert np.allclose(unit, [[2**-0.5, 2**-0.5, 0.0], [0.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    assert huge[0, 0] == np.float32(3e38)  # the caller's array is left alone
    with Memvid.create(tmp_path / "h.mv2") as mem:  # the commit calibrates fusion over these vectors
        mem.put_many([{"text": f"frame {i}", "embedding": [1e30 * (i + 1), 1e30, 0.0]} for i in range(20)])
        mem.commit()
        hits = mem.search("frame", vector=[1e30, 1e30, 0.0], mode="hybrid", limit=3)
    assert hits[0].frame_id == 0
