"""The ingestion pipeline's worker processes, and the order-keeping scheduler that feeds them.

::

    discovery --> window (at most 128 x workers sources and 16 MiB x workers of them,
                    |    in discovery order) --> the writer
                    |  each source is read by
                    +--> a helper process (up to 64 queued each), or
                    +--> the calling process itself, when every helper is full
                         and reading it would not leave the caller last

``workers=N`` means N processes read: the calling process, which also writes,
and ``N - 1`` helpers, so N workers keep N cores busy without a process
more than cores competing with them. ``workers=1`` reads everything in the
calling process.

The queue depth is a compromise the order of results forces. A helper needs
work queued for the whole of a commit (a tenth of a second or more, during
which the caller hands out nothing), hence 64 sources; but a helper's queue
holds the oldest sources, and results go to the writer in order, so the window
must leave the caller as much again to read ahead, or it would wait on the
helper. At the end a deep queue would leave the caller waiting alone: once
every source is found, a helper is only topped up to its share of what is left.

The caller also writes every result. While sources are still being found, it
reads whenever the next result is not ready (waiting would leave a core idle,
and what it reads ahead the helpers need not). Once every source is found, it
reads only while that leaves it no more to do by the end than a helper: the
seconds each has spent (each result carries its helper's), what the helpers have
queued, what nobody has yet, and what the caller still writes, at a helper's
recent seconds per source (:func:`_caller_reads`); otherwise it waits. A
helper's results pipe is widened to 1 MiB so that it never blocks while the
caller is busy committing.

A helper is ``python -c`` running :func:`serve`, started once per run. It
imports ``memvid.ingest`` without running ``memvid/__init__.py`` (which imports
pyarrow, numpy and tantivy; nothing a helper needs), so it is ready in tens of
milliseconds, and it does not re-import the caller's ``__main__`` module as
``multiprocessing``'s ``spawn`` would, so ``ingest()`` needs no
``if __name__ == "__main__":`` guard. Messages are pickles with a length
prefix, over the helper's standard input and output; the caller writes tasks
without blocking (what a full pipe does not take waits in an outbox), so it
never waits on a helper that is itself waiting for the caller to read its
results. Standard input's bytes are read by the caller, never sent.

A helper works through its queue in order, so when one dies (killed for
memory, a crash in a parser), the source it was reading is the first of its
queue: that source is reported as failed, the rest of its queue goes back to
the window, and a new helper is started.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from memvid.errors import MemvidError
from memvid.ingest.prepare import Options, Prepared, prepare, prepare_and_embed
from memvid.ingest.sources import Source

__all__ = ["IN_FLIGHT_BYTES_PER_WORKER", "IN_FLIGHT_PER_WORKER", "prepared_in_order", "serve"]

IN_FLIGHT_PER_WORKER: Final = 128
IN_FLIGHT_BYTES_PER_WORKER: Final = 16 << 20
"""Sources taken from discovery and not yet written, per worker, at most: so many, and so many bytes
of them (the last one taken may go over). With the uncommitted batch, the pipeline's memory bound."""
_HELPER_QUEUE: Final = 64  # sources queued to one helper: about a commit's time of work
_RESULTS_PIPE: Final = 1 << 20  # bytes a helper may send ahead of the caller reading them
_TAIL_QUEUE: Final = 4  # the least a helper is topped up to once every source is found
_HEADER: Final = struct.Struct("<Q")
_BOOT_FAILURES: Final = 3  # helpers in a row that die before they are ready: something is wrong with starting them

Item = Source | tuple[str, str]

# Runs in the helper: a ``memvid`` package object whose __init__ runs only if something asks it for a name.
_BOOT: Final = """
import importlib.util, json, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's: it stops the helpers itself
config = json.loads(sys.argv[1])
sys.path[:] = config["path"]
spec = importlib.util.spec_from_file_location(
    "memvid", config["init"], submodule_search_locations=[config["package"]]
)
package = importlib.util.module_from_spec(spec)
loaded = []
def __getattr__(name):
    if loaded:
        raise AttributeError(f"module 'memvid' has no attribute {name!r}")
    loaded.append(True)
    spec.loader.exec_module(package)
    return getattr(package, name)
package.__getattr__ = __getattr__
sys.modules["memvid"] = package
from memvid.ingest.workers import serve
serve()
"""


# -- the helper's side -----------------------------------------------------------------------------


def serve() -> None:
    """A helper's loop: options, then ``(seq, source)`` tasks until end of input, each answered
    with ``(seq, prepared)``, in order."""
    tasks = sys.stdin.buffer
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the results
    sys.stdout = sys.stderr
    try:
        _send(results, ("ready", os.getpid()))
        options = _receive(tasks)
        embedders: dict[Any, Any] = {}
        while (task := _receive(tasks)) is not None:
            seq, source = task
            started = time.perf_counter()
            prepared = prepare_and_embed(source, options, embedders)
            _send(results, (seq, prepared, time.perf_counter() - started))
    except BrokenPipeError:  # the caller is gone (it stopped early, or was killed): so are we
        os._exit(0)


def _send(stream: IO[bytes], message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(body)))
    stream.write(body)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    body = stream.read(size)
    return None if len(body) < size else pickle.loads(body)  # cut short: the caller is gone


# -- the caller's side ------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Slot:
    """A discovered item on its way to the writer."""

    seq: int
    item: Item
    size: int = 0
    result: Prepared | None = None
    done: bool = False


def _widen(fd: int) -> None:
    """Give a helper's results pipe room for many results (Linux; elsewhere a no-op). With the
    default 64 KiB a helper blocks after a few documents whenever the caller is busy reading or
    committing, and sits idle: 1 MiB (the unprivileged maximum) kept it busy, 1.90 -> 1.70 s."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is not None:
        with contextlib.suppress(OSError):  # pipe-max-size lowered, or no room left in the user's pipe quota
            fcntl.fcntl(fd, setpipe, _RESULTS_PIPE)


class _Helper:
    """One helper process, the sources queued to it in order, what it has not yet been sent, and
    what it has sent that is not yet a whole message."""

    def __init__(self, options: bytes) -> None:
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        config = {"path": sys.path, "package": package, "init": os.path.join(package, "__init__.py")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, json.dumps(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.tasks = self.process.stdin.fileno()
        os.set_blocking(self.tasks, False)
        self.results = self.process.stdout.fileno()
        _widen(self.results)
        self.queue: collections.deque[_Slot] = collections.deque()
        self.outbox = bytearray()
        self.inbox = bytearray()
        self.ready = False
        self._post(options)

    def give(self, slot: _Slot) -> None:
        self.queue.append(slot)
        self._post(pickle.dumps((slot.seq, slot.item), protocol=pickle.HIGHEST_PROTOCOL))

    def _post(self, body: bytes) -> None:
        self.outbox += _HEADER.pack(len(body))
        self.outbox += body
        self.flush()

    def flush(self) -> None:
        """Write what the pipe takes now, without blocking."""
        try:
            while self.outbox:
                del self.outbox[: os.write(self.tasks, self.outbox)]
        except BlockingIOError:
            pass
        except OSError:  # the helper is gone: the end of its output tells the rest
            self.outbox.clear()

    def read(self) -> list[Any] | None:
        """The messages now complete in the helper's output; ``None`` at its end (the helper died)."""
        data = os.read(self.results, 1 << 20)
        if not data:
            return None
        self.inbox += data
        messages = []
        at = 0
        while len(self.inbox) - at >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.inbox, at)
            if len(self.inbox) - at < _HEADER.size + size:
                break
            messages.append(pickle.loads(memoryview(self.inbox)[at + _HEADER.size : at + _HEADER.size + size]))
            at += _HEADER.size + size
        del self.inbox[:at]
        return messages

    def death(self) -> str:
        """How the helper ended: ``"exit code 1"``, ``"killed by SIGKILL, out of memory?"``..."""
        code = self.process.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"killed by {name}" + (", out of memory?" if -code == signal.SIGKILL else "")
        else:
            how = f"exit code {code}"
        return how

    def stop(self, *, kill: bool) -> None:
        if kill:
            self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Helpers:
    """The helper processes of one run, and the sources no one has yet, in order; replaces a
    helper that dies."""

    def __init__(self, count: int, options: Options, queue: int) -> None:
        self.options = pickle.dumps(options, protocol=pickle.HIGHEST_PROTOCOL)
        self.queue = queue  # how many sources to keep queued to each helper
        self.helpers = [_Helper(self.options) for _ in range(count)]
        self.todo: collections.deque[_Slot] = collections.deque()
        self.boot_failures = 0
        self.work = 0.0  # seconds the helpers spent reading, all together
        self.per_source = 0.0  # a helper's recent seconds per source (a moving average)

    @property
    def ready(self) -> bool:
        """Whether every helper has started (and is working, or can)."""
        return all(h.ready for h in self.helpers)

    def assign(self) -> None:
        """Hand the sources no one has, in order, to the helpers with room."""
        while self.todo:
            helper = min(self.helpers, key=lambda h: len(h.queue))
            if len(helper.queue) >= self.queue:
                return
            helper.give(self.todo.popleft())

    def collect(self, *, wait: bool) -> None:
        """Take the results that have come (waiting for one if ``wait``); replace a helper that died."""
        by_fd = {h.results: h for h in self.helpers}
        sending = {h.tasks: h for h in self.helpers if h.outbox}
        readable, writable, _ = select.select(list(by_fd), list(sending), [], None if wait else 0)
        for fd in writable:
            sending[fd].flush()
        for fd in readable:
            helper = by_fd[fd]
            messages = helper.read()
            if messages is None:
                self._replace(helper)
                continue
            for message in messages:
                if message[0] == "ready":
                    helper.ready = True
                    self.boot_failures = 0
                    continue
                seq, result, seconds = message
                self.work += seconds
                self.per_source = seconds if not self.per_source else 0.9 * self.per_source + 0.1 * seconds
                slot = helper.queue.popleft()
                assert slot.seq == seq, (slot.seq, seq)
                slot.result, slot.done = result, True

    def _replace(self, helper: _Helper) -> None:
        how = helper.death()
        helper.stop(kill=True)
        if helper.ready and helper.queue:
            culprit = helper.queue.popleft()  # a helper reads its queue in order: the first is the one it was on
            culprit.result, culprit.done = Prepared(error=f"the worker process died ({how})"), True
        self.todo.extendleft(reversed(helper.queue))  # they come before every source not yet handed out
        if not helper.ready:
            self.boot_failures += 1
            if self.boot_failures >= _BOOT_FAILURES:
                raise MemvidError(
                    f"ingest worker processes die as they start ({how}); see the errors above, "
                    "or pass workers=1 to read in this process"
                )
        self.helpers[self.helpers.index(helper)] = _Helper(self.options)

    def close(self, *, kill: bool) -> None:
        for helper in self.helpers:
            helper.stop(kill=kill)


def _caller_reads(helpers: _Helpers, work: float, to_write: float, n: int) -> bool:
    """Once every source is found: whether the caller should read the next source nobody has.

    By the end, the caller will have spent ``work`` seconds, plus ``to_write`` (writing what is
    in flight), plus what it still reads (``x``); the ``n`` helpers, what they spent, what they
    have queued and the rest of what nobody has. Each unread source is taken to cost a helper's
    recent seconds per source. The two come out even when ``x`` is
    ``(helpers + queued + unassigned - n * (work + to_write)) / (n + 1)``; the caller reads the
    next source while that leaves at least half a source for it. (Before every source is found
    there is more to come, and the caller reads whenever it would otherwise wait.)"""
    per = helpers.per_source
    queued = sum(len(h.queue) for h in helpers.helpers) * per
    unassigned = len(helpers.todo) * per
    share = (helpers.work + queued + unassigned - n * (work + to_write)) / (n + 1)
    return share >= per / 2


def prepared_in_order(
    items: Iterator[Item],
    already_in: Callable[[Source], bool],
    options: Options,
    workers: int,
) -> Generator[tuple[Item, Prepared | None], None, None]:
    """Each item with what it gave, in the order of ``items``: ``None`` for a discovery failure
    or a source ``already_in`` the capsule. Whatever the consumer does between two, at most
    ``IN_FLIGHT_PER_WORKER * workers`` items are taken from ``items`` and not yet given back, and
    the sizes of all but the last taken add up to less than ``IN_FLIGHT_BYTES_PER_WORKER * workers``."""
    if workers == 1 or not sys.executable:  # no interpreter to start helpers with (an embedded Python)
        for item in items:
            skip = isinstance(item, tuple) or already_in(item)
            yield item, None if skip else prepare(item, options)  # type: ignore[arg-type]
        return
    limit = IN_FLIGHT_PER_WORKER * workers
    limit_bytes = IN_FLIGHT_BYTES_PER_WORKER * workers
    helpers = _Helpers(workers - 1, options, _HELPER_QUEUE)
    window: collections.deque[_Slot] = collections.deque()
    mine: collections.deque[_Slot] = collections.deque()  # standard input: its bytes stay here
    in_flight_bytes = 0
    work = 0.0  # seconds the caller spent reading and writing
    writing, written = 0.0, 0  # of which writing, and how many results
    embedders: dict[Any, Any] = {}  # the caller's own copy of the embedder, if it embeds what it reads
    seq = 0
    exhausted = False
    finished = False
    try:
        while True:
            while not exhausted and len(window) < limit and (in_flight_bytes < limit_bytes or not window):
                found = next(items, None)
                if found is None:
                    exhausted = True
                    break
                slot = _Slot(seq, found)
                seq += 1
                if isinstance(found, tuple) or already_in(found):
                    slot.done = True
                else:
                    slot.size = found.size
                    in_flight_bytes += found.size
                    (mine if found.data is not None else helpers.todo).append(slot)
                window.append(slot)
            if exhausted:
                left = len(mine) + len(helpers.todo) + sum(len(h.queue) for h in helpers.helpers)
                helpers.queue = min(_HELPER_QUEUE, max(_TAIL_QUEUE, left // workers))
            helpers.assign()
            while window and window[0].done:
                head = window.popleft()
                in_flight_bytes -= head.size
                started = time.perf_counter()
                yield head.item, head.result
                if helpers.ready:
                    spent = time.perf_counter() - started  # the writer's share of the caller's time
                    work += spent
                    writing += spent
                    written += 1
            if not window:
                if exhausted:
                    break
                continue
            helpers.collect(wait=False)
            if window[0].done:
                continue
            # The head is with a helper: the caller reads the first source nobody has rather than
            # wait, unless that would leave it more to do than a helper by the end (see _caller_reads).
            if mine or (
                helpers.todo
                and (
                    not helpers.ready
                    or not exhausted
                    or _caller_reads(helpers, work, len(window) * writing / max(1, written), workers - 1)
                )
            ):
                slot = (mine or helpers.todo).popleft()
                assert isinstance(slot.item, Source)
                started = time.perf_counter()
                slot.result, slot.done = prepare_and_embed(slot.item, options, embedders), True
                if helpers.ready:  # what the caller does while helpers start is not weighed against them
                    work += time.perf_counter() - started
                continue
            helpers.collect(wait=True)
        finished = True
    finally:
        helpers.close(kill=not finished)
