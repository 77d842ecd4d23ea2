"""Compaction's choice of segments to merge (``merge_width``), and merges of segments with HNSW."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from memvid import Memvid
from memvid.engine.manifest import SegmentEntry
from memvid.engine.writer import MERGE_WIDTH, level_of, merge_width
from memvid.format.block import BlockRef

pytestmark = pytest.mark.usefixtures("private_cache")  # the fixtures are in tests/unit/conftest.py

CAP_384_F16 = 253_099  # hnsw_max_rows(384, "f16")


def _segment(rows: int) -> SegmentEntry:
    return SegmentEntry(BlockRef(0, 0, bytes(16)), 0, 0, rows, level_of(rows))


def _commit(segments: list[tuple[int, bool]], rows: int, cap: int | None) -> list[int]:
    """Append a segment of ``rows`` (``(rows, old)`` pairs: old ones existed before this
    commit) and apply the writer's rule; returns the widths of the merges made."""
    segments.append((rows, False))
    widths = []
    # The rule reads back at most seven segments of each level below the newest's and the
    # newest eight (a run of large segments under the cap is shorter): 64 is enough here.
    while width := merge_width([_segment(r) for r, _ in segments[-_WINDOW:]], cap):
        widths.append(width)
        merged = segments[-width:]
        if cap is not None and all(r * MERGE_WIDTH > cap for r, _ in merged):
            # A run of large segments holds at most one that existed before the commit: the
            # merged index extends it and inserts only rows new to the capsule.
            assert sum(old for _, old in merged) <= 1, segments
        segments[-width:] = [(sum(r for r, _ in merged), False)]
    segments[-_WINDOW:] = [(r, True) for r, _ in segments[-_WINDOW:]]  # the rest already is
    return widths


_WINDOW = 8 * MERGE_WIDTH


def _rows(segments: list[tuple[int, bool]]) -> list[int]:
    return [r for r, _ in segments]


def test_commits_of_100k_vectors_pair_up_under_the_hnsw_block_cap() -> None:
    segments: list[tuple[int, bool]] = []
    for i in range(1, 11):
        assert _commit(segments, 100_000, CAP_384_F16) == ([2] if i % 2 == 0 else [])
        assert _rows(segments) == [200_000] * (i // 2) + [100_000] * (i % 2)
    assert len(segments) == 5  # ten before: eight 100k segments pass the cap, and nothing merged


def test_without_a_cap_the_rule_is_eight_of_a_level() -> None:
    segments: list[tuple[int, bool]] = []
    for _ in range(8):
        _commit(segments, 100_000, None)
    assert _rows(segments) == [800_000]
    segments = []
    for _ in range(63):
        _commit(segments, 1, None)
    assert _rows(segments) == [8] * 7 + [1] * 7  # 8-row segments wait for eight of their level
    _commit(segments, 1, None)
    assert _rows(segments) == [64]


def test_small_segments_merge_by_eight_below_the_cap() -> None:
    segments: list[tuple[int, bool]] = []
    for _ in range(64):
        _commit(segments, 1, CAP_384_F16)
    assert _rows(segments) == [64]  # far below the cap nothing changes
    segments = []
    for _ in range(7):
        _commit(segments, 30_000, CAP_384_F16)  # under cap / 8: waits for eight, as without a cap
    assert _rows(segments) == [30_000] * 7
    _commit(segments, 30_000, CAP_384_F16)
    assert _rows(segments) == [240_000]


@pytest.mark.parametrize("cap", [20, 1000, CAP_384_F16])
def test_segments_stay_few_over_100k_one_frame_commits(cap: int) -> None:
    segments: list[tuple[int, bool]] = []
    for _ in range(100_000):
        _commit(segments, 1, cap)
        assert len(segments) <= 2 * 100_000 // cap + 7 * 6 + 1
    rows = _rows(segments)
    assert sum(rows) == 100_000 and max(rows) <= cap
    large = [r for r in rows if r * MERGE_WIDTH > cap]
    # Two neighbouring large segments never fit under the cap together (they would have merged).
    assert all(a + b > cap for a, b in itertools.pairwise(large))


def test_large_commits_of_random_sizes_merge_in_runs_under_the_cap() -> None:
    rng = random.Random(5)
    for cap in (500, 5_000):
        segments: list[tuple[int, bool]] = []
        total = merges = 0
        for _ in range(3_000):
            rows = rng.randint(cap // MERGE_WIDTH + 1, cap // 2)
            total += rows
            merges += len(_commit(segments, rows, cap))  # _commit checks the old segments of each run
        sizes = _rows(segments)
        assert merges > 1_000 and sum(sizes) == total and max(sizes) <= cap
        assert all(a + b > cap for a, b in itertools.pairwise(sizes))
        assert len(sizes) <= 2 * total // cap + 1


@pytest.mark.parametrize("cap", [None, 5_000, CAP_384_F16])
def test_commits_of_mixed_sizes_keep_few_segments(cap: int | None) -> None:
    """Commits of different sizes in turn: levels fall from the oldest segment to the newest,
    at most seven of each below the cap (eight of one level alone never met: 2,986 segments
    were left after these 3,000 commits)."""
    rng = random.Random(11)
    segments: list[tuple[int, bool]] = []
    total = 0
    for i in range(3_000):
        rows = rng.choice([1, 3, 20, 64, 450]) if i % 2 else rng.randint(1, 450)
        total += rows
        _commit(segments, rows, cap)
        small = [level_of(r) for r, _ in segments if cap is None or r * MERGE_WIDTH <= cap]
        assert small == sorted(small, reverse=True), segments
        assert all(small.count(level) < MERGE_WIDTH for level in set(small))
    sizes = _rows(segments)
    assert sum(sizes) == total and (cap is None or max(sizes) <= cap)
    assert len(sizes) <= (MERGE_WIDTH - 1) * (level_of(total) + 1) + (0 if cap is None else 2 * total // cap)


def test_tombstone_blocks_of_mixed_sizes_stay_few() -> None:
    from memvid.engine.manifest import TombstoneEntry
    from memvid.engine.writer import _tier_width

    rng = random.Random(3)
    entries: list[TombstoneEntry] = []
    for i in range(2_000):
        entries.append(TombstoneEntry(BlockRef(0, 0, bytes(16)), n := rng.choice([1, 2, 30, 200]), level_of(n)))
        while width := _tier_width([(e.level, e.count) for e in entries], None):  # as _compact_tombstones
            count = sum(e.count for e in entries[-width:])
            entries[-width:] = [TombstoneEntry(BlockRef(0, 0, bytes(16)), count, level_of(count))]
        assert len(entries) <= (MERGE_WIDTH - 1) * 6, i


def test_merged_large_segments_extend_one_hnsw(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memvid.index as index_module
    from memvid.index.vec import build_hnsw

    monkeypatch.setattr(index_module, "HNSW_MIN_ROWS", 50)
    monkeypatch.setattr(index_module, "hnsw_max_rows", lambda dim, dtype: 250)
    inserted: list[int] = []

    def counting_build(ids, vectors, dtype, *, base=None, threads=0):  # type: ignore[no-untyped-def]
        inserted.append(len(ids) - (base[1].rows if base is not None else 0))
        return build_hnsw(ids, vectors, dtype, base=base, threads=threads)

    monkeypatch.setattr(index_module, "build_hnsw", counting_build)
    rng = np.random.default_rng(13)
    vectors = rng.standard_normal((500, 8)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    with Memvid.create(path) as mem:
        for start in range(0, 500, 100):
            mem.put_many([{"text": f"v{i} word{i}", "embedding": vectors[i]} for i in range(start, start + 100)])
            mem.commit()
        assert [s.rows for s in mem._snapshot.manifest.segments] == [200, 200, 100]
        segments = index_module.vec_segments(mem._snapshot)
        assert [len(s.ids) for s in segments] == [200, 200, 100] and all(s.hnsw is not None for s in segments)
        assert inserted == [100] * 5  # each merge extended the older segment's graph with the new rows
        found = []
        for i in range(0, 500, 9):
            want = np.argsort(-(unit @ unit[i]), kind="stable")[:5].tolist()
            found.append([h.frame_id for h in mem.search(vector=vectors[i], mode="vec", limit=5)])
            assert found[-1][0] == i and set(found[-1]) == set(want)  # f16 scores may swap near ties
            assert [h.frame_id for h in mem.search(f"word{i}", mode="lex")] == [i]
        assert mem.verify().ok
    with Memvid.open(path, read_only=True) as reader:
        assert [
            [h.frame_id for h in reader.search(vector=vectors[i], mode="vec", limit=5)] for i in range(0, 500, 9)
        ] == found


def test_an_extended_hnsw_inserts_with_memvid_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    from memvid.index import vec

    index_cls = vec._usearch()
    add = index_cls.add
    seen: list[tuple[int, int]] = []

    def spying_add(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((self.expansion_add, self.expansion_search))
        return add(self, *args, **kwargs)

    monkeypatch.setattr(index_cls, "add", spying_add)
    rng = np.random.default_rng(17)
    vectors = rng.standard_normal((200, 8)).astype(np.float32)
    ids = np.arange(200, dtype=np.uint64)
    blob = vec.build_hnsw(ids[:100], vectors[:100], "f16")
    shape = vec.HnswShape("f16", 8, 0, 99, 100)
    vec.build_hnsw(ids, vectors, "f16", base=(blob, shape))
    # A saved index forgets its expansion settings (restored, usearch's defaults are 128 and 64).
    assert seen == [(vec.EXPANSION_ADD, vec.EXPANSION_SEARCH)] * 2
