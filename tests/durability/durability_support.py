"""Shared helpers of the durability battery: capsule builders, a canonical form of
frames for comparisons, and the deterministic content the kill -9 child writes.

Imported by the tests (``tests/durability/conftest.py`` registers it as
``durability_support``) and by the child scripts run with ``sys.executable``
(their own folder is on ``sys.path`` then).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from memvid import CapsuleNotFoundError, Frame, Memvid, MemvidError, PutOptions

HERE = Path(__file__).resolve().parent
SOAK = os.environ.get("MEMVID_SOAK", "") not in ("", "0")
SEED = int(os.environ.get("MEMVID_DURABILITY_SEED", "37633"))
REPORT_DIR = Path(os.environ.get("MEMVID_DURABILITY_REPORT_DIR") or Path(tempfile.gettempdir()) / "memvid-durability")


def write_report(name: str, data: dict[str, Any]) -> Path:
    """Save a test's figures as ``REPORT_DIR/<name>.json`` (and print them, for ``pytest -s``)."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"{name}.json"
    path.write_text(json.dumps({"soak": SOAK, "seed": SEED, **data}, indent=2, sort_keys=True))
    print(f"{name}: {json.dumps(data, sort_keys=True)}")
    return path


# -- child processes ------------------------------------------------------------------


class Child:
    """A script of this folder run with ``sys.executable``; its complete stdout lines
    arrive on a queue as it prints them. Use as a context manager: leaving kills
    the child if it still runs and reaps it."""

    def __init__(self, script: str, *args: object, stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / script), *map(str, args)],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._out: list[str] = []
        self._err: list[bytes] = []
        self._threads = [
            threading.Thread(target=self._pump_out, daemon=True),
            threading.Thread(target=self._pump_err, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            text = raw.decode("utf-8", "replace")
            self._out.append(text)
            if text.endswith("\n"):
                self.lines.put(text[:-1])
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for raw in iter(self.proc.stderr.readline, b""):
            self._err.append(raw)

    def next_line(self, timeout: float) -> str | None:
        """The next complete line, or ``None`` once stdout is closed."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from {self.proc.args} in {timeout} s; stderr: {self.stderr}") from None

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def kill(self) -> None:
        """SIGKILL, at once (no wait)."""
        os.kill(self.proc.pid, signal.SIGKILL)

    def finish(self, timeout: float = 30) -> int:
        """Wait for the child to end and for its output; returns its exit status."""
        self.close_stdin()
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return rc

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    @property
    def stderr(self) -> str:
        return b"".join(self._err).decode("utf-8", "replace")

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


# -- comparing frames -------------------------------------------------------------------


def canon_frame(frame: Frame) -> dict[str, Any]:
    """Every stored field of a frame, as plain JSON-ready values."""
    return {
        "id": frame.id,
        "text": frame.text,
        "uri": frame.uri,
        "title": frame.title,
        "kind": frame.kind,
        "tags": dict(frame.tags),
        "metadata": json.loads(json.dumps(dict(frame.metadata))),
        "payload": None if frame.payload is None else frame.payload.hex(),
        "checksum": frame.checksum,
        "supersedes": frame.supersedes,
        "created_at": frame.created_at.isoformat(),
        "timestamp": None if frame.timestamp is None else frame.timestamp.isoformat(),
        "embedding": None if frame.embedding is None else [float(x) for x in frame.embedding],
    }


def canon_frames(frames: Iterable[Frame]) -> list[dict[str, Any]]:
    return [canon_frame(f) for f in frames]


SEARCHES: tuple[dict[str, Any], ...] = (
    {"query": "alice coffee tea", "mode": "lex"},
    {"query": "team holiday deploy", "mode": "lex"},
    {"vector": [0.5, -0.25, 0.75, 0.0], "mode": "vec", "limit": 3},
)
"""The searches the bit-flip test repeats on every commit (lexical and vector)."""


def canon_search(view: Any, request: dict[str, Any]) -> Any:
    """The hits of one search as plain values, or ``{"error": name}`` for a ``MemvidError``
    (a vector search on a commit without vectors is refused, for one)."""
    try:
        hits = view.search(**request)
    except MemvidError as exc:
        return {"error": type(exc).__name__}
    return [[h.frame_id, round(h.score, 5), h.snippet, [list(x) for x in h.highlights]] for h in hits]


# -- the small multi-commit capsule of the truncation and bit-flip tests ---------------


def _emb(seed: int, dim: int = 4) -> list[float]:
    return [((seed * 31 + k * 7) % 17) / 8.0 - 1.0 for k in range(dim)]


def _step1(mem: Memvid) -> None:
    mem.put(
        "Alice prefers green tea in the morning.",
        title="preference",
        uri="mv2://people/alice",
        tags={"person": "alice", "topic": "drinks"},
        kind="text/plain",
        timestamp="2024-05-01T08:30:00+00:00",
        metadata={"source": "chat", "turn": 3, "nested": {"ok": True, "list": [1, 2.5, "x"]}},
        embedding=_emb(1),
    )
    mem.put("Bob works on the billing service.", tags={"person": "bob"}, metadata={"confidence": 0.75})
    mem.put_bytes(b"\x00\x01binary payload\xff", PutOptions(text="a binary note", uri="mv2://blobs/1"))


def _step2(mem: Memvid) -> None:
    mem.update("mv2://people/alice", "Alice now prefers coffee.", tags={"person": "alice", "topic": "coffee"})
    bob = next(f.id for f in mem.frames(tags={"person": "bob"}))
    mem.delete(bob)
    mem.put("Carol joined the team on Monday.", tags={"person": "carol"}, embedding=_emb(2))


def _step3(mem: Memvid) -> None:
    mem.put("Héllo wörld ✓ — unicode text, 日本語.", title="unicode", metadata={"lang": ["fr", "de", "ja"]})
    mem.put("Dave is on holiday until June.", tags={"person": "dave"}, embedding=_emb(3), uri="mv2://people/dave")


def _step4(mem: Memvid) -> None:
    dave = mem.get_by_uri("mv2://people/dave").id
    mem.update(dave, metadata={"updated": True})
    mem.delete("mv2://blobs/1")


def _step5(mem: Memvid) -> None:
    for i in range(3):
        mem.put(f"note {i}: the deploy window is Thursday.", tags={"n": str(i)}, embedding=_emb(10 + i))
    carol = next(f.id for f in mem.frames(tags={"person": "carol"}))
    mem.delete(carol)


STEPS = (_step1, _step2, _step3, _step4, _step5)


def _filler(mem: Memvid, step: int, count: int) -> None:
    for i in range(count):
        mem.put(
            f"filler {step}.{i} " + "lorem ipsum " * (i % 7),
            tags={"step": str(step), "i": str(i)},
            metadata={"i": i},
            embedding=_emb(100 * step + i) if i % 2 else None,
        )


def _extra_step(mem: Memvid, n: int) -> None:
    mem.put(f"extra commit {n}", tags={"extra": str(n)}, embedding=_emb(1000 + n))
    if n % 3 == 0:
        for victim in mem.frames(tags={"extra": str(n - 1)}):
            mem.delete(victim.id)


def build_capsule(
    path: Path, *, steps: int = 5, filler: int = 0, extra: int = 0, hnsw_min_rows: int | None = None
) -> dict[str, Any]:
    """Create a capsule with the first ``steps`` commits above (plus ``filler`` extra frames
    per commit), then ``extra`` small commits (enough of them make the writer compact
    segments and tombstones), and return what each commit holds, as recorded while building::

        {"commits": [{"seq", "id", "end", "frames"}, ...]}   # genesis first

    ``end`` is the file size once the commit returned: where that commit ends. With
    ``hnsw_min_rows``, segments of that many frames get an HNSW block (normally 8,192), so
    that a small capsule carries vector index blocks too.
    """
    commits: list[dict[str, Any]] = []
    with hnsw_threshold(hnsw_min_rows):
        _build(path, steps, filler, extra, commits)
    assert path.stat().st_size == commits[-1]["end"]
    return {"commits": commits}


@contextlib.contextmanager
def hnsw_threshold(rows: int | None) -> Iterator[None]:
    """Segments of ``rows`` frames or more get an HNSW block while inside (normally 8,192),
    so that small capsules carry vector index blocks; ``None`` changes nothing."""
    import memvid.index as index_module

    default = index_module.HNSW_MIN_ROWS
    if rows is not None:
        index_module.HNSW_MIN_ROWS = rows  # type: ignore[misc]
    try:
        yield
    finally:
        index_module.HNSW_MIN_ROWS = default  # type: ignore[misc]


def vec_blocks(path: Path) -> int:
    """How many HNSW blocks the capsule's head commit references."""
    from forge import Forge

    return sum(role == "vec" for role, _, _ in Forge(path.read_bytes()).refs())


def _build(path: Path, steps: int, filler: int, extra: int, commits: list[dict[str, Any]]) -> None:
    with Memvid.create(path) as mem:

        def record() -> None:
            commits.append(
                {
                    "seq": mem.head.seq,
                    "id": mem.head.id,
                    "end": path.stat().st_size,
                    "frames": canon_frames(mem.frames()),
                }
            )

        record()
        for n, step in enumerate([*STEPS[:steps], *[_extra_step] * extra], start=1):
            if step is _extra_step:
                _extra_step(mem, n)
            else:
                step(mem)
            _filler(mem, n, filler)
            result = mem.commit(f"step {n}")
            assert result.seq == n
            record()


# -- the deterministic content written by the kill -9 child ------------------------------


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


def frame_count(seq: int) -> int:
    """How many frames commit ``seq`` of an ingest capsule holds: 1 to 20."""
    return 1 + _h("count", seq) % 20


def frame_text(seq: int, i: int) -> str:
    """Frame ``i`` of commit ``seq``; about one frame in twenty is large (tens of KB),
    so some commits take long enough to be killed half-written."""
    r = _h("text", seq, i)
    size = 20_000 + r % 60_000 if r % 20 == 0 else r % 300
    body = hashlib.sha256(f"{seq}/{i}".encode()).hexdigest()
    return f"commit {seq} frame {i} " + (body * (size // 64 + 1))[:size]


def ingest_expected(seq: int) -> list[dict[str, Any]]:
    """What each frame of commit ``seq`` must read back as (ids aside)."""
    return [
        {"text": frame_text(seq, i), "tags": {"seq": str(seq), "i": str(i)}, "metadata": {"seq": seq, "i": i}}
        for i in range(frame_count(seq))
    ]


def ingest_put(mem: Memvid) -> tuple[int, list[int]]:
    """Put (not commit) the frames of the next ingest commit; returns (seq, frame ids)."""
    seq = mem.head.seq + 1
    ids = [
        mem.put(item["text"], tags=item["tags"], metadata=item["metadata"], embedding=_emb(seq * 100 + i))
        for i, item in enumerate(ingest_expected(seq))
    ]
    return seq, ids


def ingest_commit(mem: Memvid, put: tuple[int, list[int]] | None = None) -> tuple[int, list[int], str]:
    """Put the frames of the next commit (unless ``put``, what ``ingest_put`` returned,
    says they are pending already) and commit them; returns (seq, frame ids, commit id)."""
    seq, ids = put if put is not None else ingest_put(mem)
    result = mem.commit(f"ingest {seq}")
    if result.seq != seq or list(result.frame_ids) != ids:
        raise AssertionError(f"commit {result} does not match the expected seq {seq} / ids {ids}")
    return result.seq, ids, result.id


def check_ingest_state(mem: Any, acks: Iterable[tuple[int, list[int], str]] = ()) -> int:
    """Check an ingest capsule (a handle or a view): every commit 1..head holds exactly its
    deterministic frames, no other frame is visible, and every acknowledgement
    (seq, ids, commit id) is present. Returns the head's seq."""
    head = mem.head.seq
    by_seq: dict[int, list[Frame]] = {}
    for frame in mem.frames():
        by_seq.setdefault(int(frame.tags["seq"]), []).append(frame)
    if set(by_seq) != set(range(1, head + 1)):
        missing = sorted(set(range(1, head + 1)) - set(by_seq))
        extra = sorted(set(by_seq) - set(range(1, head + 1)))
        raise AssertionError(f"head {head}: commits missing {missing[:10]}, frames of unknown commits {extra[:10]}")
    for seq, frames in by_seq.items():
        got = [{"text": f.text, "tags": dict(f.tags), "metadata": dict(f.metadata)} for f in frames]
        if got != ingest_expected(seq):
            raise AssertionError(f"commit {seq} is partially visible or wrong: {len(got)} frames")
        for i, f in enumerate(frames):
            if f.embedding is None or [float(x) for x in f.embedding] != _emb(seq * 100 + i):
                raise AssertionError(f"commit {seq} frame {i}: wrong embedding")
    timeline = {c.seq: c for c in mem.timeline()}
    if sorted(timeline) != list(range(head + 1)):
        raise AssertionError(f"timeline is {sorted(timeline)}, expected 0..{head}")
    for seq in range(1, head + 1):
        if timeline[seq].added != frame_count(seq) or timeline[seq].removed != 0:
            raise AssertionError(f"commit {seq} records {timeline[seq].added} added frames, not {frame_count(seq)}")
    for seq, ids, commit_id in acks:
        if seq > head:
            raise AssertionError(f"acknowledged commit {seq} is lost: the capsule opens at {head}")
        if timeline[seq].id != commit_id:
            raise AssertionError(f"acknowledged commit {seq} was {commit_id}, the capsule has {timeline[seq].id}")
        if [f.id for f in by_seq[seq]] != ids:
            raise AssertionError(f"acknowledged commit {seq}: ids {[f.id for f in by_seq[seq]]}, expected {ids}")
    return head


def parse_acks(output: str) -> list[tuple[int, list[int], str]]:
    """The complete ``ack`` lines the child printed (a line cut by the kill is ignored)."""
    acks = []
    for line in output.split("\n")[:-1]:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "ack":
            ids = [int(x) for x in parts[2].split(",")]
            acks.append((int(parts[1]), ids, parts[3]))
    return acks


# -- the byte layout, to report where a flipped bit landed --------------------------------


def layout(data: bytes) -> list[tuple[int, int, str]]:
    """(start, end, region) spans covering ``data``: header parts, block headers and
    payloads by kind, trailers, and the zero padding between them."""
    spans = [
        (0, 512, "header.static"),
        (512, 528, "header.checksum"),
        (528, 1024, "header.reserved"),
        (1024, 1104, "header.slot_a"),
        (1104, 2048, "header.reserved"),
        (2048, 2128, "header.slot_b"),
        (2128, 4096, "header.reserved"),
    ]
    kinds = {1: "frames", 2: "segment", 3: "tombstones", 4: "manifest", 5: "lex", 6: "vec"}
    pos = 4096
    while pos < len(data):
        if data[pos : pos + 4] == b"MVBK":
            kind = kinds.get(data[pos + 4], "unknown")
            stored = int.from_bytes(data[pos + 8 : pos + 16], "little")
            spans.append((pos, pos + 64, f"block.{kind}.header"))
            spans.append((pos + 64, pos + 64 + stored, f"block.{kind}.payload"))
            pos += 64 + stored
        elif data[pos : pos + 8] == b"MV2TRAIL":
            spans.append((pos, pos + 80, "trailer"))
            pos += 80
        else:
            end = pos + 1
            while end < len(data) and end % 64:
                end += 1
            spans.append((pos, end, "padding"))
            pos = end
    return spans


HEADER_RESERVED = ((528, 1024), (1104, 2048), (2128, 4096))
"""The zero-filled reserved ranges of the 4096-byte header (between its static part and slots)."""


def offsets_to_flip(size: int, header_stride: int) -> list[int]:
    """Every byte offset of a ``size``-byte capsule, except that inside the header's
    reserved ranges only every ``header_stride``-th byte is taken (1: every byte)."""
    return [
        offset
        for offset in range(size)
        if offset % header_stride == 0 or not any(a <= offset < b for a, b in HEADER_RESERVED)
    ]


def region_of(spans: list[tuple[int, int, str]], offset: int) -> str:
    for start, end, name in spans:
        if start <= offset < end:
            return name
    return "outside"


def make_ingest_capsule(path: Path, commits: int) -> list[tuple[int, list[int], str]]:
    """Create an ingest capsule with ``commits`` commits after genesis; returns their acknowledgements."""
    with Memvid.create(path) as mem:
        return [ingest_commit(mem) for _ in range(commits)]


def compacting_seqs(limit: int = 400) -> list[int]:
    """The seqs (up to ``limit``) of the ingest commits whose writer compacts segments,
    found by replaying the writer's own rule (``merge_width``, no cap: no vectors) on ``frame_count``."""
    from memvid.engine.manifest import SegmentEntry
    from memvid.engine.writer import level_of, merge_width
    from memvid.format.block import BlockRef

    rows: list[int] = []
    out = []
    for seq in range(1, limit + 1):
        rows.append(frame_count(seq))
        merged = False
        while width := merge_width([SegmentEntry(BlockRef(0, 0, bytes(16)), 0, 0, r, level_of(r)) for r in rows], None):
            rows[-width:] = [sum(rows[-width:])]
            merged = True
        if merged:
            out.append(seq)
    return out


def check_after_crash(path: Path, acks: list[tuple[int, list[int], str]], heads: Iterable[int]) -> int:
    """After a writer died or failed: the directory holds only the capsule; it opens
    read-only at one of ``heads`` with every acknowledged commit and no partial one;
    ``verify()`` is clean; a new writer cuts any torn tail and commits on top (its
    acknowledgement is appended to ``acks``). Returns the head found."""
    listing = sorted(p.name for p in path.parent.iterdir())
    assert listing == [path.name], f"unexpected files beside the capsule: {listing}"
    with Memvid.open(path, read_only=True) as mem:
        head = check_ingest_state(mem, acks)
        end = mem.stats().size_bytes
        report = mem.verify()
        assert report.ok, report.findings
    allowed = sorted(heads)
    assert head in allowed, f"the capsule opens at commit {head}, expected one of {allowed}"
    with Memvid.open(path) as mem:
        assert path.stat().st_size == end, "the new writer did not cut the torn tail"
        acks.append(ingest_commit(mem))
    with Memvid.open(path, read_only=True) as mem:
        assert check_ingest_state(mem, acks) == head + 1
        assert mem.verify().ok
    return head


# -- ingest workers forked from a server that has memvid imported --------------------------

_FORKSERVER: list[Any] = []


def _forkserver_context() -> Any:
    """A ``forkserver`` context whose server has imported memvid and this module, so a
    worker starts in milliseconds (a fresh interpreter takes half a second)."""
    if not _FORKSERVER:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["memvid", "durability_support"])
        from multiprocessing import forkserver

        # The server imports this module by name: put its folder on the server's path.
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *([old] if old else [])])
        try:
            forkserver.ensure_running()
        finally:
            if old is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = old
        _FORKSERVER.append(ctx)
    return _FORKSERVER[0]


def ingest_worker(path: str, conn: multiprocessing.connection.Connection, env: dict[str, str]) -> None:
    """The body of a forked ingest worker (``ingest_child.py`` without the interpreter start):
    sends ``("open", seq)``, then ``("ack", seq, ids, commit_id)`` after each commit returned."""
    os.environ.update(env)
    try:
        mem = Memvid.open(path, lock_timeout=10)
    except CapsuleNotFoundError:
        mem = Memvid.create(path)
    with mem:
        conn.send(("open", mem.head.seq))
        while True:
            conn.send(("ack", *ingest_commit(mem)))


class ForkedIngest:
    """An ``ingest_worker`` process; ``next_message`` returns what it sent, ``None`` once it is gone."""

    def __init__(self, path: Path) -> None:
        ctx = _forkserver_context()
        self.conn, child_end = ctx.Pipe(duplex=False)
        env = {k: v for k, v in os.environ.items() if k.startswith("MEMVID_")}
        self.proc = ctx.Process(target=ingest_worker, args=(str(path), child_end, env), daemon=True)
        self.proc.start()
        child_end.close()
        self.acks: list[tuple[int, list[int], str]] = []

    def _record(self, message: tuple[Any, ...]) -> None:
        if message[0] == "ack":
            self.acks.append((message[1], list(message[2]), message[3]))

    def next_message(self, timeout: float) -> tuple[Any, ...] | None:
        if not self.conn.poll(timeout):
            raise AssertionError(f"no message from the ingest worker in {timeout} s")
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            return None
        self._record(message)
        return message

    def kill_and_drain(self) -> tuple[int | None, list[tuple[int, list[int], str]]]:
        """SIGKILL the worker, reap it, and return its exit code and every acknowledgement it sent."""
        self.proc.kill()
        self.proc.join(30)
        while True:
            try:
                self._record(self.conn.recv())
            except EOFError:
                break
        self.conn.close()
        return self.proc.exitcode, self.acks
