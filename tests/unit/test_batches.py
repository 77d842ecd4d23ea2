"""How many rows a frames batch holds: fewer when the capsule has vectors, so that a search hit,
which reads its batch without the vectors but checks and decompresses the whole block, reads
less; capsules whose batches were cut at 1,024 rows (before 2026-12-04) read and merge as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import memvid.engine.rows as rows_module
from memvid import Memvid
from memvid.engine.rows import BATCH_MAX_ROWS, BATCH_VECTOR_BYTES, batch_max_rows

pytestmark = pytest.mark.usefixtures("private_cache")  # the fixtures are in tests/unit/conftest.py


def test_the_row_limit_follows_the_vector_bytes() -> None:
    assert batch_max_rows(None) == BATCH_MAX_ROWS == 1024
    assert batch_max_rows(384) == 256  # MiniLM: 384 KiB of vectors
    assert batch_max_rows(1536) == 64
    assert batch_max_rows(96) == 1024  # small vectors: the row limit as without
    assert batch_max_rows(65_536) == 16  # never fewer
    for dim in (8, 100, 384, 768, 1024, 3072):
        rows = batch_max_rows(dim)
        assert rows == BATCH_MAX_ROWS or rows * 4 * dim <= BATCH_VECTOR_BYTES


def _batch_rows(mem: Memvid) -> list[list[int]]:
    snapshot = mem._snapshot
    return [[b.rows for b in snapshot.segment_dir(s).batches] for s in snapshot.manifest.segments]


def test_batches_with_vectors_hold_fewer_rows(path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((1000, 384)).astype(np.float32)
    with Memvid.create(path) as mem:
        mem.put_many([f"plain {i}" for i in range(1500)])
        mem.commit()
        mem.put_many([{"text": f"doc {i} word{i}", "embedding": vectors[i]} for i in range(1000)])
        mem.commit()
        assert _batch_rows(mem) == [[1024, 476], [256, 256, 256, 232]]
        for i in range(0, 1000, 97):
            hit = mem.search(vector=vectors[i], mode="vec", limit=1)[0]
            assert hit.frame_id == 1500 + i and hit.snippet == f"doc {i} word{i}"
            assert [h.uri for h in mem.search(f"word{i}", mode="lex")] == [None]


def test_a_merge_reuses_batches_of_either_size(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((5800, 384)).astype(np.float32)
    with Memvid.create(path) as mem:
        # Written as before 2026-12-04: batches of 1,024 rows with vectors.
        monkeypatch.setattr(rows_module, "BATCH_VECTOR_BYTES", 1 << 30)
        for start in (0, 1100):
            mem.put_many([{"text": f"old {i}", "embedding": vectors[i]} for i in range(start, start + 1100)])
            mem.commit()
        assert _batch_rows(mem) == [[1024, 76]] * 2
    monkeypatch.undo()
    with Memvid.open(path) as mem:
        old = {b.ref.offset for b in mem._snapshot.batch_entries()}
        for start in range(2200, 5200, 600):
            mem.put_many([{"text": f"new {i}", "embedding": vectors[i]} for i in range(start, start + 600)])
            mem.commit()
        assert _batch_rows(mem) == [[1024, 76]] * 2 + [[256, 256, 88]] * 5
        before = {b.ref.offset for b in mem._snapshot.batch_entries()}
        mem.put_many([{"text": f"new {i}", "embedding": vectors[i]} for i in range(5200, 5800)])
        mem.commit()  # eight segments of level 3: they merge
        assert _batch_rows(mem) == [[1024, 76] * 2 + [256, 256, 88] * 6]
        # Every batch is full (half the limit of its kind: 512 rows, or 128 with 384-d vectors)
        # or alone between full ones, so the merge kept all by reference and rewrote none.
        entries = list(mem._snapshot.batch_entries())
        assert {b.ref.offset for b in entries[:-3]} == before and old <= before
        for i in range(0, 5800, 111):
            found = mem.search(vector=vectors[i], mode="vec", limit=1)[0]
            assert found.frame_id == i and found.snippet.split()[1] == str(i)
        assert mem.verify().ok
    with Memvid.open(path, read_only=True) as reader:
        assert reader.search(vector=vectors[1100], mode="vec", limit=1)[0].snippet == "old 1100"
        assert reader.get(5799).text == "new 5799"
