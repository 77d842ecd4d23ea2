"""Child process of the failpoint tests; ``MEMVID_FAILPOINTS`` arrives in its environment.

Run with ``sys.executable``::

    python failpoint_child.py commit CAPSULE N     # open as the writer, make N ingest commits
    python failpoint_child.py retry CAPSULE        # one commit; if it raises, say so and commit again
    python failpoint_child.py create CAPSULE       # create the capsule, then one ingest commit
    python failpoint_child.py recover SOURCE DEST  # memvid.recover(SOURCE, DEST)

Prints ``open SEQ`` once the writer is open and ``ack SEQ IDS COMMIT_ID`` after each
commit returned (as ``ingest_child.py`` does), and ``done`` at the end. ``retry``
prints ``error NAME ERRNO`` when its commit raises an ``OSError``, then
``retry ok`` or ``retry NAME`` for a second ``commit()`` of the same pending frames.
"""

from __future__ import annotations

import sys
from pathlib import Path

from durability_support import ingest_commit, ingest_put

import memvid
from memvid import Memvid


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _ingest(mem: Memvid, commits: int) -> None:
    _say(f"open {mem.head.seq}")
    for _ in range(commits):
        seq, ids, commit_id = ingest_commit(mem)
        _say(f"ack {seq} {','.join(map(str, ids))} {commit_id}")


def main() -> None:
    action, path = sys.argv[1], Path(sys.argv[2])
    if action == "commit":
        with Memvid.open(path) as mem:
            _ingest(mem, int(sys.argv[3]))
    elif action == "retry":
        mem = Memvid.open(path)
        _say(f"open {mem.head.seq}")
        put = ingest_put(mem)
        try:
            seq, ids, commit_id = ingest_commit(mem, put)
            _say(f"ack {seq} {','.join(map(str, ids))} {commit_id}")
        except OSError as exc:
            _say(f"error {type(exc).__name__} {exc.errno}")
            try:
                mem.commit()
                _say("retry ok")
            except OSError as again:
                _say(f"retry {type(again).__name__}")
        mem.close(commit=False)
    elif action == "create":
        with Memvid.create(path) as mem:
            _ingest(mem, 1)
    elif action == "recover":
        memvid.recover(path, Path(sys.argv[3]))
    else:
        raise SystemExit(f"unknown action {action}")
    _say("done")


if __name__ == "__main__":
    main()
