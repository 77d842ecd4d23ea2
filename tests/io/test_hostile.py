"""Hostile destinations and hostile files: an export never writes anywhere but the
destination named, never through a planted link; an import of a damaged or hostile
file raises a MemvidError, leaves the capsule unchanged, and reads in bounded memory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memvid import InvalidInputError, LimitExceededError, Memvid, MemvidError
from memvid.io import (
    export_chroma,
    export_jsonl,
    export_lancedb,
    export_parquet,
    import_jsonl,
    import_lancedb,
    import_parquet,
)
from memvid.io import parquet as parquet_module

FileExport = Callable[..., Any]
FILE_EXPORTS = [pytest.param(export_jsonl, id="jsonl"), pytest.param(export_parquet, id="parquet")]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# -- destinations -----------------------------------------------------------------------------


@pytest.mark.parametrize("export", FILE_EXPORTS)
def test_planted_symlink_at_the_destination_is_refused(capsule: Path, tmp_path: Path, export: FileExport) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "frames").symlink_to(victim)
    with Memvid.open(capsule, read_only=True) as mem:
        with pytest.raises(InvalidInputError, match="symbolic link"):
            export(mem, out / "frames")
        with pytest.raises(InvalidInputError, match="symbolic link"):
            export(mem, out / "frames", overwrite=True)
        assert victim.read_text() == "precious"
        assert _tree(out) == {"frames"}  # no temporary file left behind
        # Asked explicitly, it writes the file the link points to (and keeps the link).
        export(mem, out / "frames", overwrite=True, follow_symlinks=True)
    assert (out / "frames").is_symlink() and victim.read_bytes() != b"precious"


@pytest.mark.parametrize("export", FILE_EXPORTS)
def test_existing_files_and_directories_are_not_replaced(capsule: Path, tmp_path: Path, export: FileExport) -> None:
    existing = tmp_path / "existing"
    existing.write_text("keep me")
    with Memvid.open(capsule, read_only=True) as mem:
        with pytest.raises(InvalidInputError, match="already exists"):
            export(mem, existing)
        with pytest.raises(InvalidInputError, match="is a directory"):
            export(mem, tmp_path)
        with pytest.raises(InvalidInputError, match="does not exist"):
            export(mem, tmp_path / "missing" / "frames")
        assert existing.read_text() == "keep me"
        export(mem, existing, overwrite=True)
    assert existing.read_bytes() != b"keep me"
    assert _tree(tmp_path) == {"existing", "source.mv2"}


@pytest.mark.parametrize("export", FILE_EXPORTS)
def test_traversal_writes_exactly_the_named_path(
    capsule: Path, tmp_path: Path, export: FileExport, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "up").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with Memvid.open(capsule, read_only=True) as mem:
        export(mem, "../up/../frames.out")
        with pytest.raises(InvalidInputError, match="does not exist"):
            export(mem, "../nowhere/../x")
    assert _tree(tmp_path) == {"sub", "up", "source.mv2", "frames.out"}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_an_export_that_fails_leaves_nothing(
    capsule: Path, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memvid.io import records

    def boom(*args: object, **kwargs: object) -> object:
        raise OSError("disk full")

    monkeypatch.setattr(records, "record_of_frame", boom)
    export = export_jsonl if fmt == "jsonl" else export_parquet
    with Memvid.open(capsule, read_only=True) as mem, pytest.raises(OSError, match="disk full"):
        export(mem, tmp_path / "frames")
    assert _tree(tmp_path) == {"source.mv2"}


def test_paths_in_records_are_only_data(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [{"text": "x", "uri": uri} for uri in ["../../etc/passwd", "/etc/shadow", "file:///root/.ssh/id_rsa"]]
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = _tree(tmp_path)
    with Memvid.create(tmp_path / "a.mv2") as mem:
        import_jsonl(mem, src)
        export_parquet(mem, tmp_path / "a.parquet")
        export_lancedb(mem, tmp_path / "lance")
        assert [f.uri for f in mem.frames()] == [line["uri"] for line in lines]
    created = _tree(tmp_path) - before
    assert {c for c in created if not c.startswith("lance/")} == {"a.mv2", "a.parquet", "lance"}
    assert all(c.startswith("lance/frames.lance") for c in created if c.startswith("lance/"))


def test_store_directories_with_planted_links_are_refused(capsule: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.db"
    victim.write_text("precious")
    chroma_dir = tmp_path / "chroma"
    chroma_dir.mkdir()
    (chroma_dir / "chroma.sqlite3").symlink_to(victim)
    lance_dir = tmp_path / "lance"
    lance_dir.mkdir()
    (lance_dir / "frames.lance").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    deep = tmp_path / "deep"
    (deep / "notes.lance" / "data").mkdir(parents=True)
    (deep / "notes.lance" / "data" / "x.lance").symlink_to(victim)
    linked_dir = tmp_path / "linked"
    linked_dir.symlink_to(tmp_path / "real", target_is_directory=True)
    with Memvid.open(capsule, read_only=True) as mem:
        with pytest.raises(InvalidInputError, match="symbolic link"):
            export_chroma(mem, chroma_dir)
        with pytest.raises(InvalidInputError, match="symbolic link"):
            export_lancedb(mem, lance_dir)
        with pytest.raises(InvalidInputError, match="symbolic link"):
            export_lancedb(mem, deep, table="notes", overwrite=True)
        with pytest.raises(InvalidInputError, match="symbolic link"):
            export_lancedb(mem, linked_dir)
        with pytest.raises(InvalidInputError, match="not a Chroma collection name"):
            export_chroma(mem, tmp_path / "c2", collection="../../x")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "real").exists()
    assert not (tmp_path / "c2").exists()


# -- hostile JSONL ----------------------------------------------------------------------------

BAD_LINES = {
    "not json": b"{not json}\n",
    "truncated": b'{"text": "cut off in the mid',
    "array": b"[1, 2]\n",
    "not utf-8": b'{"text": "\xff\xfe"}\n',
    "NaN": b'{"text": "x", "metadata": {"a": NaN}}\n',
    "huge number": b'{"text": "x", "metadata": {"a": 1e999}}\n',
    "unknown key": b'{"text": "x", "colour": "red"}\n',
    "text type": b'{"text": 5}\n',
    "id type": b'{"text": "x", "id": -1}\n',
    "id bool": b'{"text": "x", "id": true}\n',
    "bad time": b'{"text": "x", "created_at": "yesterday"}\n',
    "bad base64": b'{"text": "x", "payload_b64": "!!!"}\n',
    "bad checksum": b'{"text": "x", "checksum": "00000000000000000000000000000000"}\n',
    "short checksum": b'{"text": "x", "checksum": "abc"}\n',
    "tags": b'{"text": "x", "tags": {"a": 1}}\n',
    "metadata": b'{"text": "x", "metadata": [1]}\n',
    "embedding nan": b'{"text": "x", "embedding": [1, "NaN"]}\n',
    "embedding empty": b'{"text": "x", "embedding": []}\n',
    "embedding overflow": b'{"text": "x", "embedding": [1e300]}\n',
    "embedding dims": b'{"text": "x", "embedding": [1]}\n{"text": "y", "embedding": [1, 2]}\n',
    "lone surrogate": b'{"text": "\\ud800"}\n',
    "surrogate tag key": b'{"text": "x", "tags": {"\\udc00": "v"}}\n',
    "deep nesting": b'{"text": "x", "metadata": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}\n",
    "giant int": b'{"text": "x", "metadata": {"a": ' + b"9" * 5000 + b"}}\n",
}


@pytest.mark.parametrize("content", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_bad_jsonl_raises_and_changes_nothing(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b'{"text": "a good line first"}\n' + content)
    with Memvid.create(tmp_path / "a.mv2") as mem:
        with pytest.raises(MemvidError, match=r"bad\.jsonl line [23]"):
            import_jsonl(mem, src)
        assert len(mem) == 0 and mem.pending == 0 and mem.head.seq == 0


def test_a_line_over_the_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    src = tmp_path / "huge.jsonl"
    with src.open("wb") as f:
        f.write(b'{"text": "' + b"x" * (4 << 20) + b'"}\n')
    with Memvid.create(tmp_path / "a.mv2") as mem:
        with pytest.raises(LimitExceededError, match=r"huge\.jsonl line 1 is longer than 65536 bytes"):
            import_jsonl(mem, src, max_line_bytes=65536)
        with pytest.raises(InvalidInputError, match="max_line_bytes"):
            import_jsonl(mem, src, max_line_bytes=0)
        assert import_jsonl(mem, src).frames == 1


def test_an_altered_record_fails_its_checksum(capsule: Path, tmp_path: Path) -> None:
    src = tmp_path / "frames.jsonl"
    with Memvid.open(capsule, read_only=True) as mem:
        export_jsonl(mem, src)
    src.write_text(src.read_text(encoding="utf-8").replace("green tea", "black tea"), encoding="utf-8")
    with (
        Memvid.create(tmp_path / "a.mv2") as mem,
        pytest.raises(InvalidInputError, match=r"line 1: checksum \w+ does not match"),
    ):
        import_jsonl(mem, src)


def test_missing_or_directory_sources(tmp_path: Path) -> None:
    with Memvid.create(tmp_path / "a.mv2") as mem:
        for load in (import_jsonl, import_parquet):
            with pytest.raises(InvalidInputError, match="does not exist"):
                load(mem, tmp_path / "missing")
            with pytest.raises(InvalidInputError, match="directory"):
                load(mem, tmp_path)
        with pytest.raises(InvalidInputError, match="no LanceDB database"):
            import_lancedb(mem, tmp_path / "missing")


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash_either_reader(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    src = root / "random"
    src.write_bytes(data)
    with Memvid.create(root / "a.mv2") as mem:
        for load in (import_jsonl, import_parquet):
            try:
                load(mem, src)
            except MemvidError:
                assert len(mem) == 0 or load is import_jsonl
            assert mem.pending == 0


# -- hostile Parquet --------------------------------------------------------------------------


@pytest.fixture
def good_parquet(capsule: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "frames.parquet"
    with Memvid.open(capsule, read_only=True) as mem:
        export_parquet(mem, dest)
    return dest


@pytest.mark.parametrize("keep", [0, 4, 100, -100, -8])
def test_truncated_parquet_raises(good_parquet: Path, tmp_path: Path, keep: int) -> None:
    data = good_parquet.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[:keep])
    with Memvid.create(tmp_path / "a.mv2") as mem:
        with pytest.raises(InvalidInputError, match=r"cut\.parquet"):
            import_parquet(mem, cut)
        assert len(mem) == 0


def test_flipped_bytes_in_parquet_raise_or_import_whole(good_parquet: Path, tmp_path: Path) -> None:
    data = bytearray(good_parquet.read_bytes())
    for offset in range(4, len(data) - 8, max(1, len(data) // 64)):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        path = tmp_path / f"flip{offset}.parquet"
        path.write_bytes(bytes(damaged))
        with Memvid.create(tmp_path / f"flip{offset}.mv2") as mem:
            try:
                import_parquet(mem, path)
            except MemvidError:
                assert len(mem) == 0


BAD_TABLES = {
    "unknown column": pa.table({"text": ["x"], "colour": ["red"]}),
    "no text": pa.table({"uri": ["x"]}),
    "text type": pa.table({"text": pa.array([[1]], pa.list_(pa.int64()))}),
    "null text": pa.table({"text": pa.array([None], pa.string())}),
    "negative id": pa.table({"text": ["x"], "id": pa.array([-1], pa.int64())}),
    "time type": pa.table({"text": ["x"], "created_at": ["yesterday"]}),
    "embedding type": pa.table({"text": ["x"], "embedding": ["not a vector"]}),
    "embedding nan": pa.table({"text": ["x"], "embedding": pa.array([[float("nan")]], pa.list_(pa.float32(), 1))}),
    "embedding overflow": pa.table({"text": ["x"], "embedding": pa.array([[1e300]], pa.list_(pa.float64()))}),
    "embedding null item": pa.table({"text": ["x"], "embedding": pa.array([[1.0, None]], pa.list_(pa.float64()))}),
    "metadata json": pa.table({"text": ["x"], "metadata": ["{nope"]}),
    "metadata array": pa.table({"text": ["x"], "metadata": ["[1]"]}),
    "checksum": pa.table({"text": ["x"], "checksum": ["zz"]}),
    "tag null": pa.table({"text": ["x"], "tags": pa.array([[("a", None)]], pa.map_(pa.string(), pa.string()))}),
}


@pytest.mark.parametrize("table", list(BAD_TABLES.values()), ids=list(BAD_TABLES))
def test_parquet_with_bad_columns_raises(tmp_path: Path, table: pa.Table) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    with Memvid.create(tmp_path / "a.mv2") as mem:
        with pytest.raises(MemvidError):
            import_parquet(mem, path)
        assert len(mem) == 0


def test_a_row_group_declaring_too_many_bytes_is_refused(
    good_parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_module, "MAX_ROW_GROUP_BYTES", 100)
    with Memvid.create(tmp_path / "a.mv2") as mem, pytest.raises(LimitExceededError, match="row group 0 declares"):
        import_parquet(mem, good_parquet)


# -- hostile stores ---------------------------------------------------------------------------


def test_garbage_chroma_directory_raises(tmp_path: Path) -> None:
    pytest.importorskip("chromadb")
    from memvid.io import import_chroma

    store = tmp_path / "chroma"
    store.mkdir()
    (store / "chroma.sqlite3").write_bytes(os.urandom(4096))
    with Memvid.create(tmp_path / "a.mv2") as mem:
        with pytest.raises(MemvidError):
            import_chroma(mem, store)
        assert len(mem) == 0


def test_garbage_lancedb_table_raises(tmp_path: Path) -> None:
    pytest.importorskip("lancedb")
    table = tmp_path / "lance" / "frames.lance"
    (table / "_versions").mkdir(parents=True)
    (table / "_versions" / "1.manifest").write_bytes(os.urandom(512))
    with Memvid.create(tmp_path / "a.mv2") as mem:
        with pytest.raises(MemvidError):
            import_lancedb(mem, tmp_path / "lance")
        assert len(mem) == 0
