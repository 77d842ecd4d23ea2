"""The worker processes: a helper that dies, what a helper imports, and the bound on sources in flight."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memvid import Memvid, MemvidError
from memvid.ingest import JsonMapping
from memvid.ingest import workers as workers_module
from memvid.ingest.prepare import Options, prepare
from memvid.ingest.sources import Source, discover
from memvid.ingest.workers import IN_FLIGHT_BYTES_PER_WORKER, IN_FLIGHT_PER_WORKER, _Helpers, _Slot, prepared_in_order

# A JSON mapping field whose name kills the process that compares it with a record's "crash-here" key:
# a parser that crashes its process on one chosen file. In the process whose pid is in CRASH_SPARE_PID
# (the caller) it raises instead, so if the caller ever read that file the test would fail, not die.
CRASH_KEY = """
import os, signal

class CrashKey(str):
    def __hash__(self):
        return hash("crash-here")

    def __eq__(self, other):
        if str.__eq__(other, "crash-here"):
            if os.getpid() == int(os.environ["CRASH_SPARE_PID"]):
                raise RuntimeError("the caller read the file meant for a helper")
            os.kill(os.getpid(), signal.SIGKILL)
        return str.__eq__(self, other)

    __ne__ = str.__ne__
"""

HARNESS = """
import json, os, sys
from memvid import Memvid, MemvidError
from memvid.ingest import JsonMapping
from crashkey import CrashKey

os.environ["CRASH_SPARE_PID"] = str(os.getpid())
mapping = JsonMapping(text="body", metadata=("team", CrashKey("unused")))
with Memvid.create(sys.argv[1]) as mem:
    report = mem.ingest(sys.argv[2], workers=int(sys.argv[3]), json_mapping=mapping, commit_every=5)
print(json.dumps(report.to_dict()))
"""


def _records(root: Path, n: int, crash: int) -> list[Path]:
    root.mkdir()
    files = []
    for i in range(n):
        record = {"body": f"Record {i} says something about tea.", "team": f"t{i}"}
        if i == crash:
            record["crash-here"] = True
        path = root / f"r{i:02d}.jsonl"
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        files.append(path)
    return files


def test_a_helper_that_dies_fails_its_file_and_the_run_goes_on(tmp_path: Path) -> None:
    # With workers=2 the one helper is queued the first sources before the caller reads any, so the
    # second file is read in a helper; the helper first answers for the first file, then dies.
    files = _records(tmp_path / "src", 14, crash=1)
    (tmp_path / "crashkey.py").write_text(CRASH_KEY, encoding="utf-8")
    capsule = tmp_path / "c.mv2"
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, str(capsule), str(tmp_path / "src"), "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == [
        {"source": str(files[1]), "reason": "the worker process died (killed by SIGKILL, out of memory?)"}
    ]
    assert (report["files"], report["documents"]) == (14, 13)
    with Memvid.open(capsule, read_only=True) as mem:
        assert mem.verify().ok
        docs = Counter(f.uri for f in mem.frames(kind="document"))
        assert sorted(docs) == sorted(p.resolve().as_uri() + "#record=1" for p in files if p != files[1])
        assert set(docs.values()) == {1}
        assert {f.metadata["fields"]["team"] for f in mem.frames(kind="document")} == {
            f"t{i}" for i in range(14) if i != 1
        }


def test_a_helper_imports_no_pyarrow_numpy_or_tantivy(tmp_path: Path) -> None:
    maps_of = Path(f"/proc/{os.getpid()}/maps")
    if not maps_of.exists():
        pytest.skip("needs /proc")
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n", encoding="utf-8")
    (source,) = discover([tmp_path / "a.md"])
    assert isinstance(source, Source)
    options = Options(100, 10, None, JsonMapping())
    helpers = _Helpers(1, options, 4)
    try:
        (helper,) = helpers.helpers
        slot = _Slot(0, source)
        helpers.todo.append(slot)
        helpers.assign()
        while not slot.done:
            helpers.collect(wait=True)
        assert slot.result == prepare(source, options)
        maps = Path(f"/proc/{helper.process.pid}/maps").read_text()
    finally:
        helpers.close(kill=False)
    assert "libarrow" in maps_of.read_text()  # this process has them: the check can see a library
    for library in ("libarrow", "_multiarray_umath", "tantivy"):
        assert library not in maps, library


def test_helpers_that_die_as_they_start_stop_the_run_without_blaming_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n", encoding="utf-8")
    (source,) = discover([tmp_path / "a.md"])
    assert isinstance(source, Source)
    monkeypatch.setattr(workers_module, "_BOOT", "import sys; sys.exit(3)")
    helpers = _Helpers(1, Options(100, 10, None, JsonMapping()), 4)
    slot = _Slot(0, source)
    helpers.todo.append(slot)
    try:
        with pytest.raises(MemvidError, match=r"die as they start \(exit code 3\)"):
            for _ in range(10):
                helpers.assign()
                helpers.collect(wait=True)
    finally:
        helpers.close(kill=True)
    assert not slot.done and list(helpers.todo) == [slot]  # not blamed: it goes back, for the caller to read


@pytest.mark.parametrize("bytes_per_worker", [IN_FLIGHT_BYTES_PER_WORKER, 300])
def test_no_more_sources_in_flight_than_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bytes_per_worker: int
) -> None:
    root = tmp_path / "src"
    root.mkdir()
    for i in range(300):
        (root / f"n{i:03d}.md").write_text(f"# Note {i}\n\n" + "A sentence of text. " * (i % 7 + 1), encoding="utf-8")
    monkeypatch.setattr(workers_module, "IN_FLIGHT_BYTES_PER_WORKER", bytes_per_worker)
    options = Options(80, 10, None, JsonMapping())
    taken: list[Source] = []

    def counted() -> Iterator[Source | tuple[str, str]]:
        for item in discover([root]):
            assert isinstance(item, Source)
            taken.append(item)
            yield item

    def skipped(source: Source) -> bool:
        return source.name.endswith("7.md")

    for workers in (2, 3):
        taken.clear()
        given = 0
        for item, prepared in prepared_in_order(counted(), skipped, options, workers):
            given += 1
            in_flight = taken[given:]  # taken and not yet given back
            assert len(in_flight) < IN_FLIGHT_PER_WORKER * workers
            assert sum(s.size for s in in_flight[:-1] if not skipped(s)) < bytes_per_worker * workers
            assert isinstance(item, Source)
            assert Path(item.name).name == f"n{given - 1:03d}.md"  # in discovery order
            assert prepared == (None if skipped(item) else prepare(item, options))
        assert given == len(taken) == 300


# A metadata field name that takes 10 ms to compare with a record's "slow" key: every file costs the
# process that reads it 10 ms, the caller or a helper.
SLOW_KEY = """
import time

class SlowKey(str):
    def __hash__(self):
        return hash("slow")

    def __eq__(self, other):
        if str.__eq__(other, "slow"):
            time.sleep(0.01)
        return str.__eq__(self, other)

    __ne__ = str.__ne__
"""


def test_helpers_report_their_reading_time_through_a_wide_pipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The caller balances its reading and writing against the time helpers report; a helper's
    # results pipe holds many results, so a caller busy committing does not stall the helper.
    import fcntl

    (tmp_path / "slowkey.py").write_text(SLOW_KEY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    from slowkey import SlowKey  # type: ignore[import-not-found]

    root = tmp_path / "src"
    root.mkdir()
    for i in range(5):
        (root / f"r{i}.json").write_text(json.dumps({"body": f"record {i}", "slow": 1}), encoding="utf-8")
    options = Options(1200, 150, None, JsonMapping(text="body", metadata=(SlowKey("unused"),)))
    helpers = _Helpers(1, options, 64)
    try:
        if hasattr(fcntl, "F_GETPIPE_SZ") and int(Path("/proc/sys/fs/pipe-max-size").read_text()) >= 1 << 20:
            assert fcntl.fcntl(helpers.helpers[0].results, fcntl.F_GETPIPE_SZ) >= 1 << 20
        slots = [_Slot(i, source) for i, source in enumerate(discover([root]))]
        helpers.todo.extend(slots)
        helpers.assign()
        while not all(slot.done for slot in slots):
            helpers.collect(wait=True)
    finally:
        helpers.close(kill=False)
    assert all(slot.result is not None and slot.result.error is None for slot in slots)
    assert 0.05 <= helpers.work < 5  # five files of 10 ms each, as the helper timed them


# An embedder whose copies in worker processes say where they ran: every call appends the process id
# and the texts' count to a log file; vectors are a digest of the text, the same in every process.
HASH_EMBEDDER = """
import functools, hashlib, os
import numpy as np

class HashEmbedder:
    name = "hash-embedder"
    dim = 8
    normalized = True

    def __init__(self, log):
        self.log = log

    @property
    def worker_factory(self):
        return functools.partial(HashEmbedder, self.log)

    def embed_documents(self, texts):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()} {len(texts)}\\n")
        out = np.array(
            [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8) for t in texts], dtype=np.float32
        ) + 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_query(self, text):
        return self.embed_documents([text])[0]
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_embed_what_they_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    from memvid.embed import embedding_text

    (tmp_path / "hashembedder.py").write_text(HASH_EMBEDDER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    from hashembedder import HashEmbedder  # type: ignore[import-not-found]

    root = tmp_path / "src"
    root.mkdir()
    for i in range(40):
        body = "\n\n".join(f"Paragraph {j} of note {i}: " + "words that fill a chunk " * 12 for j in range(4))
        (root / f"n{i:02d}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    log = tmp_path / "calls.log"
    embedder = HashEmbedder(str(log))
    with Memvid.create(tmp_path / "c.mv2", embedder=embedder) as mem:
        report = mem.ingest(root, workers=workers, chunk_chars=300, overlap=0)
        frames = list(mem.frames())
    assert report.ok and report.frames == len(frames) > 80
    for frame in frames:  # every frame has the vector the writer itself would have computed
        expected = embedder.embed_documents([embedding_text(frame.title, frame.text)])[0]
        assert frame.embedding is not None and np.allclose(frame.embedding, expected), frame.uri
    calls = [line.split() for line in log.read_text().splitlines()]
    pids = {int(pid) for pid, _ in calls[: -len(frames)]}  # the checks above logged one call per frame
    import gc

    gc.collect()  # the caller's own copy of the embedder went with the run
    assert sum(isinstance(o, HashEmbedder) for o in gc.get_objects()) == 1
    if workers == 1:  # the writer embeds at commit
        assert pids == {os.getpid()}
    else:  # helpers embed what they read, and the caller what it read; the commits embed nothing
        assert pids - {os.getpid()}
        assert sum(int(n) for _, n in calls[: -len(frames)]) == len(frames)


def test_the_caller_reads_while_that_leaves_it_no_later_than_the_helpers() -> None:
    from types import SimpleNamespace

    from memvid.ingest.workers import _caller_reads

    def helpers(work: float, queued: int, todo: int, per: float = 0.01) -> Any:
        return SimpleNamespace(
            work=work, per_source=per, helpers=[SimpleNamespace(queue=[None] * queued)], todo=[None] * todo
        )

    # Ahead of the helper by 0.1 s so far, but the helper has 0.3 s queued and 0.2 s nobody has:
    # reading ~0.2 s of it evens them out, so the caller reads (the old rule made it wait).
    assert _caller_reads(helpers(1.0, 30, 20), work=1.1, to_write=0.0, n=1)
    # The same, but the caller still has 0.4 s of writing ahead: the helper takes the rest.
    assert not _caller_reads(helpers(1.0, 30, 20), work=1.1, to_write=0.4, n=1)
    # Ahead by a quarter of a source with one source left: the helper reads it.
    assert not _caller_reads(helpers(1.0, 0, 1), work=1.005, to_write=0.0, n=1)
    # Two helpers share what is left: the caller's share is a third of it.
    assert _caller_reads(helpers(2.0, 10, 30), work=1.0, to_write=0.0, n=2)
    assert not _caller_reads(helpers(2.0, 10, 30), work=1.3, to_write=0.0, n=2)
