"""put_many(pyarrow.Table): the columnar way in gives the same frames as the row way."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from memvid import InvalidInputError, LimitExceededError, Memvid, PutOptions


def _table(n: int, dim: int = 4) -> tuple[pa.Table, np.ndarray]:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    mask = np.zeros(n, dtype=bool)
    mask[1::3] = True  # every third row has no vector
    table = pa.table(
        {
            "text": [f"text {i} é" for i in range(n)],
            "title": [None if i % 2 else f"title {i}" for i in range(n)],
            "uri": [f"u/{i}" for i in range(n)],
            "kind": ["note"] * n,
            "tags": pa.array([[("i", str(i))] for i in range(n)], pa.map_(pa.string(), pa.string())),
            "timestamp": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in range(n)],
                pa.timestamp("s", tz="UTC"),
            ),
            "metadata": [{"n": i, "even": i % 2 == 0} for i in range(n)],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim, mask=pa.array(mask)),
            "payload": [bytes([i % 256]) * 3 if i % 4 == 0 else None for i in range(n)],
        }
    )
    return table, np.where(mask[:, None], np.nan, vectors)


def test_table_rows_equal_row_by_row_puts(tmp_path: Path) -> None:
    table, vectors = _table(50)
    with Memvid.create(tmp_path / "a.mv2") as a, Memvid.create(tmp_path / "b.mv2") as b:
        ids = a.put_many(table)
        a.commit()
        for i, row in enumerate(table.to_pylist()):
            fields = dict(
                title=row["title"],
                uri=row["uri"],
                kind=row["kind"],
                tags=dict(row["tags"]),
                timestamp=row["timestamp"],
                metadata=row["metadata"],
                embedding=None if np.isnan(vectors[i]).any() else vectors[i],
            )
            if row["payload"] is None:
                b.put(row["text"], **fields)
            else:
                b.put_bytes(row["payload"], PutOptions(text=row["text"], **fields))
        b.commit()
        assert ids == list(range(50))
        for fid in ids:
            fa, fb = a.get(fid), b.get(fid)
            for field in ("text", "title", "uri", "kind", "tags", "timestamp", "metadata"):
                assert getattr(fa, field) == getattr(fb, field), field
            assert (fa.payload, fa.checksum) == (fb.payload, fb.checksum)
            assert (fa.embedding is None) == (fb.embedding is None)
            if fa.embedding is not None:
                assert fa.embedding.tobytes() == fb.embedding.tobytes()
        assert a.get(0).payload == b"\x00\x00\x00"
        hits = a.search(vector=vectors[0], mode="vec", limit=1)
        assert hits[0].frame_id == 0


def test_record_batch_list_vectors_and_naive_times(tmp_path: Path) -> None:
    batch = pa.record_batch(
        {
            "text": ["a", "b"],
            "embedding": pa.array([[1, 0, 0], None], pa.list_(pa.float64())),
            "timestamp": pa.array([dt.datetime(2024, 5, 1, 12), None], pa.timestamp("ms")),
        }
    )
    with Memvid.create(tmp_path / "c.mv2") as mem:
        mem.put_many(batch)
        mem.commit()
        first = mem.get(0)
        assert first.timestamp == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
        assert first.embedding is not None and first.embedding.tolist() == [1.0, 0.0, 0.0]
        assert mem.get(1).embedding is None and mem.get(1).timestamp is None


@pytest.mark.parametrize(
    ("table", "error"),
    [
        (pa.table({"title": ["x"]}), "needs a 'text' column"),
        (pa.table({"text": ["x"], "colour": ["red"]}), "unknown column"),
        (pa.table({"text": pa.array(["x", None])}), "null"),
        (pa.table({"text": pa.array([1, 2])}), "must be strings"),
        (pa.table({"text": ["x"], "embedding": pa.array([[1.0, float("nan")]])}), "NaN"),
        (pa.table({"text": ["x", "y"], "embedding": pa.array([[1.0], [1.0, 2.0]])}), "several dimensions"),
        (pa.table({"text": ["x"], "embedding": pa.array([["a"]])}), "lists of numbers"),
        (pa.table({"text": ["x"], "metadata": ["not a mapping"]}), "row 0"),
        (pa.table({"text": ["x"], "payload": ["str"]}), "binary"),
    ],
)
def test_bad_tables_are_refused_whole(tmp_path: Path, table: pa.Table, error: str) -> None:
    with Memvid.create(tmp_path / "d.mv2") as mem:
        with pytest.raises(InvalidInputError, match=error):
            mem.put_many(table)
        assert mem.pending == 0


def test_dimension_must_match_the_capsule(tmp_path: Path) -> None:
    with Memvid.create(tmp_path / "e.mv2") as mem:
        mem.put("x", embedding=[1.0, 2.0])
        with pytest.raises(InvalidInputError, match="dimension"):
            mem.put_many(pa.table({"text": ["y"], "embedding": pa.array([[1.0, 2.0, 3.0]])}))
        assert mem.pending == 1


def test_oversized_frame_is_a_limit_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memvid.bulk

    monkeypatch.setattr(memvid.bulk, "MAX_FRAME_BYTES", 10)
    with Memvid.create(tmp_path / "f.mv2") as mem, pytest.raises(LimitExceededError, match="row 1"):
        mem.put_many(pa.table({"text": ["short", "far too long a text"]}))


def test_pending_table_rows_can_be_updated_and_deleted(tmp_path: Path) -> None:
    with Memvid.create(tmp_path / "g.mv2") as mem:
        mem.put_many(pa.table({"text": ["one", "two", "three"], "uri": ["a", "b", "c"]}))
        mem.update("b", text="TWO")
        mem.delete("c")
        mem.commit()
        assert [f.text for f in mem.frames()] == ["one", "TWO"]
