"""kill -9 during ingest: no acknowledged commit is lost, no commit is partly visible.

A worker process (``durability_support.ingest_worker``, forked from a server that
has memvid imported, so a trial costs milliseconds, not an interpreter start)
opens a capsule as the writer and loops: put 1 to 20 frames whose content is a
function of (commit seq, index), commit, and only then send an acknowledgement
down a pipe. The parent SIGKILLs it at a random moment: during start-up (before
or while it creates or opens the capsule), right after an acknowledgement (inside
the next commit), or a few milliseconds later. Then:

* the directory holds only the capsule (no sidecar or temporary file);
* the capsule opens read-only; every acknowledged commit is there, with the commit
  id and frame ids the child printed and the right content; every commit 1..head
  holds exactly its frames (none partly visible) and nothing else is visible;
* ``verify()`` is clean;
* a new writer takes the lock, cuts the torn tail, and commits.

Several trials share one capsule, so later trials kill writers of bigger files.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from durability_support import SEED, SOAK, ForkedIngest, check_ingest_state, ingest_commit, write_report

from memvid import Memvid

CAPSULES, TRIALS_PER_CAPSULE = (125, 40) if SOAK else (10, 20)


def _one_trial(path: Path, rng: random.Random, acks: list[tuple[int, list[int], str]], stats: dict[str, Any]) -> None:
    plan = rng.choices(["startup", "after-ack", "after-ack-delay"], weights=[1, 1, 2])[0]
    worker = ForkedIngest(path)
    try:
        if plan == "startup":
            time.sleep(rng.uniform(0.0, 0.03))
        else:
            wanted = rng.randint(1, 3)
            seen = 0
            while seen < wanted:
                message = worker.next_message(timeout=30)
                if message is None:
                    raise AssertionError(f"the ingest worker ended early (exit code {worker.proc.exitcode})")
                seen += message[0] == "ack"
            if plan == "after-ack-delay":
                time.sleep(rng.uniform(0.0, 0.02))
    finally:
        rc, new_acks = worker.kill_and_drain()
    assert rc == -signal.SIGKILL, f"the ingest worker exited with {rc}"
    stats["plans"][plan] = stats["plans"].get(plan, 0) + 1
    stats["acknowledged_commits"] += len(new_acks)
    stats["trials_without_ack"] += not new_acks
    acks.extend(new_acks)

    listing = sorted(p.name for p in path.parent.iterdir())
    assert listing in ([path.name], []), f"unexpected files beside the capsule: {listing}"
    if not path.exists():
        assert not acks, "the capsule vanished after commits were acknowledged"
        stats["killed_before_create"] += 1
        return

    with Memvid.open(path, read_only=True) as mem:
        head = check_ingest_state(mem, acks)
        committed_end = mem.stats().size_bytes
        torn = path.stat().st_size - committed_end
        report = mem.verify()
        assert report.ok, report.findings
    stats["torn_tails"] += torn > 0
    last_acked = max((seq for seq, _, _ in acks), default=0)
    stats["unacknowledged_durable_commits"] += head - last_acked

    with Memvid.open(path, lock_timeout=5) as mem:
        assert path.stat().st_size == committed_end, "the new writer did not cut the torn tail"
        acks.append(ingest_commit(mem))
    stats["max_file_bytes"] = max(stats["max_file_bytes"], path.stat().st_size)


@pytest.mark.slow
@pytest.mark.timeout(14400 if SOAK else 600)
def test_kill9_during_ingest_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    stats: dict[str, Any] = {
        "trials": 0,
        "capsules": CAPSULES,
        "plans": {},
        "acknowledged_commits": 0,
        "trials_without_ack": 0,
        "killed_before_create": 0,
        "torn_tails": 0,
        "unacknowledged_durable_commits": 0,
        "max_file_bytes": 0,
    }
    started = time.monotonic()
    for c in range(CAPSULES):
        folder = tmp_path / f"capsule{c}"
        folder.mkdir()
        path = folder / "ingest.mv2"
        acks: list[tuple[int, list[int], str]] = []
        for t in range(TRIALS_PER_CAPSULE):
            try:
                _one_trial(path, rng, acks, stats)
            except AssertionError as exc:
                raise AssertionError(f"capsule {c}, trial {t}: {exc}") from exc
            stats["trials"] += 1
        with Memvid.open(path, read_only=True) as mem:
            check_ingest_state(mem, acks)
            assert mem.verify().ok
    stats["seconds"] = round(time.monotonic() - started, 1)
    write_report("kill9", stats)
    assert stats["trials"] == CAPSULES * TRIALS_PER_CAPSULE >= (5000 if SOAK else 200)
    # The harness must have exercised something: acknowledged commits to lose.
    assert stats["acknowledged_commits"] >= stats["trials"] // 2
