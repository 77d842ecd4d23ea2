"""Child process of the kill -9, sidecar and reader tests: ingest commits and acknowledge each.

Run with ``sys.executable``::

    python ingest_child.py CAPSULE [--commits N] [--pause SECONDS]

Opens the capsule as the writer (creating it when it does not exist), then loops:
put the deterministic frames of the next commit (``durability_support.ingest_commit``),
commit, and only after ``commit()`` returned print ``ack SEQ ID,ID,... COMMIT_ID``
and flush. ``--commits 0`` (the default) loops until killed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from durability_support import ingest_commit

from memvid import CapsuleNotFoundError, Memvid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--commits", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    try:
        mem = Memvid.open(args.path, lock_timeout=10)
    except CapsuleNotFoundError:
        mem = Memvid.create(args.path)
    with mem:
        sys.stdout.write(f"open {mem.head.seq}\n")
        sys.stdout.flush()
        done = 0
        while args.commits == 0 or done < args.commits:
            seq, ids, commit_id = ingest_commit(mem)
            sys.stdout.write(f"ack {seq} {','.join(map(str, ids))} {commit_id}\n")
            sys.stdout.flush()
            done += 1
            if args.pause:
                time.sleep(args.pause)


if __name__ == "__main__":
    main()
