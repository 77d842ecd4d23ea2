"""Child process of the readers-while-writing test. Run with ``sys.executable``::

    python reader_child.py CAPSULE pread LAST_SEQ   # Memvid.open(read_only=True), again and again
    python reader_child.py CAPSULE mmap LAST_SEQ    # the same over memory maps of the file

Reads until it has seen commit LAST_SEQ: each read must be a committed prefix
(``check_ingest_state``). ``pread`` also keeps one handle and ``refresh()``es it.
``mmap`` maps the whole file as it is at each read, opens a capsule on the map
(``Memvid.from_storage``), and keeps every map and handle open, re-reading every
earlier one after each new read: the writer only appends, so bytes a reader
mapped never change or vanish (a truncation under a map would be a SIGBUS).
Prints a JSON summary.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
import time

from durability_support import check_ingest_state

from memvid import Memvid, ReadOnlyError


class MmapStorage:
    """A read-only ``Storage`` over a memory map of a file."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            self.map = mmap.mmap(fd, os.fstat(fd).st_size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)

    @property
    def writable(self) -> bool:
        return False

    def size(self) -> int:
        return len(self.map)

    def read(self, offset: int, length: int) -> bytes:
        return self.map[offset : offset + length]

    def write(self, offset: int, data: bytes) -> None:
        raise ReadOnlyError("read-only map")

    def sync(self) -> None:
        raise ReadOnlyError("read-only map")

    def truncate(self, length: int) -> None:
        raise ReadOnlyError("read-only map")

    def close(self) -> None:
        pass  # the map stays alive for re-reads until the process ends


def main() -> None:
    path, mode, last = sys.argv[1], sys.argv[2], int(sys.argv[3])
    heads: list[int] = []
    rereads = 0
    deadline = time.monotonic() + 300
    kept: list[tuple[Memvid, int]] = []
    steady = Memvid.open(path, read_only=True) if mode == "pread" else None
    while (not heads or heads[-1] < last) and time.monotonic() < deadline:
        if mode == "pread":
            with Memvid.open(path, read_only=True) as mem:
                heads.append(check_ingest_state(mem))
            assert steady is not None
            steady.refresh()
            assert check_ingest_state(steady) >= heads[0]
        else:
            mem = Memvid.from_storage(MmapStorage(path), read_only=True)
            heads.append(check_ingest_state(mem))
            kept.append((mem, heads[-1]))
            for old, seq in kept[-20:]:  # older snapshots still read exactly as they were
                assert check_ingest_state(old) == seq
                rereads += 1
    if steady is not None:
        steady.close()
    summary = {"mode": mode, "reads": len(heads), "distinct_heads": len(set(heads)), "last": heads[-1]}
    sys.stdout.write(json.dumps({**summary, "rereads": rereads, "monotonic": heads == sorted(heads)}) + "\n")


if __name__ == "__main__":
    main()
