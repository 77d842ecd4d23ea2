"""Child process of the lock tests. Run with ``sys.executable``::

python lock_child.py CAPSULE hold   # take the writer lock, print "locked", hold it until stdin closes
python lock_child.py CAPSULE race   # wait for a line on stdin, then try once: print "won" (and hold
                                    # the lock until stdin closes) or "locked"
python lock_child.py CAPSULE races  # many races in one process: on each "go" line try once and print
                                    # "won" or "locked"; a winner holds the lock until a "release"
                                    # line, then closes and prints "released"
"""

from __future__ import annotations

import sys

from memvid import CapsuleLockedError, Memvid


def _say(word: str) -> None:
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def main() -> None:
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "races":
        _races(path)
        return
    if mode == "race":
        sys.stdin.readline()
        try:
            mem = Memvid.open(path, lock_timeout=0)
        except CapsuleLockedError:
            _say("locked")
            return
    else:
        mem = Memvid.open(path, lock_timeout=10)
    with mem:
        _say("won" if mode == "race" else "locked")
        sys.stdin.read()  # hold the lock until the parent closes our stdin (or kills us)


def _races(path: str) -> None:
    mem: Memvid | None = None
    for line in sys.stdin:
        if line.strip() == "go":
            try:
                mem = Memvid.open(path, lock_timeout=0)
            except CapsuleLockedError:
                _say("locked")
            else:
                _say("won")
        elif line.strip() == "release" and mem is not None:
            mem.close()
            mem = None
            _say("released")


if __name__ == "__main__":
    main()
