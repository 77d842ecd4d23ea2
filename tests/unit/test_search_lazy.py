"""Search hits made lazily: snippets made when first read, and hits read from batches whose
vectors are not decoded. Each must give exactly what the eager path gives, open or closed."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from memvid import Memvid
from memvid.engine.rows import decode_batch, decode_batch_text, encode_rows, frames_of
from memvid.errors import CorruptCapsuleError
from memvid.search import _query_terms, _snippet

pytestmark = pytest.mark.usefixtures("private_cache")  # the fixtures are in tests/unit/conftest.py


_WORDS = [
    *("tea", "coffee", "green", "dying", "lying", "cries", "happy", "hoping", "rain", "valley", "plants"),
    *("crowds", "the", "of", "and", "İstanbul", "straße", "ÉTÉ", "naïve", "ünïcode", "café", "résumé"),
    *("Grüße", "protein", "proteins", "cell", "cells", "cellular"),
]


def _texts(rng: random.Random, n: int) -> list[str]:
    """Texts short and long (past every snippet width), some with letters whose lower case
    changes the text's length (İ), which takes the snippet code's other path."""
    out = []
    for _ in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.choice([3, 12, 40, 120]))]
        out.append(" ".join(w.upper() if rng.random() < 0.1 else w for w in words) + rng.choice(["", ".", " !"]))
    return out


def _capsule(path: Path, rng: random.Random, commits: int = 4, frames: int = 60) -> list[np.ndarray]:
    """Several batches (one commit or more), every frame with a 16-d vector."""
    vectors, dim = [], 16
    with Memvid.create(path) as mem:
        for _ in range(commits):
            texts = _texts(rng, frames)
            vecs = [np.asarray([rng.gauss(0, 1) for _ in range(dim)], dtype=np.float32) for _ in texts]
            for text, vec in zip(texts, vecs, strict=True):
                mem.put(text, embedding=vec.tolist())
            vectors += vecs
            mem.commit()
    return vectors


def test_lazy_snippets_equal_the_eager_ones(path: Path) -> None:
    rng = random.Random(11)
    _capsule(path, rng)
    queries = [" ".join(rng.sample(_WORDS, rng.choice([1, 2, 3, 5]))) for _ in range(60)]
    queries += ["die lie cry happiness hope the of", '"green tea" AND NOT coffee', "the", "zzz absent"]
    checked = 0
    kept = []
    with Memvid.open(path) as mem:
        for query in queries:
            for width in (200, 50, 17, 0):
                for mode in ("lex", "hybrid", "vec"):
                    vector = [rng.gauss(0, 1) for _ in range(16)]
                    kw = {"mode": mode, "snippet_chars": width, "limit": 8, "vector": vector}
                    read_now, read_later = mem.search(query, **kw), mem.search(query, **kw)
                    assert [h.frame_id for h in read_now] == [h.frame_id for h in read_later]
                    terms = _query_terms(query)
                    expected = [_snippet(mem.get(h.frame_id).text, terms if width else set(), width) for h in read_now]
                    # One order of reading here, the other after the capsule is closed.
                    assert [(h.snippet, h.highlights) for h in read_now] == expected
                    kept.append((read_later, expected))
                    checked += sum(1 for h in read_now if h.highlights)
    assert checked > 500  # the queries do mark words, so highlights are compared, not just empty tuples
    for results, expected in kept:
        assert [(h.highlights, h.snippet) for h in results] == [(b, a) for a, b in expected]


def test_hits_compare_and_print_their_snippets(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put("Alice prefers green tea in the morning")
        mem.put("Bob prefers green coffee")
        mem.commit()
        a, b = mem.search("green tea", mode="lex"), mem.search("green tea", mode="lex")
        other = mem.search("green tea", mode="lex", snippet_chars=10)
    assert a[0] == b[0] and a.hits == b.hits  # neither snippet read yet: equality reads them
    assert a[0] != other[0]  # same frame and score, another snippet
    assert repr(a[0]).startswith(f"Hit(score={a[0].score!r}, frame_id=0, uri=None, title=None, snippet=")
    assert "highlights=((" in repr(a[0]) and "_snippet" not in repr(a[0]) and "_frames" not in repr(a[0])
    assert a[0].to_dict()["snippet"] == "Alice prefers green tea in the morning"
    assert a[0].to_dict()["highlights"] == [[14, 19], [20, 23]]


def test_hit_frames_from_batches_read_without_vectors(path: Path) -> None:
    rng = random.Random(5)
    vectors = _capsule(path, rng, commits=1, frames=1500)  # two batches, all in the lexical checkpoint
    with Memvid.open(path, read_only=True) as mem:
        built = mem.search("protein straße", mode="lex", limit=20)
        for hit in built:
            assert hit.frame.to_dict() == mem.get(hit.frame_id).to_dict()
            assert hit.frame.embedding is not None and np.array_equal(hit.frame.embedding, vectors[hit.frame_id])
        expected = {f.id: f.to_dict() for f in mem.frames()}
    with Memvid.open(path, read_only=True) as mem:
        early = mem.search("tea coffee cells", mode="lex", limit=20)
        assert early[0]._where._located is None  # no hit's field read yet: no batch read for them
        assert early[0].uri is None and early[-1]._where._located is not None  # one read locates every hit
        located = early[0]._where._located.values()
        assert len({id(rows) for rows, _ in located}) == 2
        assert all(not rows.complete for rows, _ in located)  # the hits did not decode the vectors
        dropped = mem.search("valley", mode="lex")
        del dropped  # a result gone before the close is not read for it
    # Nothing read these batches whole while the capsule was open: the close did, for the hits alive.
    assert len(early) == 20
    for hit in early:
        assert hit.frame.to_dict() == expected[hit.frame_id]
        assert hit.frame.embedding is not None and np.array_equal(hit.frame.embedding, vectors[hit.frame_id])


def test_text_reads_of_a_batch_match_whole_ones() -> None:
    from memvid.engine.rows import Row

    rows = [
        Row(
            frame_id=i,
            created_at_us=1_700_000_000_000_000 + i,
            timestamp_us=None,
            uri=f"mv2://{i}",
            title=None,
            kind=None,
            tags={"k": str(i)},
            metadata=None,
            text=f"text {i} ünï",
            payload=None,
            checksum=bytes(16),
            supersedes=None,
            embedding=None if i % 3 == 0 else np.full(8, i, dtype=np.float32),
        )
        for i in range(30)
    ]
    for dim in (8, None):
        encoded = encode_rows(rows if dim else [r for r in rows if r.embedding is None], dim)[0]
        where = {"offset": 0, "rows": encoded.rows, "first_id": encoded.first_id, "last_id": encoded.last_id}
        whole = decode_batch(encoded.payload, **where)
        text, found_dim = decode_batch_text(encoded.payload, **where)
        assert found_dim == dim
        assert text.schema.names == [n for n in whole.schema.names if n != "embedding"]
        assert [f.to_dict() for f in frames_of(text)] == [
            dataclasses.replace(f, embedding=None).to_dict() for f in frames_of(whole)
        ]
    # A vector section of the wrong length is damage, even when its values are not read.
    encoded = encode_rows(rows, 8)[0]
    where = {"offset": 0, "rows": encoded.rows, "first_id": encoded.first_id, "last_id": encoded.last_id}
    for cut in (encoded.payload[:-1], encoded.payload + b"\0", encoded.payload[: -(8 * 4 * 30 + 30 + 2)]):
        with pytest.raises(CorruptCapsuleError):
            decode_batch_text(cut, **where)


def test_the_batch_cache_keeps_one_batch_and_upgrades_it(path: Path) -> None:
    rng = random.Random(3)
    vectors = _capsule(path, rng)
    with Memvid.open(path, read_only=True) as mem:
        snapshot = mem._snapshot
        reader = snapshot.reader
        entry = next(snapshot.batch_entries())
        text = snapshot.rows(entry, vectors=False)
        assert not text.complete and text.dim == 16 and "embedding" not in text.batch.schema.names
        with pytest.raises(RuntimeError):
            text.frames([0])
        assert snapshot.rows(entry, vectors=False) is text  # cached
        whole = snapshot.rows(entry)
        assert whole.complete and whole is not text and whole.nbytes > text.nbytes
        assert snapshot.rows(entry, vectors=False) is whole  # a whole batch serves text reads too
        assert np.array_equal(whole.frames([2])[0].embedding, vectors[2])
        assert reader._batches._bytes == sum(r.nbytes for r in reader._batches._data.values())
