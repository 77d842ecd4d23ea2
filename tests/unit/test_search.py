"""Search: lexical, vector and hybrid retrieval inside the capsule."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from memvid import (
    EmbedderMismatchError,
    InvalidInputError,
    Memvid,
    PutOptions,
    SearchMode,
    SearchRequest,
)
from memvid.storage.cache import cache_root

pytestmark = pytest.mark.usefixtures("private_cache")  # the fixtures are in tests/unit/conftest.py


class HashEmbedder:
    """A deterministic bag-of-words embedder: shared words make vectors close."""

    def __init__(self, dim: int = 64, name: str = "test/hash-bow") -> None:
        self._dim = dim
        self._name = name
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def normalized(self) -> bool:
        return True

    def _one(self, text: str) -> npt.NDArray[np.float32]:
        v = np.zeros(self._dim, dtype=np.float32)
        for word in text.lower().split():
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls += 1
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self._one(text)


NOTES = [
    ("Alice prefers green tea in the morning", {"person": "alice"}, "note"),
    ("Bob drinks espresso after lunch", {"person": "bob"}, "note"),
    ("The quarterly report is due on Friday", {"topic": "work"}, "task"),
    ("Running shoes were ordered for the marathon", {"topic": "sport"}, "task"),
    ("Alice is allergic to peanuts", {"person": "alice"}, "fact"),
]


def _fill(mem: Memvid) -> list[int]:
    ids = [
        mem.put(text, tags=tags, kind=kind, uri=f"note://{i}", timestamp=dt.datetime(2026, 1, i + 1))
        for i, (text, tags, kind) in enumerate(NOTES)
    ]
    mem.commit()
    return ids


def test_lexical_search_with_stemming_and_snippets(path: Path) -> None:
    with Memvid.create(path) as mem:
        ids = _fill(mem)
        results = mem.search("run", mode="lex")
        assert results.mode == SearchMode.LEX
        assert [h.frame_id for h in results] == [ids[3]]  # "Running" stems to "run"
        hit = results[0]
        assert hit.uri == "note://3" and hit.kind == "task" and dict(hit.tags) == {"topic": "sport"}
        assert hit.retrievers == {"lex": 1} and hit.score > 0
        assert [hit.snippet[a:b] for a, b in hit.highlights] == ["Running"]
        assert {h.frame_id for h in mem.search("alice", mode="lex")} == {ids[0], ids[4]}


def test_query_language(path: Path) -> None:
    with Memvid.create(path) as mem:
        ids = _fill(mem)
        assert {h.frame_id for h in mem.search('"green tea"', mode="lex")} == {ids[0]}
        assert {h.frame_id for h in mem.search("alice AND peanuts", mode="lex")} == {ids[4]}
        assert {h.frame_id for h in mem.search("alice NOT peanuts", mode="lex")} == {ids[0]}
        assert {h.frame_id for h in mem.search("alice AND NOT peanuts", mode="lex")} == {ids[0]}
        assert {h.frame_id for h in mem.search("alice -peanuts", mode="lex")} == {ids[0]}
        assert {h.frame_id for h in mem.search("espresso OR marathon", mode="lex")} == {ids[1], ids[3]}
        assert {h.frame_id for h in mem.search("title:nothing text:report", mode="lex")} == {ids[2]}
        assert {h.frame_id for h in mem.search('tags:"person=bob"', mode="lex")} == {ids[1]}
        # A query that does not parse is read leniently, never an error.
        assert {h.frame_id for h in mem.search("tea AND (", mode="lex")} == {ids[0]}


def test_filters_never_change_scores(path: Path) -> None:
    with Memvid.create(path) as mem:
        ids = _fill(mem)
        plain = {h.frame_id: h.score for h in mem.search("alice", mode="lex")}
        for filters in (
            {"kind": "fact"},
            {"tags": {"person": "alice"}},
            {"uri_prefix": "note://4"},
            {"since": "2026-01-05"},
            {"created_since": "2000-01-01"},
        ):
            filtered = {h.frame_id: h.score for h in mem.search("alice", mode="lex", **filters)}
            assert filtered and all(filtered[f] == pytest.approx(plain[f]) for f in filtered), filters
        assert ids[4] in plain


def test_filters_in_every_mode(path: Path) -> None:
    with Memvid.create(path, embedder=HashEmbedder()) as mem:
        ids = _fill(mem)
        for mode in ("lex", "vec", "hybrid"):
            assert {h.frame_id for h in mem.search("alice tea peanuts", mode=mode, tags={"person": "alice"})} == {
                ids[0],
                ids[4],
            }, mode
            assert {h.frame_id for h in mem.search("alice tea peanuts", mode=mode, kind="fact")} == {ids[4]}, mode
            assert {h.frame_id for h in mem.search("alice report", mode=mode, uri_prefix="note://2")} == {ids[2]}, mode
            got = {
                h.frame_id for h in mem.search("alice tea report", mode=mode, since="2026-01-02", until="2026-01-04")
            }
            assert got <= {ids[1], ids[2]} and ids[2] in got, mode
            assert mem.search("alice", mode=mode, created_until="2000-01-01").hits == (), mode


def test_every_unique_token_is_findable(path: Path) -> None:
    rng = random.Random(5)
    words = {}
    with Memvid.create(path) as mem:
        for _batch in range(4):
            for _ in range(500):
                token = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))
                fid = mem.put(f"common words here and {token} there")
                words[token] = fid
            mem.commit()
        for token, fid in words.items():
            hits = mem.search(token, mode="lex", limit=3)
            assert [h.frame_id for h in hits] == [fid], token


def test_removed_and_superseded_frames_never_return(path: Path) -> None:
    with Memvid.create(path, embedder=HashEmbedder()) as mem:
        ids = _fill(mem)
        first = mem.head.seq
        new = mem.update(ids[0], "Alice now prefers black coffee")
        mem.delete(ids[1])
        mem.commit()
        for mode in ("lex", "vec", "hybrid"):
            found = {h.frame_id for h in mem.search("alice tea coffee bob espresso", mode=mode, limit=10)}
            assert ids[0] not in found and ids[1] not in found and new in found, mode
        # As-of search sees the capsule as it was, index included.
        old = mem.at(commit=first)
        assert {h.frame_id for h in old.search("espresso", mode="lex")} == {ids[1]}
        assert {h.frame_id for h in old.search("coffee", mode="lex")} == set()
        assert ids[1] in {h.frame_id for h in old.search("bob espresso", mode="vec")}


def test_vectors_supplied_by_the_caller(path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 32)).astype(np.float32)
    with Memvid.create(path) as mem:
        ids = mem.put_many([{"text": f"doc {i}", "embedding": v} for i, v in enumerate(vectors)])
        mem.commit()
        for i in range(0, 300, 7):
            hit = mem.search(vector=vectors[i], limit=1)[0]
            assert hit.frame_id == ids[i] and hit.score == pytest.approx(1.0, abs=1e-5)
        assert mem.search(vector=vectors[0]).mode == SearchMode.VEC
        assert mem.search("doc", vector=vectors[0]).mode == SearchMode.HYBRID
        assert mem.search("doc").mode == SearchMode.LEX  # no embedder: a text query cannot use vectors
        with pytest.raises(InvalidInputError, match="query vector"):
            mem.search("doc", mode="vec")
        with pytest.raises(InvalidInputError, match="32 finite numbers"):
            mem.search(vector=[1.0, 2.0])


def test_hnsw_segments_return_every_vector_as_its_own_nearest_neighbour(path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 9000  # over HNSW_MIN_ROWS, so this segment is searched through HNSW
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    with Memvid.create(path, vec_dtype="f32") as mem:
        mem.put_many([{"text": "x", "embedding": v} for v in vectors])
        mem.commit()
        assert "vec" in mem._snapshot.manifest.indexes
        sample = range(0, n, 97)
        assert all(mem.search(vector=vectors[i], limit=1)[0].frame_id == i for i in sample)
        mem.delete(0)
        mem.commit()
        assert mem.search(vector=vectors[0], limit=3)[0].frame_id != 0
        assert mem.verify().ok


def test_text_is_embedded_at_commit_with_the_capsules_embedder(path: Path) -> None:
    embedder = HashEmbedder()
    with Memvid.create(path, embedder=embedder) as mem:
        ids = _fill(mem)
        assert embedder.calls == 1  # one batch for the whole commit
        assert mem.get(ids[0]).embedding is not None
        results = mem.search("green tea")
        assert results.mode == SearchMode.HYBRID and results[0].frame_id == ids[0]
        assert set(results[0].retrievers) == {"lex", "vec"}
    with pytest.raises(EmbedderMismatchError, match="test/hash-bow"):
        Memvid.open(path, embedder=HashEmbedder(name="other/model"))
    with pytest.raises(EmbedderMismatchError):
        Memvid.open(path, read_only=True, embedder=HashEmbedder(dim=32))
    with Memvid.open(path, read_only=True) as mem:
        assert mem.search("green tea").mode == SearchMode.LEX  # no embedder given: text search is lexical
    with Memvid.open(path, read_only=True, embedder=HashEmbedder()) as mem:
        assert mem.search("green tea").mode == SearchMode.HYBRID


def test_fusion_options_and_thresholds(path: Path) -> None:
    with Memvid.create(path, embedder=HashEmbedder()) as mem:
        _fill(mem)
        rrf = mem.search("alice tea", mode="hybrid", fusion="rrf", limit=5)
        assert all(0 < h.score <= 2 / 61 for h in rrf)
        default = mem.search("alice tea", mode="hybrid", limit=5)  # adaptive
        adaptive = mem.search("alice tea", mode="hybrid", fusion="adaptive", limit=5)
        assert [(h.frame_id, h.score) for h in default] == [(h.frame_id, h.score) for h in adaptive]
        assert all(0 <= h.score <= 1 for h in default) and SearchRequest().fusion == "adaptive"
        weighted = mem.search("alice tea", mode="hybrid", fusion="weighted", alpha=0.5, limit=5)
        assert all(0 <= h.score <= 1 for h in weighted)
        assert [h.score for h in weighted] == sorted((h.score for h in weighted), reverse=True)
        only_vec = mem.search("alice tea", mode="hybrid", fusion="weighted", alpha=1.0, limit=5)
        vec = mem.search("alice tea", mode="vec", limit=5)
        assert only_vec[0].frame_id == vec[0].frame_id
        top = vec[0].score
        assert [h.score for h in mem.search("alice tea", mode="vec", threshold=top)] == [top]
        with pytest.raises(InvalidInputError):
            mem.search("x", mode="nope")
        with pytest.raises(InvalidInputError):
            mem.search("x", alpha=2.0)
        with pytest.raises(InvalidInputError):
            mem.search("", mode="lex")


def test_request_object_and_builder(path: Path) -> None:
    with Memvid.create(path) as mem:
        ids = _fill(mem)
        request = SearchRequest.builder().query("alice").mode(SearchMode.LEX).limit(1).tags({"person": "alice"}).build()
        assert request == SearchRequest(query="alice", mode=SearchMode.LEX, limit=1, tags={"person": "alice"})
        assert [h.frame_id for h in mem.search(request)] in ([ids[0]], [ids[4]])
        assert len(mem.search(request, limit=2)) == 2
        assert mem.search(request).to_dict()["mode"] == "lex"


def test_reindex_and_a_lost_cache(path: Path, tmp_path: Path) -> None:
    with Memvid.create(path, embedder=HashEmbedder()) as mem:
        ids = _fill(mem)
        before = [(h.frame_id, round(h.score, 5)) for h in mem.search("alice tea", mode="hybrid")]
        result = mem.reindex()
        assert result.frame_ids == () and mem.timeline()[-1].message == "reindex"
        assert [(h.frame_id, round(h.score, 5)) for h in mem.search("alice tea", mode="hybrid")] == before
    with Memvid.open(path, read_only=True) as mem:
        assert mem.search("peanuts", mode="lex")[0].frame_id == ids[4]
    assert cache_root().is_dir()
    shutil.rmtree(cache_root())  # the cache is disposable: the capsule holds the index
    with Memvid.open(path, read_only=True) as mem:
        assert mem.search("peanuts", mode="lex")[0].frame_id == ids[4]
        assert mem.verify().ok
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(["mem.mv2", "cache"])


def test_verify_checks_index_blocks(path: Path) -> None:
    with Memvid.create(path) as mem:
        _fill(mem)
        lex_files = mem._snapshot.manifest.indexes["lex"]["files"]
    offset = max(ref[0] for ref in lex_files.values())
    data = bytearray(path.read_bytes())
    data[offset + 70] ^= 0x01
    path.write_bytes(bytes(data))
    with Memvid.open(path, read_only=True) as mem:
        report = mem.verify()
        assert not report.ok and any(f.offset == offset for f in report.findings)


def test_scratch_dirs_of_dead_writers_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from memvid.storage.cache import scratch_dir

    monkeypatch.setenv("MEMVID_WORK_DIR", str(tmp_path / "work"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / "work" / f"lex-{int(dead.stdout)}-abc"
    stale.mkdir(parents=True)
    mine = scratch_dir("lex")
    assert mine.is_dir() and not stale.exists()
    shutil.rmtree(mine)
    # A writer that opens sweeps too, even if it never makes a scratch directory itself.
    stale.mkdir()
    with Memvid.create(tmp_path / "c.mv2"):
        assert not stale.exists()


def test_lexical_checkpoints_are_periodic_and_the_tail_is_searchable(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import memvid.index as index_module

    monkeypatch.setattr(index_module, "CHECKPOINT_FRAMES", 10)
    throughs = []
    with Memvid.create(path) as mem:
        for i in range(25):
            mem.put(f"turn {i} word{i}")
            mem.commit()
            throughs.append(mem._snapshot.manifest.indexes["lex"]["through"])
            # The writer finds what it just committed, before any checkpoint covers it.
            assert [h.frame_id for h in mem.search(f"word{i}", mode="lex")] == [i]
        mem.delete(23)
        mem.commit()
        assert mem.search("word23", mode="lex").hits == ()
    assert sorted(set(throughs)) == [1, 11, 21]  # a checkpoint at the first commit, then every 10 frames
    with Memvid.open(path, read_only=True) as reader:
        for i in (0, 12, 24):  # in a checkpoint, and in the tail a reader indexes itself
            assert [h.frame_id for h in reader.search(f"word{i}", mode="lex")] == [i]
        assert reader.search("word23", mode="lex").hits == ()
        view = reader.at(commit=24)
        assert [h.frame_id for h in view.search("word23", mode="lex")] == [23]
        assert view.search("word24", mode="lex").hits == ()
        assert reader.verify().ok


def test_a_checkpoint_indexes_the_frames_behind_it_in_one_tantivy_commit(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import memvid.index as index_module

    monkeypatch.setattr(index_module, "CHECKPOINT_FRAMES", 10)

    def segments(mem: Memvid) -> list[str]:
        snapshot = mem._snapshot
        state = index_module.lex_state(snapshot)
        assert state is not None
        meta = json.loads(index_module._reader_for(snapshot, state)("meta.json"))
        return [s["segment_id"] for s in meta["segments"]]

    with Memvid.create(path) as mem:
        mem.put("first checkpoint")
        mem.commit()
        first = segments(mem)
        for i in range(10):  # nobody searches: the writer's working index falls behind
            mem.put(f"turn word{i}")
            mem.commit()
        after = segments(mem)
        assert mem._snapshot.manifest.indexes["lex"]["through"] == 11
    # The frames behind and the commit's own frame went in together: one new segment, not two.
    assert len(first) == 1 and set(first) < set(after) and len(after) == 2
    with Memvid.open(path, read_only=True) as reader:
        assert [h.frame_id for h in reader.search("word3", mode="lex")] == [4]
        assert [h.frame_id for h in reader.search("word9", mode="lex")] == [10]


def test_frames_committed_between_checkpoints_are_indexed_as_they_commit_not_read_back(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import memvid.index as index_module

    monkeypatch.setattr(index_module, "CHECKPOINT_FRAMES", 10)
    read_back: list[int] = []
    tail_docs = index_module._tail_docs

    def counting(snapshot: object, start: int) -> object:
        read_back.append(start)
        return tail_docs(snapshot, start)  # type: ignore[arg-type]

    monkeypatch.setattr(index_module, "_tail_docs", counting)
    with Memvid.create(path) as mem:
        mem.put("first checkpoint")
        mem.commit()
        for i in range(1, 25):
            mem.put(f"turn word{i}")
            mem.commit()
            if i == 5:  # a search between checkpoints publishes what was added, and adding goes on after it
                assert [h.frame_id for h in mem.search("word5", mode="lex")] == [5]
        assert mem._snapshot.manifest.indexes["lex"]["through"] == 21
        # Each commit's frames went to the working index as it committed: the checkpoints at
        # frames 11 and 21 and the searches read nothing back from the capsule.
        assert read_back == []
        assert [h.frame_id for h in mem.search("word24", mode="lex")] == [24]
    with Memvid.open(path, read_only=True) as reader:
        assert [h.frame_id for h in reader.search("word3", mode="lex")] == [3]
        assert [h.frame_id for h in reader.search("word17", mode="lex")] == [17]
        assert [h.frame_id for h in reader.search("word23", mode="lex")] == [23]  # the tail: a reader indexes it
        assert reader.verify().ok


def test_a_commit_that_fails_leaves_no_trace_in_the_writers_lexical_index(
    path: Path, monkeypatch: pytest.MonkeyPatch, failing_commit: Callable[[Memvid, str], None]
) -> None:
    import memvid.index as index_module

    monkeypatch.setattr(index_module, "CHECKPOINT_FRAMES", 10)
    with Memvid.create(path) as mem:
        mem.put("first checkpoint")
        mem.commit()
        assert mem.search("checkpoint", mode="lex").hits  # the working index is live and in step
        mem.put("lost zebra")
        failing_commit(mem, "commit.before_data_write=oserror")
        mem.commit()  # again, the same frame: it must be indexed once, not twice or not at all
        assert [h.frame_id for h in mem.search("zebra", mode="lex")] == [1]
        mem.put("dropped zebra")
        failing_commit(mem, "commit.before_data_write=oserror")
        mem.rollback()
        mem.put("kept zebra")  # frame 3: no search in between, so nothing else restarts the working index
        mem.commit()
        assert sorted(h.frame_id for h in mem.search("zebra", mode="lex")) == [1, 3]
        live = mem._lex_for(mem._snapshot)
        assert live is not None and live.docs == mem.stats().frames == 3  # no trace of frame 2
        for i in range(12):  # to the next checkpoint, which must carry neither a double nor the dropped frame
            mem.put(f"turn {i}")
            mem.commit()
        assert mem._snapshot.manifest.indexes["lex"]["through"] > 4
        assert sorted(h.frame_id for h in mem.search("zebra", mode="lex")) == [1, 3]
    with Memvid.open(path, read_only=True) as reader:
        assert sorted(h.frame_id for h in reader.search("zebra", mode="lex")) == [1, 3]
        lex = reader._lex_for(reader._snapshot)
        assert lex is not None and lex.docs == reader.stats().frames


def test_small_commits_do_not_rewrite_the_lexical_index(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put_many([f"seed document {i}" for i in range(200)])
        mem.commit()
        size = path.stat().st_size
        for i in range(100):
            mem.put(f"chat turn {i}")
            mem.commit()
        per_commit = (path.stat().st_size - size) / 100
    assert per_commit < 4096, per_commit  # frames, directory, manifest and trailer; no index files


def test_highlights_follow_stemming_but_skip_stop_words(tmp_path: Path) -> None:
    with Memvid.create(tmp_path / "h.mv2") as mem:
        mem.put("The dying plants of the valley were lying in the cries of happy crowds, HOPING for rain.")
        mem.commit()
        hit = mem.search("die lie cry happiness hope the of", mode="lex")[0]
    marked = {hit.snippet[a:b] for a, b in hit.highlights}
    assert marked == {"dying", "lying", "cries", "happy", "HOPING"}


def test_hits_show_what_their_frames_hold(path: Path) -> None:
    # Hits read their fields row by row from the batches; each must equal the frame's own.
    with Memvid.create(path) as mem:
        mem.put("zebra plain", title=None, uri=None, kind=None)
        mem.put("zebra dated ünïcode", title="Tïtle", uri="mv2://a", kind="k", timestamp=dt.datetime(2020, 5, 1))
        mem.put("zebra tagged", tags={"a": "1", "b": "ß"}, metadata={"n": 1})
        mem.commit()
        mem.put_bytes(b"zebra bytes \xff", PutOptions(text="zebra payload", tags={"c": ""}))
        mem.put("zebra later", timestamp=dt.datetime(1999, 12, 31, tzinfo=dt.UTC))
        mem.commit()
        for snippet_chars in (200, 0):
            hits = mem.search("zebra", mode="lex", limit=10, snippet_chars=snippet_chars)
            assert len(hits) == 5
            for hit in hits:
                frame = mem.get(hit.frame_id)
                shown = (hit.uri, hit.title, hit.kind, dict(hit.tags), hit.time)
                assert shown == (frame.uri, frame.title, frame.kind, dict(frame.tags), frame.time)
                assert hit.frame.to_dict() == frame.to_dict()
                assert (hit.snippet, hit.highlights) == ((frame.text, ((0, 5),)) if snippet_chars else ("", ()))
        lazy = mem.search("zebra", mode="lex")
    # The whole frames come from the batches the search read, so they outlive the handle.
    assert sorted(h.frame.text for h in lazy)[0] == "zebra dated ünïcode"
    assert [h.frame.payload for h in lazy if h.frame.payload] == [b"zebra bytes \xff"]


def test_batch_rows_read_every_row_as_frames_of_does() -> None:
    from memvid.engine.rows import Row, decode_batch, encode_rows, frames_of
    from memvid.engine.snapshot import BatchRows

    rng = random.Random(7)
    rows, fid = [], 10
    for i in range(40):
        fid += rng.choice([1, 1, 2, 5])  # gaps, as compaction leaves once ids are skipped
        rows.append(
            Row(
                frame_id=fid,
                created_at_us=1_700_000_000_000_000 + i,
                timestamp_us=rng.choice([None, -5_000_000, 86_400_000_000 * i]),
                uri=rng.choice([None, f"mv2://{i}", ""]),
                title=rng.choice([None, "", "tïtle"]),
                kind=rng.choice([None, "note"]),
                tags=rng.choice([{}, {"k": str(i)}, {"a": "", "ß": "x"}]),
                metadata=None,
                text=rng.choice(["", "plain", "ünï ☃ text"]),
                payload=None,
                checksum=bytes(16),
                supersedes=None,
                embedding=None,
            )
        )
    encoded = encode_rows(rows, None)[0]
    batch = decode_batch(encoded.payload, offset=0, rows=40, first_id=encoded.first_id, last_id=encoded.last_id)
    dense_batch = batch.slice(3, 1)  # one row: dense, and an offset into every buffer
    for view in (BatchRows(batch), BatchRows(batch.slice(5, 20)), BatchRows(dense_batch)):
        frames = frames_of(view.batch)
        for row, frame in enumerate(frames):
            assert view.row_of(frame.id) == row
            shown = (view.string("uri", row), view.string("title", row), view.string("kind", row))
            assert shown == (frame.uri, frame.title, frame.kind)
            assert (view.string("text", row), view.tags(row), view.time(row)) == (frame.text, frame.tags, frame.time)
        assert view.row_of(frames[0].id - 1) is None and view.row_of(frames[-1].id + 1) is None
    gaps = [r.frame_id + 1 for r, s in itertools.pairwise(rows) if s.frame_id > r.frame_id + 1]
    assert gaps and all(BatchRows(batch).row_of(fid) is None for fid in gaps)


def test_snippet_candidates_are_the_words_starting_with_a_prefix() -> None:
    import re

    from memvid.search import _candidate_words, _candidates

    rng = random.Random(3)
    vocabulary = ["tea", "teas", "steady", "te", "tea_time", "x_tea", "tea1", "ünïtea", "teä", "hope", "hoping", "9tea"]
    for _ in range(300):
        text = "".join(rng.choice(vocabulary) + rng.choice([" ", "-", "_", ".", "", "  "]) for _ in range(12))
        terms = set(rng.sample(["tea", "te", "hope", "ünïtea", "teä"], rng.randint(1, 3)))
        prefixes = _candidates(terms)
        assert prefixes is not None
        alternation = "|".join(map(re.escape, sorted({t[:-1] or t for t in terms}, key=len, reverse=True)))
        reference = re.compile(r"(?<![^\W_])(?:" + alternation + r")[^\W_]*")
        expected = [(m.start(), m.end(), m.group()) for m in reference.finditer(text)]
        assert _candidate_words(text, prefixes) == expected, (text, terms)


def test_a_commit_hands_its_loaded_vector_segments_to_the_next(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import weakref

    import memvid.index as index_module

    monkeypatch.setattr(index_module, "HNSW_MIN_ROWS", 50)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((260, 16)).astype(np.float32)
    with Memvid.create(path) as mem:
        mem.put_many([{"text": f"doc {i}", "embedding": vectors[i]} for i in range(200)])
        mem.commit()
        mem.search(vector=vectors[0], mode="vec")  # loads the HNSW view of the 200-frame segment
        view = index_module.vec_segments(mem._snapshot)[0].hnsw
        assert view is not None
        parent = weakref.ref(mem._snapshot)
        for i in range(200, 260):  # one-frame commits, and a delete, none of which touches that segment
            mem.put(f"doc {i}", embedding=vectors[i])
            mem.commit()
            if i == 230:
                mem.delete(3)
                mem.commit()
            hits = mem.search(vector=vectors[i], mode="vec", limit=3)
            assert hits[0].frame_id == i
        after = index_module.vec_segments(mem._snapshot)
        assert after[0].hnsw is view  # the view was handed on, not opened again
        assert np.allclose(after[0].vectors, vectors[:200] / np.linalg.norm(vectors[:200], axis=1)[:, None], atol=1e-6)
        gc.collect()
        assert parent() is None  # the old snapshot is not kept alive by what it handed on
        assert 3 not in {h.frame_id for h in mem.search(vector=vectors[3], mode="vec", limit=5)}
        found = [[h.frame_id for h in mem.search(vector=vectors[i], mode="vec", limit=5)] for i in range(0, 260, 13)]
    with Memvid.open(path, read_only=True) as reader:  # a fresh process's view of the same commit agrees
        assert found == [
            [h.frame_id for h in reader.search(vector=vectors[i], mode="vec", limit=5)] for i in range(0, 260, 13)
        ]


def test_merges_stop_where_a_segment_index_would_not_fit_in_a_block(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import memvid.index as index_module
    from memvid.format.limits import MAX_BLOCK_RAW
    from memvid.index.vec import build_hnsw, hnsw_max_rows

    # The estimate holds for real blobs: a blob of hnsw_max_rows vectors fits in a block.
    rng = np.random.default_rng(3)
    for dim, dtype in ((384, "f16"), (384, "f32"), (16, "i8")):
        vecs = rng.standard_normal((2000, dim)).astype(np.float32)
        per_row = len(build_hnsw(np.arange(2000, dtype=np.uint64), vecs, dtype)) / 2000  # type: ignore[arg-type]
        assert per_row * hnsw_max_rows(dim, dtype) <= MAX_BLOCK_RAW  # type: ignore[arg-type]
    # With a cap of 20 rows, 1-frame commits merge up to it and no further.
    monkeypatch.setattr(index_module, "hnsw_max_rows", lambda dim, dtype: 20)
    vectors = rng.standard_normal((150, 4)).astype(np.float32)
    with Memvid.create(path) as mem:
        for i in range(150):
            mem.put(f"turn {i} word{i}", embedding=vectors[i])
            mem.commit()
        rows = [s.rows for s in mem._snapshot.manifest.segments]
        # Eight 1-frame segments still merge; eight 8-row ones would pass the cap, so 8-row
        # segments merge two by two (three would pass it too).
        assert rows == [16] * 9 + [1] * 6
        for i in range(0, 150, 7):
            assert mem.search(vector=vectors[i], mode="vec", limit=1)[0].frame_id == i
            assert [h.frame_id for h in mem.search(f"word{i}", mode="lex")] == [i]
        assert mem.verify().ok


def test_large_lexical_index_files_are_stored_in_parts(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memvid.index.lex as lex_module

    monkeypatch.setattr(lex_module, "FILE_PART_BYTES", 1000)  # and read in pieces of that size
    with Memvid.create(path) as mem:
        mem.put_many([f"document {i} about topic{i % 50} and word{i}" for i in range(3000)])
        mem.commit()
        files = mem._snapshot.manifest.indexes["lex"]["files"]
        assert [h.frame_id for h in mem.search("word1234", mode="lex")] == [1234]
    parted = {name: entry for name, entry in files.items() if isinstance(entry[0], list)}
    assert parted and all(len(entry) >= 2 for entry in parted.values())
    assert isinstance(files["meta.json"][0], int) or len(files["meta.json"]) >= 2
    with Memvid.open(path, read_only=True) as reader:  # a new process reads the parts back, in order
        assert reader.verify().ok
        assert [h.frame_id for h in reader.search("word2999", mode="lex")] == [2999]
        assert len(reader.search("topic7", mode="lex", limit=100)) == 60


def test_a_lexical_file_entry_is_one_block_ref_or_two_or_more_parts() -> None:
    from memvid.errors import CorruptCapsuleError
    from memvid.index.lex import LexState

    ref = [4096, 100, "00" * 16]
    ok = {"v": 2, "files": {"meta.json": ref, "a.idx": [ref, [8192, 150, "11" * 16]]}, "docs": 1, "through": 1}
    state = LexState.from_json(ok, 1 << 20)
    assert len(state.files["meta.json"]) == 1 and len(state.files["a.idx"]) == 2
    assert LexState.from_json(state.to_json(), 1 << 20) == state  # written back as it was read
    for bad in ([ref], [ref, "x"], [ref, [1 << 30, 150, "11" * 16]]):
        with pytest.raises(CorruptCapsuleError):
            LexState.from_json({**ok, "files": {"meta.json": ref, "a.idx": bad}}, 1 << 20)


def test_closing_a_handle_releases_the_indexes_it_and_its_views_opened(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put_many([f"note {i} about tea" for i in range(20)])
        mem.commit()
        mem.put("one more about tea")
        mem.commit()
    reader = Memvid.open(path, read_only=True)
    view = reader.at(commit=1)
    assert reader.search("tea", mode="lex") and view.search("tea", mode="lex")
    snapshots = [reader._snapshot, view._snapshot]
    assert all("lex" in s.extras for s in snapshots)
    reader.close()
    assert all(not s.extras for s in snapshots)  # no tantivy index (nor its file mappings) outlives close()


def test_several_hnsw_segments_are_searched_together(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memvid.index as index_module

    monkeypatch.setattr(index_module, "HNSW_MIN_ROWS", 50)
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    with Memvid.create(path) as mem:
        for start in range(0, 300, 100):  # three segments, each with its own HNSW
            mem.put_many([{"text": f"v{i}", "embedding": vectors[i]} for i in range(start, start + 100)])
            mem.commit()
        segments = index_module.vec_segments(mem._snapshot)
        assert sum(s.hnsw is not None for s in segments) == 3
        for i in range(0, 300, 17):
            want = np.argsort(-(unit @ unit[i]), kind="stable")[:5].tolist()
            assert [h.frame_id for h in mem.search(vector=vectors[i], mode="vec", limit=5)] == want


def test_a_commit_reads_a_new_segments_vectors_once(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HNSW build and the calibration of the same commit share one read of the new segment's
    vectors; a commit that repeats its parent's calibration keeps none for it."""
    import memvid.index as index_module

    monkeypatch.setattr(index_module, "HNSW_MIN_ROWS", 50)
    reads: list[int] = []
    real = index_module.segment_vectors

    def counting(batches: Any) -> Any:
        ids, matrix = real(batches)
        reads.append(len(ids))
        return ids, matrix

    monkeypatch.setattr(index_module, "segment_vectors", counting)
    vectors = np.random.default_rng(3).standard_normal((300, 16)).astype(np.float32)
    with Memvid.create(path) as mem:
        mem.put_many([{"text": f"doc {i}", "embedding": vectors[i]} for i in range(200)])
        mem.commit()  # a 200-frame segment: its HNSW, and the first calibration
        assert reads == [200]
        assert index_module.fusion_calibration(mem._snapshot) is not None
        reads.clear()
        mem.put_many([{"text": f"doc {i}", "embedding": vectors[i]} for i in range(200, 205)])
        mem.commit()  # +2.5%: the parent's calibration stands, no HNSW for 5 frames
        assert reads == []
        assert [h.frame_id for h in mem.search(vector=vectors[3], mode="vec", limit=1)] == [3]
