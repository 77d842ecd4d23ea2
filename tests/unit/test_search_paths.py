"""The search's faster paths give what the plain ones give.

A hybrid search over a large capsule runs its lexical search on the search pool while the
calling thread searches the vectors; hits find their batch in a per-snapshot table of every
batch; a request without filters shares one empty filter value. Each is checked here against
the plain path, on capsules of several segments and batches with removed frames."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memvid.engine.rows as rows_module
import memvid.search as search_module
from memvid import Memvid, SearchRequest
from memvid.errors import CorruptCapsuleError, InvalidInputError
from memvid.index.lex import LexIndex

pytestmark = pytest.mark.usefixtures("private_cache")  # the fixtures are in tests/unit/conftest.py

_WORDS = ["tea", "coffee", "green", "black", "milk", "sugar", "cup", "pot", "leaf", "bean"]


def _capsule(path: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """Four commits (four segments) of batches of at most 7 frames, with a deleted and an
    updated frame; returns the vectors put, by frame id (rows of removed frames stay)."""
    monkeypatch.setattr(rows_module, "BATCH_MAX_ROWS", 7)
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((160, 16)).astype(np.float32)
    with Memvid.create(path) as mem:
        for start in range(0, 160, 40):
            mem.put_many(
                [
                    {
                        "text": " ".join(_WORDS[(i * k) % len(_WORDS)] for k in range(1, 5)),
                        "embedding": vectors[i],
                        "tags": {"half": str(i % 2)},
                    }
                    for i in range(start, start + 40)
                ]
            )
            mem.commit()
        mem.delete(3)
        mem.update(45, "tea tea tea", embedding=vectors[45])
        mem.commit()
    return vectors


def _hits(mem: Any, **request: Any) -> list[tuple[Any, ...]]:
    return [(h.frame_id, h.score, h.uri, h.snippet, dict(h.retrievers)) for h in mem.search(**request)]


def _lex_search_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads every later ``LexIndex.search`` runs on, in order."""
    threads: list[str] = []
    search = LexIndex.search

    def recording(self: LexIndex, *args: Any, **kwargs: Any) -> list[tuple[int, float]]:
        threads.append(threading.current_thread().name)
        return search(self, *args, **kwargs)

    monkeypatch.setattr(LexIndex, "search", recording)
    return threads


@pytest.mark.parametrize("fusion", ["adaptive", "rrf", "weighted"])
def test_hybrid_retrievers_side_by_side_equal_one_after_the_other(
    path: Path, monkeypatch: pytest.MonkeyPatch, fusion: str
) -> None:
    vectors = _capsule(path, monkeypatch)
    threads = _lex_search_threads(monkeypatch)
    requests: list[dict[str, Any]] = [
        {"query": query, "vector": vectors[i], "mode": "hybrid", "fusion": fusion, "limit": limit, **filters}
        for i, (query, limit) in enumerate([("tea", 5), ("green milk", 10), ("coffee OR leaf", 3), ("bean", 50)])
        for filters in ({}, {"tags": {"half": "1"}}, {"where": {"missing": None}})
    ]
    with Memvid.open(path, read_only=True) as mem:
        monkeypatch.setattr(search_module, "SIDE_BY_SIDE_FRAMES", 10**9)
        serial = [_hits(mem, **r) for r in requests]
        assert threads and not any(name.startswith("memvid-search") for name in threads)
        threads.clear()
        monkeypatch.setattr(search_module, "SIDE_BY_SIDE_FRAMES", 1)
        assert [_hits(mem, **r) for r in requests] == serial
        assert len(threads) == len(requests) and all(name.startswith("memvid-search") for name in threads)
        assert all(3 not in {h[0] for h in hits} and 45 not in {h[0] for h in hits} for hits in serial)


def test_a_hybrid_search_that_embeds_its_query_runs_the_lexical_search_beside_it(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the size threshold, the lexical search still hides behind the query's embedding."""
    vectors = _capsule(path, monkeypatch)
    threads = _lex_search_threads(monkeypatch)
    with Memvid.open(path, read_only=True) as mem:
        snapshot = mem._state()
        embed = {"tea": vectors[7]}
        request = SearchRequest(query="tea", mode="hybrid")
        got = search_module.run_search(snapshot, mem._lex_for, request, lambda q: embed[q])
        assert threads[-1].startswith("memvid-search")
        given = mem.search("tea", vector=vectors[7], mode="hybrid")  # a vector given, a small capsule: one thread
        assert not threads[-1].startswith("memvid-search")
        assert [(h.frame_id, h.score) for h in got] == [(h.frame_id, h.score) for h in given]


def test_side_by_side_errors_propagate_after_both_retrievers_stop(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = _capsule(path, monkeypatch)
    monkeypatch.setattr(search_module, "SIDE_BY_SIDE_FRAMES", 1)
    finished = threading.Event()

    def broken(self: LexIndex, *args: Any, **kwargs: Any) -> list[tuple[int, float]]:
        finished.set()
        raise CorruptCapsuleError("the lexical index does not load: test", kind="lex")

    monkeypatch.setattr(LexIndex, "search", broken)
    with Memvid.open(path, read_only=True) as mem:
        with pytest.raises(CorruptCapsuleError, match="lexical index"):
            mem.search("tea", vector=vectors[0], mode="hybrid")
        finished.clear()
        # Both fail: the vector side's error is raised, once the lexical search has stopped.
        with pytest.raises(InvalidInputError, match="finite numbers"):
            mem.search("tea", vector=np.full(16, np.nan, np.float32), mode="hybrid")
        assert finished.is_set()


def test_hits_find_their_batches_as_rows_by_id_does(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _capsule(path, monkeypatch)
    with Memvid.open(path, read_only=True) as mem:
        snapshot = mem._state()
        assert len(list(snapshot.batch_entries())) >= 20  # several segments of several batches
        ids = [-1, *range(0, 200), 10**6]
        located = search_module._locate(snapshot, [(fid, 0.0) for fid in ids])
        expected = snapshot.rows_by_id([fid for fid in ids if fid >= 0], vectors=False)
        assert {fid: (rows.entry, row) for fid, (rows, row) in located.items()} == {
            fid: (rows.entry, row) for fid, (rows, row) in expected.items()
        }
        # Frames built from those rows are the capsule's.
        for hit in mem.search("tea", mode="lex", limit=50):
            assert hit.frame.id == hit.frame_id and hit.uri == hit.frame.uri and hit.tags == hit.frame.tags


def test_a_request_without_filters_shares_the_empty_filters(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _capsule(path, monkeypatch)
    assert search_module.check_request(SearchRequest(query="tea"))[1] is search_module._NO_FILTERS
    assert search_module.check_request(SearchRequest(query="tea", tags={}))[1] is search_module._NO_FILTERS
    each = [
        {"kind": "note"},
        {"tags": {"half": "1"}},
        {"uri_prefix": "doc:"},
        {"since": dt.datetime(2100, 1, 1, tzinfo=dt.UTC)},
        {"until": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)},
        {"created_since": dt.datetime(2100, 1, 1, tzinfo=dt.UTC)},
        {"created_until": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)},
        {"where": {"a": 1}},
    ]
    with Memvid.open(path, read_only=True) as mem:
        everything = {h.frame_id for h in mem.search("tea", mode="lex", limit=200)}
        assert everything
        for filters in each:
            _, compiled = search_module.check_request(SearchRequest(query="tea", **filters))
            assert compiled.any and compiled is not search_module._NO_FILTERS
            assert {h.frame_id for h in mem.search("tea", mode="lex", limit=200, **filters)} < everything
    for mode in ("lex", search_module.SearchMode.LEX):
        assert search_module.check_request(SearchRequest(query="tea", mode=mode))[0] is search_module.SearchMode.LEX
    for bad in ("LEX", ["lex"], None):
        with pytest.raises(InvalidInputError, match="mode must be one of"):
            search_module.check_request(SearchRequest(query="tea", mode=bad))  # type: ignore[arg-type]


def test_hits_read_no_batch_until_a_field_is_read_and_a_forged_id_is_corrupt(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _capsule(path, monkeypatch)
    with Memvid.open(path, read_only=True) as mem:
        snapshot = mem._state()
        mem.search("tea", mode="lex")  # opens the lexical index (indexing the frames after its checkpoint)
        reads: list[int] = []
        rows = type(snapshot).rows

        def counting(self: Any, entry: Any, *, vectors: bool = True) -> Any:
            reads.append(entry.first_id)
            return rows(self, entry, vectors=vectors)

        monkeypatch.setattr(type(snapshot), "rows", counting)
        hits = mem.search("tea", mode="lex", limit=20)
        assert len(hits) == 20 and [h.frame_id for h in hits] and not reads  # ids and scores read no batch
        assert hits[5].snippet  # the first field read reads every hit's batch, once each
        assert sorted(reads) == sorted({snapshot._entry_of(h.frame_id).first_id for h in hits})  # type: ignore[union-attr]
        assert [h.uri for h in hits] and len(reads) == len(set(reads))
        request = SearchRequest(query="tea")
        forged = search_module._hits(snapshot, [(hits[0].frame_id, 1.0), (10**6, 0.5)], {"lex": []}, request)
        assert forged[0].tags == hits[0].tags
        with pytest.raises(CorruptCapsuleError, match="frame 1000000"):
            _ = forged[1].uri


def test_a_search_without_hits_leaves_nothing_for_close_to_read(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _capsule(path, monkeypatch)
    with Memvid.open(path, read_only=True) as mem:
        waiting = mem._state().reader._until_close
        empty = mem.search("nowhere", mode="lex")
        assert len(empty) == 0 and len(waiting) == 0
        found = mem.search("tea", mode="lex")
        assert len(found) and len(waiting) == 1  # read at close, if no field was read before


class _Graph:
    """An exact stand-in for a segment's HNSW view that records the threads it was searched on."""

    def __init__(self, vectors: np.ndarray, ids: np.ndarray, threads: list[str]) -> None:
        self.vectors, self.ids, self.threads = vectors, ids, threads

    def search(self, q: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        self.threads.append(threading.current_thread().name)
        scores = self.vectors @ q
        order = np.argsort(-scores, kind="stable")[:count]
        return self.ids[order], scores[order].astype(np.float32)


def test_graphs_are_searched_on_the_cores_a_search_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from memvid.index import vec

    rng = np.random.default_rng(9)
    threads: list[str] = []
    segments = []
    for s in range(4):
        vectors = vec.normalise(rng.standard_normal((30, 8)).astype(np.float32))
        ids = np.arange(s * 30, s * 30 + 30, dtype=np.uint64)
        segments.append(vec.SegmentVectors(ids, lambda v=vectors: v, _Graph(vectors, ids, threads)))  # type: ignore[arg-type]
    query = rng.standard_normal(8).astype(np.float32)
    everything = lambda ids: np.ones(len(ids), dtype=bool)  # noqa: E731
    monkeypatch.setattr(vec.os, "cpu_count", lambda: 2)
    spread = vec.search_segments(segments, query, 5, everything)
    assert len(threads) == 4 and all(name.startswith("memvid-hnsw") for name in threads)
    threads.clear()
    here = threading.current_thread().name
    assert vec.search_segments(segments, query, 5, everything, threads=1) == spread
    assert threads == [here] * 4
    threads.clear()
    assert vec.search_segments(segments, query, 5, everything, threads=2) == spread
    assert all(name.startswith("memvid-hnsw") for name in threads)


@pytest.mark.parametrize(("cores", "left"), [(1, 1), (2, 1), (4, 3)])
def test_beside_a_lexical_search_the_vectors_use_the_cores_left(
    path: Path, monkeypatch: pytest.MonkeyPatch, cores: int, left: int
) -> None:
    vectors = _capsule(path, monkeypatch)
    asked: list[int] = []
    search_segments = search_module.search_segments

    def recording(*args: Any, threads: int = 0, **kwargs: Any) -> list[tuple[int, float]]:
        asked.append(threads)
        return search_segments(*args, threads=threads, **kwargs)

    monkeypatch.setattr(search_module, "search_segments", recording)
    monkeypatch.setattr(search_module.os, "cpu_count", lambda: cores)
    with Memvid.open(path, read_only=True) as mem:
        mem.search(vector=vectors[2], mode="vec")
        assert asked == [0]  # alone, a vector search may use every core
        monkeypatch.setattr(search_module, "SIDE_BY_SIDE_FRAMES", 1)
        mem.search("tea", vector=vectors[2], mode="hybrid")
        assert asked == [0, left]
