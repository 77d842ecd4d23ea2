"""Chroma and LanceDB, with the real libraries, against stores the tests create."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from memvid import InvalidInputError, Memvid
from memvid.io import export_chroma, export_lancedb, import_chroma, import_lancedb

from .conftest import state, states

chromadb = pytest.importorskip("chromadb")
lancedb = pytest.importorskip("lancedb")
from chromadb.config import Settings  # noqa: E402


def _chroma(path: Path) -> object:
    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


# -- Chroma -------------------------------------------------------------------------------


def test_chroma_round_trip(capsule: Path, tmp_path: Path, no_network: list[object]) -> None:
    store = tmp_path / "chroma"
    with Memvid.open(capsule, read_only=True) as mem:
        report = export_chroma(mem, store, collection="notes")
        with_vectors = [state(f) for f in mem.frames() if f.embedding is not None]
    assert (report.frames, report.skipped, report.vectors) == (2, 3, 2)
    with Memvid.create(tmp_path / "copy.mv2") as copy:
        result = import_chroma(copy, store, collection="notes")
        assert (result.frames, result.vectors, result.ids_kept) == (2, 2, True)
        assert states(copy) == with_vectors
        again = tmp_path / "again"
        export_chroma(copy, again, collection="notes")
    with Memvid.create(tmp_path / "third.mv2") as third:
        import_chroma(third, again, collection="notes")
        assert states(third) == with_vectors


def test_chroma_records_are_usable_from_chroma(capsule: Path, tmp_path: Path) -> None:
    store = tmp_path / "chroma"
    with Memvid.open(capsule, read_only=True) as mem:
        export_chroma(mem, store)
    client = _chroma(store)
    try:
        collection = client.get_collection("memvid")  # type: ignore[attr-defined]
        got = collection.get(where={"person": "alice"}, include=["documents", "embeddings"])
        assert got["ids"] == ["mv2://people/alice"]
        assert got["documents"] == ["Alice prefers green tea\x00 and ünïcode ☕"]
        np.testing.assert_array_equal(np.asarray(got["embeddings"][0], dtype=np.float32), np.float32([0.1, -0.2, 0.3]))
        near = collection.query(query_embeddings=[[1.0, 2.0, 3.0]], n_results=1)
        assert near["ids"] == [["mv2://people/bob"]]
    finally:
        client.close()  # type: ignore[attr-defined]


def test_chroma_telemetry_is_off(tmp_path: Path) -> None:
    from memvid.io import chroma

    client = chroma._client(tmp_path)
    try:
        assert client.get_settings().anonymized_telemetry is False
    finally:
        chroma._close(client)


def test_import_a_collection_memvid_did_not_write(tmp_path: Path, no_network: list[object]) -> None:
    store = tmp_path / "foreign"
    client = _chroma(store)
    try:
        collection = client.create_collection("docs", embedding_function=None)  # type: ignore[attr-defined]
        collection.add(
            ids=["doc-1", "doc-2"],
            documents=["first document", "second"],
            embeddings=[[0.5, 0.25], [0.125, 1.0]],
            metadatas=[{"source": "web", "rank": 3}, None],
        )
    finally:
        client.close()  # type: ignore[attr-defined]
    with Memvid.create(tmp_path / "in.mv2") as mem:
        report = import_chroma(mem, store, collection="docs")
        frames = list(mem.frames())
    assert (report.frames, report.ids_kept) == (2, False)
    assert [(f.uri, f.text, dict(f.metadata)) for f in frames] == [
        ("doc-1", "first document", {"source": "web", "rank": 3}),
        ("doc-2", "second", {}),
    ]
    assert frames[1].embedding is not None and frames[1].embedding.tolist() == [0.125, 1.0]


def test_chroma_collection_is_not_replaced_without_overwrite(capsule: Path, tmp_path: Path) -> None:
    store = tmp_path / "chroma"
    with Memvid.open(capsule, read_only=True) as mem:
        export_chroma(mem, store)
        with pytest.raises(InvalidInputError, match="already has a collection 'memvid'"):
            export_chroma(mem, store)
        assert export_chroma(mem, store, overwrite=True).frames == 2
    with Memvid.create(tmp_path / "x.mv2") as copy:
        with pytest.raises(InvalidInputError, match=r"has no collection 'other' \(it has: memvid\)"):
            import_chroma(copy, store, collection="other")
        with pytest.raises(InvalidInputError, match="no Chroma persistent directory"):
            import_chroma(copy, tmp_path / "nowhere")
        assert len(copy) == 0


@pytest.mark.parametrize("space", ["l2", "cosine"])
def test_chroma_vectors_past_the_index_threshold(tmp_path: Path, space: str) -> None:
    """Past 1,000 records Chroma builds its HNSW index; an l2 collection still returns every
    vector bit for bit, a cosine one only to within float32 rounding (as documented)."""
    vectors = np.random.default_rng(7).normal(size=(1100, 8)).astype(np.float32)
    with Memvid.create(tmp_path / "many.mv2") as mem:
        mem.put_many([{"text": f"frame {i}", "embedding": v} for i, v in enumerate(vectors)])
        mem.commit()
        export_chroma(mem, tmp_path / "chroma", space=space)
    with Memvid.create(tmp_path / "copy.mv2") as copy:
        assert import_chroma(copy, tmp_path / "chroma").frames == 1100
        got = np.stack([f.embedding for f in copy.frames() if f.embedding is not None])
    if space == "l2":
        assert got.tobytes() == vectors.tobytes()
    else:
        np.testing.assert_allclose(got, vectors, rtol=1e-5, atol=1e-6)


# -- LanceDB ------------------------------------------------------------------------------


def test_lancedb_round_trip(capsule: Path, tmp_path: Path, no_network: list[object]) -> None:
    db = tmp_path / "lance"
    with Memvid.open(capsule, read_only=True) as mem:
        report = export_lancedb(mem, db, table="notes")
        expected = states(mem)
    assert (report.frames, report.skipped, report.vectors) == (5, 0, 2)
    with Memvid.create(tmp_path / "copy.mv2") as copy:
        result = import_lancedb(copy, db, table="notes")
        assert (result.frames, result.vectors, result.ids_kept) == (5, 2, True)
        assert states(copy) == expected
        export_lancedb(copy, tmp_path / "again", table="notes")
    first = lancedb.connect(str(db)).open_table("notes").to_arrow()
    second = lancedb.connect(str(tmp_path / "again")).open_table("notes").to_arrow()
    assert first.equals(second)


def test_lancedb_table_is_searchable(capsule: Path, tmp_path: Path) -> None:
    with Memvid.open(capsule, read_only=True) as mem:
        export_lancedb(mem, tmp_path / "lance")
    table = lancedb.connect(str(tmp_path / "lance")).open_table("frames")
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 3)
    hits = table.search([1.0, 2.0, 3.0]).limit(1).to_list()
    assert hits[0]["uri"] == "mv2://people/bob" and hits[0]["text"] == "Bob takes the train"


def test_import_a_lancedb_table_with_other_columns(tmp_path: Path) -> None:
    db = lancedb.connect(str(tmp_path / "lance"))
    db.create_table(
        "docs",
        data=pa.table(
            {
                "content": ["one", "two"],
                "emb": pa.array([[1.0, 0.0], [0.0, 1.0]], pa.list_(pa.float32(), 2)),
                "source": ["a.txt", "b.txt"],
                "page": [1, 2],
            }
        ),
    )
    with Memvid.create(tmp_path / "in.mv2") as mem:
        with pytest.raises(InvalidInputError, match="no text column"):
            import_lancedb(mem, tmp_path / "lance", table="docs")
        report = import_lancedb(mem, tmp_path / "lance", table="docs", columns={"text": "content", "embedding": "emb"})
        frames = list(mem.frames())
    assert report.frames == 2 and report.vectors == 2
    assert [(f.text, dict(f.metadata)) for f in frames] == [
        ("one", {"source": "a.txt", "page": 1}),
        ("two", {"source": "b.txt", "page": 2}),
    ]


def test_lancedb_refuses_remote_uris_and_bad_names(capsule: Path, tmp_path: Path) -> None:
    with Memvid.open(capsule, read_only=True) as mem:
        for uri in ["s3://bucket/db", "db://remote", "gs://x"]:
            with pytest.raises(InvalidInputError, match="not a local directory"):
                export_lancedb(mem, uri)
        with pytest.raises(InvalidInputError, match="not a LanceDB table name"):
            export_lancedb(mem, tmp_path / "lance", table="../escape")
    assert not (tmp_path / "escape.lance").exists() and not (tmp_path / "lance").exists()
    with Memvid.open(capsule, read_only=True) as mem:
        export_lancedb(mem, tmp_path / "lance")
        with pytest.raises(InvalidInputError, match="already has a table 'frames'"):
            export_lancedb(mem, tmp_path / "lance")
        assert export_lancedb(mem, tmp_path / "lance", overwrite=True, include_vectors=False).vectors == 0
    assert sorted(os.listdir(tmp_path / "lance")) == ["frames.lance"]
