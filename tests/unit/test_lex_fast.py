"""The lexical search's short cuts give what the plain search gives.

``LexIndex.search`` asks tantivy for ``limit`` hits, not more, when no removed frame can
linger in the index, and without counting the matches; hits read their fields when first
asked. Each is checked here against a reference computed the long way, on capsules whose
indexes do hold removed frames (deleted or superseded after their checkpoint) and on
capsules whose indexes do not, on the writer, on a reader and on as-of views."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import tantivy

import memvid.index as index_module
from memvid import Memvid
from memvid.engine.snapshot import Snapshot
from memvid.index import lex_state
from memvid.index.lex import LexIndex, LexState
from memvid.index.lex_vet import vet_key

_WORDS = [f"w{i}" for i in range(40)] + ["tea", "coffee", "green", "Tea", "teas", "dying"]


pytestmark = pytest.mark.usefixtures("private_cache")  # the fixtures are in tests/unit/conftest.py


def _reference(index: LexIndex, snapshot: Snapshot, query: str, limit: int) -> list[tuple[int, float]]:
    """Every match, counted, then the removed frames dropped: the search without short cuts."""
    hits = index.searcher.search(index.parse(query), 10_000, count=True).hits
    ids = index.searcher.fast_field_values("frame_id", [address for _, address in hits])
    dead = snapshot.dead
    found = [(int(fid or 0), float(score)) for (score, _), fid in zip(hits, ids, strict=True)]
    return [(fid, score) for fid, score in found if fid not in dead][:limit]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12)))


def _check(reader: Any, rng: random.Random, queries: int = 25) -> tuple[int, int]:
    """Searches of ``reader`` (a capsule or an as-of view) equal the reference; returns how many
    documents its index holds and how many live frames its commit has."""
    snapshot = reader._state()
    index = reader._lex_for(snapshot)
    assert index is not None
    # What the short cut reads: the index's documents beyond the live frames are exactly the
    # removed frames it still holds (a count left over from another commit would not be).
    everything = index.searcher.search(tantivy.Query.all_query(), 100_000, count=False).hits
    held = index.searcher.fast_field_values("frame_id", [address for _, address in everything])
    assert index.docs == len(held) == snapshot.manifest.frames_live + sum(1 for fid in held if fid in snapshot.dead)
    # The checkpoint parsed once per commit, and its key, are this commit's.
    state = lex_state(snapshot, current=False)
    if state is not None:
        fresh = LexState.from_json(snapshot.manifest.indexes["lex"], snapshot.manifest_ref.offset)
        assert state == fresh and state.key == vet_key(fresh.digests()) == fresh.key
    for _ in range(queries):
        query = " ".join(rng.sample(_WORDS, rng.randint(1, 4)))
        for limit in (1, 3, 10, 50):
            expected = _reference(index, snapshot, query, limit)
            hits = reader.search(query, mode="lex", limit=limit, snippet_chars=0)
            assert [(h.frame_id, h.score) for h in hits] == expected, (query, limit)
    return index.docs, snapshot.manifest.frames_live


def test_lex_search_equals_the_search_without_short_cuts(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "CHECKPOINT_FRAMES", 30)
    rng = random.Random(3)
    seen: set[str] = set()
    commits = []
    with Memvid.create(path) as mem:
        live: list[int] = []
        for step in range(12):
            live += [mem.put(_text(rng)) for _ in range(rng.randint(5, 25))]
            for _ in range(rng.randint(0, 6)):  # removed after their checkpoint: they linger in it
                victim = live.pop(rng.randrange(len(live)))
                if rng.random() < 0.5:
                    mem.delete(victim)
                else:
                    live.append(mem.update(victim, _text(rng)))
            commits.append(mem.commit(f"step {step}").seq)
            docs, frames = _check(mem, rng, queries=8)
            seen.add("lingering" if docs > frames else "exact")
    with Memvid.open(path, read_only=True) as reader:
        docs, frames = _check(reader, rng)
        seen.add("lingering" if docs > frames else "exact")
        for seq in commits:
            docs, frames = _check(reader.at(commit=seq), rng, queries=6)
            seen.add("lingering" if docs > frames else "exact")
    assert seen == {"lingering", "exact"}  # both paths were taken


def test_an_index_that_breaks_the_count_still_leaves_removed_frames_out(path: Path) -> None:
    # ``live`` says no removed frame lingers; a forged index may say otherwise. The search then
    # searches again for more, and still never returns a removed frame.
    with Memvid.create(path) as mem:
        ids = [mem.put(f"tea number {i} " + "tea " * (20 - i)) for i in range(20)]
        mem.commit()
        for fid in ids[:8]:  # the best matches, removed after the checkpoint
            mem.delete(fid)
        mem.commit()
    with Memvid.open(path, read_only=True) as reader:
        snapshot = reader._state()
        index = reader._lex_for(snapshot)
        assert index is not None and index.docs == 20 and snapshot.manifest.frames_live == 12
        for limit in (1, 5, 12, 30):
            truthful = index.search("tea", limit, dead=snapshot.dead, live=snapshot.manifest.frames_live)
            lying = index.search("tea", limit, dead=snapshot.dead, live=index.docs)
            assert lying == truthful == _reference(index, snapshot, "tea", limit)
            assert len(lying) == min(limit, 12) and not set(ids[:8]) & {fid for fid, _ in lying}


def test_hit_fields_are_read_when_first_asked_and_outlive_the_capsule(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put("zebra one", title="T1", uri="mv2://1", kind="k", tags={"a": "1"}, timestamp=dt.datetime(2020, 1, 2))
        mem.put("zebra two zebra", embedding=None)
        mem.put("zebra three", tags={"b": "ß", "c": ""}, metadata={"n": 1})
        mem.commit()
        hits = mem.search("zebra", mode="lex", limit=10)
        expected = {
            h.frame_id: (f.uri, f.title, f.time, dict(f.tags), f.kind) for h in hits for f in [mem.get(h.frame_id)]
        }
        ranks = {h.frame_id: i + 1 for i, h in enumerate(hits)}
        again = mem.search("zebra", mode="lex", limit=10)
    # Read for the first time after the capsule is closed.
    assert len(again) == 3
    for hit in again:
        assert (hit.uri, hit.title, hit.time, dict(hit.tags), hit.kind) == expected[hit.frame_id]
        assert hit.retrievers == {"lex": ranks[hit.frame_id]}
        assert hit.to_dict()["uri"] == expected[hit.frame_id][0]
    assert again.hits == hits.hits
    with pytest.raises(AttributeError):
        again[0].score = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        again[0].uri = "x"  # type: ignore[misc]


def test_hybrid_hits_name_the_ranks_each_retriever_gave(path: Path) -> None:
    rng = random.Random(9)
    with Memvid.create(path) as mem:
        for _ in range(120):
            mem.put(_text(rng), embedding=[rng.gauss(0, 1) for _ in range(8)])
        mem.commit()
        for _ in range(20):
            query = " ".join(rng.sample(_WORDS, 3))
            vector = [rng.gauss(0, 1) for _ in range(8)]
            depth = rng.choice([5, 20, 60])
            lex = [h.frame_id for h in mem.search(query, mode="lex", limit=depth)]
            vec = [h.frame_id for h in mem.search(vector=vector, mode="vec", limit=depth)]
            hits = mem.search(query, vector=vector, mode="hybrid", limit=10, depth=depth)
            assert hits
            for hit in hits:
                expected = {
                    name: ids.index(hit.frame_id) + 1
                    for name, ids in (("lex", lex), ("vec", vec))
                    if hit.frame_id in ids
                }
                assert hit.retrievers == expected
