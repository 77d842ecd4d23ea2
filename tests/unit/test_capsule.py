"""The public capsule API: frames in, frames out, commits, history, errors."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memvid import (
    CapsuleAccessError,
    CapsuleExistsError,
    CapsuleLockedError,
    CapsuleNotFoundError,
    ClosedError,
    CommitNotFoundError,
    FrameNotFoundError,
    InvalidInputError,
    Memvid,
    MemvidError,
    NotACapsuleError,
    PutOptions,
    ReadOnlyError,
    ReadOnlyViewError,
)

UTC = dt.UTC


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "mem.mv2"


def test_round_trip_of_every_field(path: Path) -> None:
    with Memvid.create(path) as mem:
        fid = mem.put(
            "Alice prefers green tea",
            title="preference",
            uri="mv2://people/alice",
            tags={"person": "alice", "topic": "drinks"},
            kind="note",
            timestamp="2024-05-01T12:30:00+02:00",
            metadata={"source": "chat", "turn": 3, "nested": {"a": [1, 2.5, None]}},
            embedding=[0.25, -1.0, 3.5],
        )
        assert fid == 0
        result = mem.commit("first")
        assert result.frame_ids == (0,) and result.seq == 1 and result.removed == ()
    with Memvid.open(path, read_only=True) as mem:
        frame = mem.get(fid)
    assert frame.text == "Alice prefers green tea"
    assert frame.title == "preference" and frame.uri == "mv2://people/alice" and frame.kind == "note"
    assert dict(frame.tags) == {"person": "alice", "topic": "drinks"}
    assert dict(frame.metadata) == {"source": "chat", "turn": 3, "nested": {"a": [1, 2.5, None]}}
    assert frame.timestamp == dt.datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert frame.created_at.tzinfo is not None and frame.time == frame.timestamp
    assert frame.embedding is not None and frame.embedding.tolist() == [0.25, -1.0, 3.5]
    assert frame.payload is None and len(frame.checksum) == 32


def test_ids_are_stable_and_monotonic_across_reopen(path: Path) -> None:
    with Memvid.create(path) as mem:
        assert [mem.put(f"t{i}") for i in range(3)] == [0, 1, 2]
    with Memvid.open(path) as mem:
        assert mem.put("t3") == 3
        mem.commit()
        assert [f.id for f in mem.frames()] == [0, 1, 2, 3]


def test_put_bytes_keeps_payload_and_decodes_text(path: Path) -> None:
    with Memvid.create(path) as mem:
        text_id = mem.put_bytes("héllo".encode(), PutOptions(title="utf8"))
        binary_id = mem.put_bytes(b"\xff\x00\xfe", PutOptions(kind="image/png"))
        override_id = mem.put_bytes_with_options(b"\x89PNG", PutOptions(text="a picture of a cat"))
        mem.commit()
        assert mem.get(text_id).text == "héllo" and mem.get(text_id).payload == "héllo".encode()
        assert mem.get(binary_id).text == "" and mem.get(binary_id).payload == b"\xff\x00\xfe"
        assert mem.get(override_id).text == "a picture of a cat"


def test_builder_matches_keywords() -> None:
    built = (
        PutOptions.builder()
        .title("T")
        .uri("u")
        .tag("project", "alpha")
        .tag("k", "v")
        .kind("note")
        .metadata("m", 1)
        .build()
    )
    assert built == PutOptions(title="T", uri="u", tags={"project": "alpha", "k": "v"}, kind="note", metadata={"m": 1})


def test_put_many_accepts_every_item_form_and_checks_all_first(path: Path) -> None:
    with Memvid.create(path) as mem:
        ids = mem.put_many(
            [
                "plain",
                b"bytes",
                PutOptions(text="opts", title="o"),
                ("pair", PutOptions(uri="u:pair")),
                {"text": "mapping", "tags": {"a": "b"}},
                {"data": b"\x00\x01", "text": "described", "kind": "bin"},
            ]
        )
        assert ids == [0, 1, 2, 3, 4, 5]
        with pytest.raises(InvalidInputError, match="item 1"):
            mem.put_many(["fine", {"text": "bad", "metadata": {"x": object()}}])
        assert mem.pending == 6  # the failed batch added nothing
        mem.commit()
        assert [f.text for f in mem.frames()] == ["plain", "bytes", "opts", "pair", "mapping", "described"]
        assert mem.get(5).payload == b"\x00\x01"


def test_uncommitted_frames_are_invisible(path: Path) -> None:
    with Memvid.create(path) as mem:
        fid = mem.put("draft")
        with pytest.raises(FrameNotFoundError):
            mem.get(fid)
        with Memvid.open(path, read_only=True) as reader:
            assert len(reader) == 0
        mem.commit()
        assert mem.get(fid).text == "draft"


def test_update_supersedes_and_keeps_history(path: Path) -> None:
    with Memvid.create(path) as mem:
        old = mem.put("v1", uri="doc://a", tags={"x": "1"}, title="A")
        first = mem.commit()
        new = mem.update("doc://a", "v2", tags={"x": "2"})
        second = mem.commit()
        assert second.removed == (old,) and second.frame_ids == (new,)
        frame = mem.get_by_uri("doc://a")
        assert (frame.id, frame.text, frame.title, dict(frame.tags), frame.supersedes) == (
            new,
            "v2",
            "A",
            {"x": "2"},
            old,
        )
        with pytest.raises(FrameNotFoundError, match="superseded by frame"):
            mem.get(old)
        assert [f.id for f in mem.frames()] == [new]
        assert mem.at(commit=first.seq).get(old).text == "v1"
        by_id = mem.update(new, title="B")
        mem.commit()
        assert mem.get(by_id).text == "v2" and mem.get(by_id).title == "B"


def test_update_of_a_pending_frame_changes_it_in_place(path: Path) -> None:
    with Memvid.create(path) as mem:
        fid = mem.put("draft", uri="u")
        assert mem.update(fid, "final") == fid
        assert mem.update("u", title="t") == fid
        result = mem.commit()
        assert result.frame_ids == (fid,) and mem.get(fid).text == "final" and mem.get(fid).title == "t"


def test_delete_by_id_and_uri(path: Path) -> None:
    with Memvid.create(path) as mem:
        a = mem.put("a", uri="dup")
        b = mem.put("b", uri="dup")
        c = mem.put("c")
        mem.commit()
        assert mem.delete("dup") == (a, b)
        assert mem.delete(c) == (c,)
        result = mem.commit()
        assert result.removed == (a, b, c)
        assert len(mem) == 0 and list(mem.frames()) == []
        with pytest.raises(FrameNotFoundError, match="deleted"):
            mem.get(a)
        with pytest.raises(FrameNotFoundError):
            mem.delete("dup")
        with pytest.raises(FrameNotFoundError):
            mem.delete(999)
        assert len(mem.at(commit=-2)) == 3
        pending = mem.put("p")
        assert mem.delete(pending) == (pending,) and mem.pending == 0


def test_double_removal_in_one_commit_is_refused(path: Path) -> None:
    with Memvid.create(path) as mem:
        fid = mem.put("x")
        mem.commit()
        mem.delete(fid)
        with pytest.raises(FrameNotFoundError, match="pending"):
            mem.update(fid, "y")


def test_commit_with_nothing_pending_writes_nothing(path: Path) -> None:
    with Memvid.create(path) as mem:
        size = os.path.getsize(path)
        result = mem.commit()
        assert result.frame_ids == () and result.seq == 0 and os.path.getsize(path) == size


def test_commit_message_is_bounded(path: Path) -> None:
    """The message is stored in the manifest, which readers bound: a longer message is
    refused before anything is written, and the pending frames stay pending."""
    longest = "é" * (65_536 // 2)  # 65,536 bytes of UTF-8
    with Memvid.create(path) as mem:
        mem.put("first")
        size = os.path.getsize(path)
        with pytest.raises(InvalidInputError, match="65536 bytes"):
            mem.commit(longest + "x")
        assert os.path.getsize(path) == size and mem.head.seq == 0
        assert mem.commit(longest).seq == 1
    with Memvid.open(path, read_only=True) as mem:
        assert mem.timeline()[-1].message == longest
        assert [f.text for f in mem.frames()] == ["first"]


def test_close_policy(path: Path) -> None:
    mem = Memvid.create(path)
    mem.put("kept by close()")
    mem.close()
    with pytest.raises(RuntimeError), Memvid.open(path) as mem:
        mem.put("discarded by the exception")
        raise RuntimeError("boom")
    mem = Memvid.open(path)
    mem.put("discarded by close(commit=False)")
    mem.close(commit=False)
    with Memvid.open(path) as mem:
        assert [f.text for f in mem.frames()] == ["kept by close()"]
        mem.put("rolled back")
        assert mem.rollback() == 1 and mem.pending == 0


def test_closed_handle_refuses_everything(path: Path) -> None:
    mem = Memvid.create(path)
    mem.close()
    mem.close()  # idempotent
    for call in (lambda: mem.put("x"), lambda: mem.get(0), lambda: len(mem), mem.stats, mem.commit):
        with pytest.raises(ClosedError):
            call()


def test_read_only_handles_and_views_refuse_writes(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put("x")
    with Memvid.open(path, read_only=True) as reader:
        for call in (lambda: reader.put("y"), reader.commit, lambda: reader.delete(0), lambda: reader.update(0, "z")):
            with pytest.raises(ReadOnlyError):
                call()
        view = reader.at(commit=1)
        with pytest.raises(ReadOnlyViewError):
            view.put("y")
        with pytest.raises(ReadOnlyViewError):
            view.commit()


def test_create_and_open_errors(path: Path, tmp_path: Path) -> None:
    Memvid.create(path).close()
    with pytest.raises(CapsuleExistsError):
        Memvid.create(path)
    Memvid.create(path, overwrite=True).close()
    with pytest.raises(CapsuleNotFoundError):
        Memvid.open(tmp_path / "missing.mv2")
    with pytest.raises(CapsuleNotFoundError):
        Memvid.create(tmp_path / "no" / "such" / "dir.mv2")
    junk = tmp_path / "junk.mv2"
    junk.write_bytes(b"hello, I am not a capsule" * 400)
    with pytest.raises(NotACapsuleError):
        Memvid.open(junk)
    with pytest.raises(CapsuleAccessError):
        Memvid.open(tmp_path)  # a directory
    with pytest.raises(CapsuleAccessError):
        Memvid.open(tmp_path, read_only=True)
    empty = tmp_path / "empty.mv2"
    empty.write_bytes(b"")
    with pytest.raises(NotACapsuleError):
        Memvid.open(empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mv2", "junk.mv2", "mem.mv2"]


def test_single_writer_lock(path: Path) -> None:
    with Memvid.create(path):
        with pytest.raises(CapsuleLockedError):
            Memvid.open(path)
        with pytest.raises(CapsuleLockedError):
            Memvid.open(path, lock_timeout=0.05)
        with Memvid.open(path, read_only=True) as reader:
            assert len(reader) == 0
    with Memvid.open(path, lock_timeout=1):
        pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": "bad \ud800 surrogate"}, "text is not valid Unicode"),
        ({"text": 42}, "text must be a str"),
        ({"text": "x", "metadata": {"f": float("nan")}}, "JSON"),
        ({"text": "x", "metadata": {"o": object()}}, "JSON"),
        ({"text": "x", "timestamp": "yesterday-ish"}, "ISO 8601"),
        ({"text": "x", "tags": {"k": ["list"]}}, "tag 'k' must be a str"),
        ({"text": "x", "embedding": [1.0, float("inf")]}, "NaN or infinity"),
        ({"text": "x", "embedding": [[1.0], [2.0]]}, "1-d"),
    ],
)
def test_bad_input_is_a_clear_error_and_adds_nothing(path: Path, kwargs: dict[str, object], match: str) -> None:
    with Memvid.create(path) as mem:
        text = kwargs.pop("text")
        with pytest.raises(InvalidInputError, match=match):
            mem.put(text, **kwargs)  # type: ignore[arg-type]
        assert mem.pending == 0


def test_nul_characters_round_trip(path: Path) -> None:
    with Memvid.create(path) as mem:
        fid = mem.put("a\x00b", metadata={"k": "v\x00w"}, tags={"t\x00": "x"})
        mem.commit()
        frame = mem.get(fid)
        assert frame.text == "a\x00b" and frame.metadata["k"] == "v\x00w" and dict(frame.tags) == {"t\x00": "x"}


def test_embedding_dimension_is_fixed_per_capsule(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put("no vector")
        mem.put("v", embedding=np.ones(4, dtype=np.float64))
        with pytest.raises(InvalidInputError, match="dimension 3"):
            mem.put("w", embedding=[1.0, 2.0, 3.0])
        mem.commit()
    with Memvid.open(path) as mem:
        assert mem.stats().embedding_dim == 4
        with pytest.raises(InvalidInputError):
            mem.put("w", embedding=[1.0])
        frames = list(mem.frames())
        assert frames[0].embedding is None and frames[1].embedding is not None


def test_frames_filters(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put("a", kind="note", tags={"p": "x"}, uri="chat://1", timestamp="2024-01-01")
        mem.put("b", kind="note", tags={"p": "y"}, uri="chat://2", timestamp="2024-02-01")
        mem.put("c", kind="doc", tags={"p": "x", "q": "z"}, uri="file://c", timestamp="2024-03-01")
        mem.commit()

        def texts(**kw: object) -> list[str]:
            return [f.text for f in mem.frames(**kw)]  # type: ignore[arg-type]

        assert texts() == ["a", "b", "c"]
        assert texts(kind="note") == ["a", "b"]
        assert texts(tags={"p": "x"}) == ["a", "c"]
        assert texts(tags={"p": "x", "q": "z"}) == ["c"]
        assert texts(uri_prefix="chat://") == ["a", "b"]
        assert texts(since="2024-02-01") == ["b", "c"]
        assert texts(until=dt.date(2024, 2, 1)) == ["a"]
        assert texts(since="2024-01-15", until="2024-02-15", kind="note") == ["b"]


def test_time_travel(path: Path) -> None:
    with Memvid.create(path) as mem:
        a = mem.put("one")
        c1 = mem.commit("one")
        b = mem.put("two")
        c2 = mem.commit("two")
        mem.delete(a)
        c3 = mem.commit("three")
        history = mem.timeline()
        assert [(c.seq, c.message, c.added, c.removed, c.frames) for c in history] == [
            (0, "create", 0, 0, 0),
            (1, "one", 1, 0, 1),
            (2, "two", 1, 0, 2),
            (3, "three", 0, 1, 1),
        ]
        assert [c.id for c in history[1:]] == [c1.id, c2.id, c3.id]
        assert history[2].parent == c1.id
        assert mem.timeline(limit=2) == history[2:]
        assert mem.timeline(limit=0) == []
        assert [f.text for f in mem.at(commit=1).frames()] == ["one"]
        assert [f.text for f in mem.at(commit=c2.id[:8]).frames()] == ["one", "two"]
        assert [f.text for f in mem.at(commit=-1).frames()] == ["two"]
        assert mem.at(frame=b).head.seq == 2
        assert mem.at(time=c2.time).head.seq == 2
        assert mem.at(time=c2.time - dt.timedelta(microseconds=1)).head.seq == 1
        view = mem.at(commit=2)
        assert view.stats().frames == 2 and view.timeline()[-1].seq == 2
        with pytest.raises(CommitNotFoundError):
            mem.at(commit=9)
        with pytest.raises(CommitNotFoundError):
            mem.at(commit="ffffffff")
        with pytest.raises(CommitNotFoundError):
            mem.at(time="1999-01-01")
        with pytest.raises(CommitNotFoundError):
            mem.at(frame=77)
        with pytest.raises(InvalidInputError):
            mem.at()
        with pytest.raises(InvalidInputError):
            mem.at(commit=1, frame=0)


def test_reader_refresh_sees_new_commits(path: Path) -> None:
    with Memvid.create(path) as writer, Memvid.open(path, read_only=True) as reader:
        writer.put("x")
        writer.commit()
        assert len(reader) == 0
        assert reader.refresh() is True and len(reader) == 1
        assert reader.refresh() is False


def test_many_small_commits_stay_few_segments_and_readable(path: Path) -> None:
    n = 700
    with Memvid.create(path) as mem:
        for i in range(n):
            mem.put(f"turn {i}", uri=f"chat://{i % 50}")
            if i % 97 == 3:
                mem.delete(i - 1)
            mem.commit()
        stats = mem.stats()
        # size-tiered, width 8: at most 7 segments per level
        assert stats.segments <= 7 * 4, stats
        live = list(mem.frames())
    deleted = {i - 1 for i in range(n) if i % 97 == 3}
    assert [f.id for f in live] == [i for i in range(n) if i not in deleted]
    assert all(f.text == f"turn {f.id}" for f in live)
    with Memvid.open(path, read_only=True) as mem:
        assert mem.get_by_uri("chat://7").id == max(i for i in range(n) if i % 50 == 7 and i not in deleted)
        assert [f.text for f in mem.at(commit=100).frames()] == [
            f"turn {i}" for i in range(100) if i not in {i - 1 for i in range(100) if i % 97 == 3}
        ]
        assert mem.verify().ok


def test_stats(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put("a")
        mem.put("b")
        mem.commit()
        mem.delete(0)
        stats = mem.stats()
        assert (stats.frames, stats.frame_versions, stats.removed, stats.pending, stats.commit_seq) == (2, 2, 0, 1, 1)
        assert stats.size_bytes == os.path.getsize(path)
        assert stats.to_dict()["uuid"] == mem.uuid
        mem.commit()
        assert mem.stats().frames == 1 and mem.stats().removed == 1


def test_a_writer_cuts_a_torn_tail(path: Path) -> None:
    with Memvid.create(path) as mem:
        mem.put("safe")
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(b"\x00garbage from a crashed writer" * 10)
    with Memvid.open(path, read_only=True) as reader:
        assert [f.text for f in reader.frames()] == ["safe"]
    with Memvid.open(path) as mem:
        assert os.path.getsize(path) == size
        mem.put("after")
    with Memvid.open(path) as mem:
        assert [f.text for f in mem.frames()] == ["safe", "after"] and mem.verify().ok


def test_errors_share_one_root() -> None:
    import memvid

    errors = [getattr(memvid, n) for n in memvid.__all__ if n.endswith("Error")]
    assert errors and all(issubclass(e, MemvidError) for e in errors)
    assert issubclass(memvid.FrameNotFoundError, KeyError)
    assert str(memvid.FrameNotFoundError("no frame 3")) == "no frame 3"


def test_loaded_indexes_follow_commits_and_old_views_stay_right(path: Path) -> None:
    with Memvid.create(path) as mem:
        a = mem.put("a1", uri="doc://a")
        mem.put("b1", uri="doc://b")
        mem.commit()
        assert mem.get_by_uri("doc://a").id == a  # loads the uri index and the dead set
        before = mem.at(commit=-1)  # shares the head snapshot the next commit hands over
        a2 = mem.update("doc://a", "a2")
        mem.delete("doc://b")
        mem.put("c1", uri="doc://c")
        mem.commit()
        assert mem.get_by_uri("doc://a").id == a2 and mem.get_by_uri("doc://c").text == "c1"
        with pytest.raises(FrameNotFoundError):
            mem.get_by_uri("doc://b")
        assert before.get_by_uri("doc://a").text == "a1" and before.get_by_uri("doc://b").text == "b1"
        assert [f.text for f in before.frames()] == ["a1", "b1"]
        assert [f.text for f in mem.frames()] == ["a2", "c1"]


def test_verify_reports_damage_once_and_reads_fail_cleanly(path: Path) -> None:
    with Memvid.create(path) as mem:
        fid = mem.put("x" * 5000 + "".join(chr(0x41 + i % 26) for i in range(5000)))
    with Memvid.open(path, read_only=True) as mem:
        assert mem.verify().ok
    data = bytearray(path.read_bytes())
    block = data.index(b"MVBK", data.index(b"MV2TRAIL"))  # the first block after commit 0: frames
    assert data[block + 4] == 1
    data[block + 100] ^= 0x40
    path.write_bytes(bytes(data))
    with Memvid.open(path, read_only=True) as mem:
        report = mem.verify()
        assert not report.ok
        assert [f.offset for f in report.findings] == [block]
        with pytest.raises(MemvidError, match=f"checksum mismatch in frames block at offset {block}"):
            mem.get(fid)


def test_a_writer_waiting_for_the_lock_of_a_replaced_file_opens_the_new_one(path: Path, tmp_path: Path) -> None:
    import os
    import threading
    import time

    with Memvid.create(path) as mem:
        mem.put("old")
    with Memvid.create(tmp_path / "new.mv2") as mem:
        mem.put("new")
    holder = Memvid.open(path)
    seen: list[str] = []

    def wait_for_it() -> None:
        with Memvid.open(path, lock_timeout=10) as waiter:
            seen.extend(f.text for f in waiter.frames())
            waiter.put("written by the waiter")

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    time.sleep(0.3)  # the waiter now holds a descriptor of the old file and waits for its lock
    os.replace(tmp_path / "new.mv2", path)  # what create(overwrite=True) does, lock held
    holder.close()
    thread.join(10)
    assert not thread.is_alive() and seen == ["new"]  # it noticed and opened the file now at path
    with Memvid.open(path, read_only=True) as mem:
        assert [f.text for f in mem.frames()] == ["new", "written by the waiter"]


def test_heavy_commits_give_freed_memory_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import memvid.engine.writer as writer_module
    from memvid._memory import release_free_memory

    if sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION"):
        assert release_free_memory() is True
    calls = []
    monkeypatch.setattr(writer_module, "release_free_memory", lambda: calls.append(1) or True)
    with Memvid.create(tmp_path / "t.mv2") as mem:
        mem.put("a small commit")
        mem.commit()
        assert calls == []
        mem.put_many([os.urandom(512).hex() for _ in range(1000)])  # 1 MB of hex: ~0.5 MB compressed
        mem.commit()
        assert calls == [1]


def test_a_large_commit_writes_its_blocks_as_they_gather(
    path: Path, monkeypatch: pytest.MonkeyPatch, failing_commit: Callable[[Memvid, str], None]
) -> None:
    import memvid.engine.writer as writer_module
    from memvid.storage import FileStorage

    monkeypatch.setattr(writer_module, "SPILL_BYTES", 16 << 10)
    writes: list[int] = []
    real_write = FileStorage.write

    def counting(self: FileStorage, offset: int, data: bytes | bytearray) -> None:
        writes.append(len(data))
        real_write(self, offset, data)

    monkeypatch.setattr(FileStorage, "write", counting)
    texts = [f"note {i}: " + " ".join(f"w{(i * 7 + j) % 997}" for j in range(60)) for i in range(3000)]
    with Memvid.create(path) as mem:
        mem.put("before")
        mem.commit()
        writes.clear()
        mem.put_many(texts)
        mem.commit()
        # Several data writes of about SPILL_BYTES (blocks, lexical index files), then the manifest's.
        assert len(writes) > 4 and max(writes[:-1]) < (16 << 10) + (1 << 20)
        assert mem.get(1234).text == texts[1233]
        assert mem.verify().ok
    # A write that fails half way through a commit: the capsule stays at its parent.
    with Memvid.open(path) as mem:
        mem.put_many(texts[:2000])
        failing_commit(mem, "storage.write=oserror@3")
        mem.close(commit=False)
    with Memvid.open(path, read_only=True) as reader:
        assert reader.stats().frames == 3001
        assert reader.verify().ok
        assert [h.frame_id for h in reader.search("note 2999", mode="lex", limit=1)] == [3000]


def test_a_large_commit_that_fails_for_another_reason_than_io_cuts_what_it_wrote(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import memvid.engine.writer as writer_module
    from memvid.errors import LimitExceededError
    from memvid.index import IndexMaintainer

    monkeypatch.setattr(writer_module, "SPILL_BYTES", 16 << 10)
    texts = [f"note {i}: " + " ".join(f"w{(i * 7 + j) % 997}" for j in range(60)) for i in range(3000)]
    update = IndexMaintainer.update

    def over_a_limit(self: IndexMaintainer, change: Any) -> Any:
        update(self, change)  # the index blocks are laid out, and most of the commit written
        raise LimitExceededError("a limit the test sets")

    with Memvid.create(path) as mem:
        mem.put("before")
        mem.commit()
        size = path.stat().st_size
        mem.put_many(texts)
        monkeypatch.setattr(IndexMaintainer, "update", over_a_limit)
        with pytest.raises(LimitExceededError):
            mem.commit()
        monkeypatch.setattr(IndexMaintainer, "update", update)
        assert path.stat().st_size == size  # what the failed commit wrote is cut off
        mem.rollback()
        mem.put("after")  # the handle still writes
        mem.commit()
        assert mem.verify().ok
    with Memvid.open(path, read_only=True) as reader:
        assert [f.text for f in reader.frames()] == ["before", "after"]
        assert [h.frame_id for h in reader.search("after", mode="lex")] == [3001]
