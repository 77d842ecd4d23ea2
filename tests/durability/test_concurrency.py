"""One writer, many readers.

* A second writer on the same path gets ``CapsuleLockedError``: in the same process
  (also after waiting ``lock_timeout``), from another process, and when several
  processes race for the lock exactly one wins.
* After the process holding the lock is SIGKILLed, a new writer holds the lock
  within 100 ms of the kill (``Memvid.open(path, lock_timeout=...)``).
* One writer appending while four reader processes read, one of them over memory
  maps of the file that it keeps and re-reads (``reader_child.py``): no error, no
  SIGBUS, every read a committed prefix, and every old map reads as it did.
* A read-only handle opened while another process commits sees a committed prefix:
  every frame of commits 1..its head, nothing of later ones; it keeps seeing exactly
  that while the writer goes on, and ``refresh()`` moves it to the latest commit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from durability_support import SOAK, Child, check_ingest_state, ingest_commit, parse_acks, write_report

import memvid
from memvid import CapsuleLockedError, Memvid

LOCK_KILLS = 100 if SOAK else 5
RACES, RACERS = (2000, 6) if SOAK else (100, 4)
READER_COMMITS = 300 if SOAK else 40
MMAP_COMMITS = 2000 if SOAK else 150  # about 10 frames each: 20,000 frames under soak


def _ingest_capsule(path: Path, commits: int) -> None:
    with Memvid.create(path) as mem:
        for _ in range(commits):
            ingest_commit(mem)


def test_second_writer_in_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.mv2"
    _ingest_capsule(path, 1)
    with Memvid.open(path) as writer:
        with pytest.raises(CapsuleLockedError):
            Memvid.open(path)
        started = time.monotonic()
        with pytest.raises(CapsuleLockedError):
            Memvid.open(path, lock_timeout=0.2)
        assert time.monotonic() - started >= 0.2
        with Memvid.open(path, read_only=True) as reader:  # readers take no lock
            assert reader.head.seq == 1
        ingest_commit(writer)
        # Closing other descriptors of the file in this process (a read-only handle,
        # recover() reading it) must not drop the writer's lock (flock, not lockf).
        memvid.recover(path, tmp_path / "copy.mv2")
        with pytest.raises(CapsuleLockedError):
            Memvid.open(path)
    with Memvid.open(path) as writer:
        assert writer.head.seq == 2


def test_second_writer_from_another_process_and_lock_after_kill(tmp_path: Path) -> None:
    path = tmp_path / "c.mv2"
    _ingest_capsule(path, 1)
    latencies = []
    for _ in range(LOCK_KILLS):
        with Child("lock_child.py", path, "hold", stdin=True) as holder:
            assert holder.next_line(timeout=30) == "locked", holder.stderr
            with pytest.raises(CapsuleLockedError):
                Memvid.open(path)
            with pytest.raises(CapsuleLockedError):
                Memvid.open(path, lock_timeout=0.05)
            holder.kill()
            killed = time.monotonic()
            with Memvid.open(path, lock_timeout=5) as writer:
                latencies.append(time.monotonic() - killed)
                seq = ingest_commit(writer)[0]
            assert holder.finish() == -signal.SIGKILL
        with Memvid.open(path, read_only=True) as mem:
            assert check_ingest_state(mem) == seq
    write_report(
        "lock_after_kill",
        {
            "kills": len(latencies),
            "max_ms": round(max(latencies) * 1e3, 2),
            "mean_ms": round(sum(latencies) / len(latencies) * 1e3, 2),
        },
    )
    assert max(latencies) < 0.1, f"lock free again after {max(latencies) * 1e3:.1f} ms"


@pytest.mark.parametrize("holder", ["same process", "other process"])
def test_overwriting_create_refuses_a_locked_capsule(tmp_path: Path, holder: str) -> None:
    path = tmp_path / "c.mv2"
    _ingest_capsule(path, 1)
    if holder == "other process":
        with Child("lock_child.py", path, "hold", stdin=True) as child:
            assert child.next_line(timeout=30) == "locked", child.stderr
            with pytest.raises(CapsuleLockedError):
                Memvid.create(path, overwrite=True).close()
        return
    with Memvid.open(path) as writer:
        with pytest.raises(CapsuleLockedError):
            Memvid.create(path, overwrite=True).close()
        seq = ingest_commit(writer)[0]  # acknowledged...
    with Memvid.open(path, read_only=True) as mem:
        assert check_ingest_state(mem) == seq  # ...so it must be there


def test_racing_writers_exactly_one_wins(tmp_path: Path) -> None:
    """RACERS processes try for the writer lock at once, RACES times; each race has
    exactly one winner, who then lets go. The racers live across races (starting a
    process per racer per race would cost a second a race), and the order in which
    they are told to go is shuffled, so no racer is always the first to try."""
    path = tmp_path / "c.mv2"
    _ingest_capsule(path, 1)
    racers = [Child("lock_child.py", path, "races", stdin=True) for _ in range(RACERS)]
    wins = [0] * RACERS
    order = list(range(RACERS))
    rng = random.Random(RACES)
    try:
        for _ in range(RACES):
            rng.shuffle(order)
            for i in order:
                racers[i].send("go\n")
            answers = [racer.next_line(timeout=30) for racer in racers]
            assert sorted(answers, key=str) == ["locked"] * (RACERS - 1) + ["won"], (
                answers,
                [r.stderr for r in racers],
            )
            winner = answers.index("won")
            wins[winner] += 1
            racers[winner].send("release\n")
            assert racers[winner].next_line(timeout=30) == "released"
    finally:
        codes = [racer.finish() for racer in racers]
    assert codes == [0] * RACERS, [r.stderr for r in racers]
    assert sum(wins) == RACES
    write_report("racing_writers", {"races": RACES, "racers": RACERS, "wins_per_racer": wins})


def test_reader_during_commits_sees_a_committed_prefix(tmp_path: Path) -> None:
    path = tmp_path / "c.mv2"
    _ingest_capsule(path, 1)
    heads: set[int] = set()
    reads = 0
    with (
        Memvid.open(path, read_only=True) as early,
        Child("ingest_child.py", path, "--commits", READER_COMMITS, "--pause", 0.002) as writer,
    ):
        assert writer.next_line(timeout=30) == "open 1", writer.stderr
        early_frames = [f.id for f in early.frames()]
        while writer.proc.poll() is None:
            with Memvid.open(path, read_only=True) as reader:
                heads.add(check_ingest_state(reader))
                reads += 1
        assert writer.finish() == 0, writer.stderr
        acks = parse_acks(writer.stdout)
        assert len(acks) == READER_COMMITS
        # The early handle still reads the commit it opened, untouched by the appends.
        assert early.head.seq == 1
        assert [f.id for f in early.frames()] == early_frames
        assert check_ingest_state(early) == 1
        assert early.refresh()
        assert check_ingest_state(early, acks) == 1 + READER_COMMITS
        assert early.verify().ok
    write_report("reader_during_commits", {"reads": reads, "distinct_heads": len(heads), "commits": READER_COMMITS})
    assert len(heads) >= 3, f"the reads did not overlap the commits: heads seen {sorted(heads)}"
    assert os.path.getsize(path) > 0


def test_four_readers_one_over_mmap_while_a_writer_appends(tmp_path: Path) -> None:
    path = tmp_path / "c.mv2"
    _ingest_capsule(path, 1)
    readers = [Child("reader_child.py", path, mode, MMAP_COMMITS + 1) for mode in ("pread", "pread", "pread", "mmap")]
    try:
        with Child("ingest_child.py", path, "--commits", MMAP_COMMITS, "--pause", 0.001) as writer:
            assert writer.finish(timeout=600) == 0, writer.stderr
            assert len(parse_acks(writer.stdout)) == MMAP_COMMITS
        codes = [reader.finish(timeout=600) for reader in readers]
    finally:
        for reader in readers:
            if reader.proc.poll() is None:
                reader.proc.kill()
                reader.finish()
    assert codes == [0] * 4, [(code, reader.stderr[-2000:]) for code, reader in zip(codes, readers, strict=True)]
    summaries = [json.loads(reader.stdout.splitlines()[-1]) for reader in readers]
    for summary in summaries:
        assert summary["last"] == MMAP_COMMITS + 1 and summary["monotonic"], summary
        assert summary["distinct_heads"] >= 2, f"a reader never overlapped the writer: {summary}"
    with Memvid.open(path, read_only=True) as mem:
        assert check_ingest_state(mem) == MMAP_COMMITS + 1
        frames = len(mem)
    write_report(
        "readers_and_mmap",
        {"commits": MMAP_COMMITS, "frames": frames, "readers": summaries, "errors": 0, "sigbus": 0},
    )
