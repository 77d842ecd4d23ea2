"""JSONL and Parquet keep every field of every live frame: export, import into a fresh
capsule, export again, and the two exports are the same, byte for byte (JSONL) or
value for value (Parquet)."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memvid import InvalidInputError, Memvid
from memvid.io import export_jsonl, export_parquet, import_jsonl, import_parquet
from memvid.io import records as records_module

from .conftest import states

# -- example-based --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_round_trip_keeps_every_field(capsule: Path, tmp_path: Path, fmt: str) -> None:
    export, load = (export_jsonl, import_jsonl) if fmt == "jsonl" else (export_parquet, import_parquet)
    first, second = tmp_path / f"first.{fmt}", tmp_path / f"second.{fmt}"
    with Memvid.open(capsule, read_only=True) as mem:
        report = export(mem, first)
        expected = states(mem)
    assert (report.frames, report.vectors, report.skipped) == (5, 2, 0)
    with Memvid.create(tmp_path / "copy.mv2") as copy:
        result = load(copy, first)
        assert (result.frames, result.vectors, result.ids_kept, result.commits) == (5, 2, True, 1)
        assert states(copy) == expected
        export(copy, second)
        assert copy.get_by_uri("mv2://people/bob").supersedes == 3
        assert copy.head.message == f"import from {first}"
    if fmt == "jsonl":
        assert first.read_bytes() == second.read_bytes()
    else:
        assert pq.read_table(first).equals(pq.read_table(second))
        assert pq.read_table(first).schema.field("embedding").type.list_size == 3


def test_jsonl_lines_are_documented_json(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "frames.jsonl"
    with Memvid.open(capsule, read_only=True) as mem:
        export_jsonl(mem, dest)
    lines = [json.loads(line) for line in dest.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [0, 1, 2, 5, 6]
    alice = lines[0]
    assert list(alice) == [
        "id",
        "created_at",
        "timestamp",
        "uri",
        "title",
        "kind",
        "tags",
        "metadata",
        "text",
        "payload_b64",
        "checksum",
        "supersedes",
        "embedding",
    ]
    assert alice["timestamp"] == "2024-05-01T09:30:00.123456+00:00"
    assert alice["text"] == "Alice prefers green tea\x00 and ünïcode ☕"
    assert lines[2]["payload_b64"] == "AP9iaW5hcnkgcGF5bG9hZA=="
    assert lines[3]["supersedes"] == 3


def test_parquet_schema_is_explicit(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "frames.parquet"
    with Memvid.open(capsule, read_only=True) as mem:
        export_parquet(mem, dest)
    schema = pq.read_schema(dest)
    assert [(f.name, str(f.type)) for f in schema] == [
        ("id", "uint64"),
        ("created_at", "timestamp[us, tz=UTC]"),
        ("timestamp", "timestamp[us, tz=UTC]"),
        ("uri", "string"),
        ("title", "string"),
        ("kind", "string"),
        ("tags", "map<string, string ('tags')>"),  # Parquet names the map after its column
        ("metadata", "string"),
        ("text", "string"),
        ("payload", "binary"),
        ("checksum", "string"),
        ("supersedes", "uint64"),
        ("embedding", "fixed_size_list<element: float>[3]"),
    ]
    assert not schema.field("text").nullable


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_without_vectors_or_payload(capsule: Path, tmp_path: Path, fmt: str) -> None:
    export, load = (export_jsonl, import_jsonl) if fmt == "jsonl" else (export_parquet, import_parquet)
    dest = tmp_path / f"slim.{fmt}"
    with Memvid.open(capsule, read_only=True) as mem:
        report = export(mem, dest, include_vectors=False, include_payload=False)
    assert (report.frames, report.vectors) == (5, 0)
    with Memvid.create(tmp_path / "slim.mv2") as copy:
        load(copy, dest)
        frames = list(copy.frames())
    assert all(f.embedding is None and f.payload is None for f in frames)
    assert frames[2].text == "" and frames[0].text.startswith("Alice")


def test_export_of_an_as_of_view(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "first.jsonl"
    with Memvid.open(capsule, read_only=True) as mem:
        export_jsonl(mem.at(commit=1), dest)
    texts = [json.loads(line)["text"] for line in dest.read_text(encoding="utf-8").splitlines()]
    assert texts[-2:] == ["Bob takes the bus", "to be deleted"]


def test_import_into_a_capsule_with_frames_gives_new_ids(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "frames.jsonl"
    with Memvid.open(capsule, read_only=True) as mem:
        export_jsonl(mem, dest)
    with Memvid.open(capsule) as mem:
        with pytest.raises(InvalidInputError, match="already used ids up to 6"):
            import_jsonl(mem, dest, keep_ids=True)
        report = import_jsonl(mem, dest)
        assert not report.ids_kept
        new = list(mem.frames())[-5:]
    assert [f.id for f in new] == [7, 8, 9, 10, 11]
    assert all(f.supersedes is None for f in new)  # ids from elsewhere mean nothing here
    assert new[0].created_at.year >= 2024 and new[0].tags == {"person": "alice", "topic": "drinks"}


def test_new_ids_on_request(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "frames.jsonl"
    with Memvid.open(capsule, read_only=True) as mem:
        export_jsonl(mem, dest)
    with Memvid.create(tmp_path / "copy.mv2") as copy:
        report = import_jsonl(copy, dest, keep_ids=False, message="copied")
        assert [f.id for f in copy.frames()] == [0, 1, 2, 3, 4]
        assert report.ids_kept is False and copy.head.message == "copied"


def test_large_imports_commit_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records_module, "COMMIT_ROWS", 4)
    dest = tmp_path / "many.jsonl"
    with Memvid.create(tmp_path / "many.mv2") as mem:
        mem.put_many([f"frame {i}" for i in range(10)])
        mem.commit()
        export_jsonl(mem, dest)
    with Memvid.create(tmp_path / "copy.mv2") as copy:
        report = import_jsonl(copy, dest)
        assert (report.frames, report.commits, report.commit_seq) == (10, 3, 3)
        assert [f.text for f in copy.frames()] == [f"frame {i}" for i in range(10)]


def test_foreign_jsonl_needs_only_text(tmp_path: Path) -> None:
    src = tmp_path / "foreign.jsonl"
    src.write_text('{"text": "just text"}\n\n{"text": "with a uri", "uri": "x"}\n{"payload_b64": "aGk="}\n')
    with Memvid.create(tmp_path / "f.mv2") as mem:
        report = import_jsonl(mem, src)
        frames = list(mem.frames())
    assert report.frames == 3 and not report.ids_kept
    assert [(f.text, f.uri, f.payload) for f in frames] == [
        ("just text", None, None),
        ("with a uri", "x", None),
        ("hi", None, b"hi"),
    ]


def test_an_import_needs_no_pending_changes(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "frames.jsonl"
    with Memvid.open(capsule, read_only=True) as mem:
        export_jsonl(mem, dest)
        with pytest.raises(Exception, match="read-only"):
            import_jsonl(mem, dest)
    with Memvid.create(tmp_path / "busy.mv2") as mem:
        mem.put("pending")
        with pytest.raises(InvalidInputError, match="pending"):
            import_jsonl(mem, dest)
        assert mem.pending == 1


# -- property-based -------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_optional_text = st.none() | st.text(max_size=12)
_finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def _frames(draw: st.DrawFn) -> list[dict[str, Any]]:
    dim = draw(st.integers(min_value=1, max_value=6))
    frame = st.fixed_dictionaries(
        {
            "text": st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.just("\x00"),
            "payload": st.none() | st.binary(max_size=40),
            "uri": _optional_text,
            "title": _optional_text,
            "kind": _optional_text,
            "tags": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
            "metadata": st.dictionaries(st.text(max_size=6), _json, max_size=3),
            "timestamp": st.none()
            | st.datetimes(
                min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9000, 1, 1), timezones=st.just(dt.UTC)
            ),
            "embedding": st.none() | st.lists(_finite32, min_size=dim, max_size=dim),
        }
    )
    return draw(st.lists(frame, max_size=6))


def _fill(mem: Memvid, frames: list[dict[str, Any]]) -> None:
    for fields in frames:
        fields = dict(fields)
        payload = fields.pop("payload")
        text = fields.pop("text")
        if payload is None:
            mem.put(text, **fields)
        else:
            from memvid import PutOptions

            mem.put_bytes(payload, PutOptions(text=text, **fields))
    mem.commit()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=_frames(), fmt=st.sampled_from(["jsonl", "parquet"]))
def test_round_trip_property(frames: list[dict[str, Any]], fmt: str) -> None:
    export, load = (export_jsonl, import_jsonl) if fmt == "jsonl" else (export_parquet, import_parquet)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Memvid.create(root / "a.mv2") as mem:
            _fill(mem, frames)
            export(mem, root / "one")
            expected = states(mem)
        with Memvid.create(root / "b.mv2") as copy:
            load(copy, root / "one")
            assert states(copy) == expected
            export(copy, root / "two")
        if fmt == "jsonl":
            assert (root / "one").read_bytes() == (root / "two").read_bytes()
        else:
            assert pq.read_table(root / "one").equals(pq.read_table(root / "two"))
