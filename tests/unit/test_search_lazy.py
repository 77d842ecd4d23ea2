"""Search hits made lazily: snippets made when first read, and hits read from batches whose
vectors are not decoded. Each must give exactly what the eager path gives, open or closed."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from memvid import Memvid
from memvid.search import _query_terms, _snippet


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMVID_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "mem.mv2"


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
