"""The ingestion pipeline's worker processes, and the order-keeping scheduler that feeds them.

::

    discovery --> window (at most 4 x workers sources, in discovery order) --> the writer
                    |  each source is read by
                    +--> a helper process (up to 4 queued each), or
                    +--> the calling process itself, when every helper is full

``workers=N`` means N processes read: the calling process, which also writes,
and ``N - 1`` helpers, so N workers keep N cores busy without a process
more than cores competing with them. ``workers=1`` reads everything in the
calling process.

A helper is ``python -c`` running :func:`serve`, started once per run. It
imports ``memvid.ingest`` without running ``memvid/__init__.py`` (which imports
pyarrow, numpy and tantivy; nothing a helper needs), so it is ready in tens of
milliseconds, and it does not re-import the caller's ``__main__`` module as
``multiprocessing``'s ``spawn`` would, so ``ingest()`` needs no
``if __name__ == "__main__":`` guard. Messages are pickles with a length
prefix, over the helper's standard input and output; a task is a few hundred
bytes (standard input's bytes are read by the caller, never sent), so writing
one never blocks on a full pipe.

A helper works through its queue in order, so when one dies (killed for
memory, a crash in a parser), the source it was reading is the first of its
queue: that source is reported as failed, the rest of its queue goes back to
the window, and a new helper is started.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from memvid.errors import MemvidError
from memvid.ingest.prepare import Options, Prepared, prepare
from memvid.ingest.sources import Source

__all__ = ["IN_FLIGHT_PER_WORKER", "prepared_in_order", "serve"]

IN_FLIGHT_PER_WORKER: Final = 4
"""Sources taken from discovery and not yet written, per worker: the pipeline's memory bound."""
_QUEUE: Final = 4  # sources queued to one helper, the one it is reading included
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
    _send(results, ("ready", os.getpid()))
    options = _receive(tasks)
    while (task := _receive(tasks)) is not None:
        seq, source = task
        _send(results, (seq, prepare(source, options)))


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
    return pickle.loads(stream.read(size))


# -- the caller's side ------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Slot:
    """A discovered item on its way to the writer."""

    seq: int
    item: Item
    result: Prepared | None = None
    done: bool = False
    helper: _Helper | None = None
    caller_only: bool = False  # standard input: its bytes stay in the calling process


class _Helper:
    """One helper process, the sources queued to it in order, and its undecoded output."""

    def __init__(self, options: bytes) -> None:
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        config = {"path": sys.path, "package": package, "init": os.path.join(package, "__init__.py")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, _json(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.tasks = self.process.stdin.fileno()
        self.results = self.process.stdout.fileno()
        self.queue: collections.deque[_Slot] = collections.deque()
        self.buffer = bytearray()
        self.ready = False
        self.alive = self._write(options)

    def give(self, slot: _Slot) -> bool:
        assert isinstance(slot.item, Source)
        slot.helper = self
        self.queue.append(slot)
        self.alive = self.alive and self._write(pickle.dumps((slot.seq, slot.item), protocol=pickle.HIGHEST_PROTOCOL))
        return self.alive

    def _write(self, body: bytes) -> bool:
        data = memoryview(_HEADER.pack(len(body)) + body)
        try:
            while data:
                data = data[os.write(self.tasks, data) :]
        except OSError:  # the helper is gone; its end of output tells the rest
            return False
        return True

    def read(self) -> list[Any] | None:
        """The messages now complete in the helper's output; ``None`` at its end (the helper died)."""
        data = os.read(self.results, 1 << 20)
        if not data:
            return None
        self.buffer += data
        messages = []
        while len(self.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) < _HEADER.size + size:
                break
            messages.append(pickle.loads(self.buffer[_HEADER.size : _HEADER.size + size]))
            del self.buffer[: _HEADER.size + size]
        return messages

    def death(self) -> str:
        code = self.process.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"killed by {name}" + (", out of memory?" if -code == signal.SIGKILL else "")
        else:
            how = f"exit code {code}"
        return f"the worker process died ({how})"

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


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


class _Helpers:
    """The helper processes of one run; replaces one that dies."""

    def __init__(self, count: int, options: Options) -> None:
        self.count = count
        self.options = pickle.dumps(options, protocol=pickle.HIGHEST_PROTOCOL)
        self.helpers = [_Helper(self.options) for _ in range(count)]
        self.boot_failures = 0

    def assign(self, window: collections.deque[_Slot]) -> None:
        """Queue the window's unassigned sources, in order, to the helpers with room."""
        for slot in window:
            if slot.done or slot.helper is not None or slot.caller_only:
                continue
            helper = min(self.helpers, key=lambda h: len(h.queue))
            if len(helper.queue) >= _QUEUE:
                return
            helper.give(slot)

    def collect(self, *, wait: bool) -> None:
        """Take the results that have come (waiting for one if ``wait``); replace a helper that died."""
        by_fd = {h.results: h for h in self.helpers}
        readable, _, _ = select.select(list(by_fd), [], [], None if wait else 0)
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
                seq, result = message
                slot = helper.queue.popleft()
                assert slot.seq == seq, (slot.seq, seq)
                slot.result, slot.done, slot.helper = result, True, None

    def _replace(self, helper: _Helper) -> None:
        reason = helper.death()
        helper.stop(kill=True)
        if helper.ready and helper.queue:
            culprit = helper.queue.popleft()  # a helper reads its queue in order: the first is the one it was on
            culprit.result, culprit.done, culprit.helper = Prepared(error=reason), True, None
        else:
            self.boot_failures += 1
            if self.boot_failures >= _BOOT_FAILURES:
                raise MemvidError(
                    f"ingest worker processes die as they start ({reason}); see the errors above, "
                    "or pass workers=1 to read in this process"
                )
        for slot in helper.queue:
            slot.helper = None  # back to the window, for the next helper or the caller
        self.helpers[self.helpers.index(helper)] = _Helper(self.options)

    def close(self, *, kill: bool) -> None:
        for helper in self.helpers:
            helper.stop(kill=kill)


def prepared_in_order(
    items: Iterator[Item],
    already_in: Callable[[Source], bool],
    options: Options,
    workers: int,
) -> Generator[tuple[Item, Prepared | None], None, None]:
    """Each item with what it gave, in the order of ``items``: ``None`` for a discovery failure
    or a source ``already_in`` the capsule. At most ``IN_FLIGHT_PER_WORKER * workers`` items are
    taken from ``items`` and not yet given back, whatever the consumer does between two."""
    if workers == 1:
        for item in items:
            skip = isinstance(item, tuple) or already_in(item)
            yield item, None if skip else prepare(item, options)  # type: ignore[arg-type]
        return
    limit = IN_FLIGHT_PER_WORKER * workers
    helpers = _Helpers(workers - 1, options)
    window: collections.deque[_Slot] = collections.deque()
    seq = 0
    exhausted = False
    finished = False
    try:
        while True:
            while not exhausted and len(window) < limit:
                found = next(items, None)
                if found is None:
                    exhausted = True
                    break
                slot = _Slot(seq, found)
                seq += 1
                if isinstance(found, tuple) or already_in(found):
                    slot.done = True
                elif found.data is not None:
                    slot.caller_only = True
                window.append(slot)
            helpers.assign(window)
            while window and window[0].done:
                head = window.popleft()
                yield head.item, head.result
            if not window:
                if exhausted:
                    break
                continue
            helpers.collect(wait=False)
            if window[0].done:
                continue
            # Every helper is full: the caller reads the first source nobody has, rather than wait.
            mine = next((s for s in window if not s.done and s.helper is None), None)
            if mine is not None:
                assert isinstance(mine.item, Source)
                mine.result, mine.done = prepare(mine.item, options), True
                continue
            helpers.collect(wait=True)
        finished = True
    finally:
        helpers.close(kill=not finished)
