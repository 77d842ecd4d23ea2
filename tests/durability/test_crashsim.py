"""Power-loss simulation: a crash-simulating storage (``crashsim.py``, SQLite's test6.c model).

For each seed, a writer opens the capsule on a :class:`~crashsim.CrashStorage`
and makes one to four ingest commits; the power fails during a random sync (the
open's own truncate and slot syncs included), and each write not yet synced is
applied, dropped or garbled, sector by sector. The disk image that results is
then opened read-only: every acknowledged commit (``commit()`` returned) must be
there, no commit partly visible, ``verify()`` clean. Then the next round opens
that image as the writer again (it cuts the torn tail), so crashes pile up: one
to three rounds per seed.

The harness must be able to fail: with syncs that make nothing durable it must
report lost commits.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from crashsim import Crash, CrashStorage
from durability_support import SEED, SOAK, check_ingest_state, ingest_commit, ingest_put, write_report

from memvid import Memvid, MemvidError
from memvid.storage import MemoryStorage

SEEDS = 10_000 if SOAK else 500
SENSITIVITY_SEEDS = 200 if SOAK else 60


def _check(image: bytes, acks: list[tuple[int, list[int], str]], stats: Counter[str]) -> str | None:
    """None when the image opens with every acknowledged commit and nothing partial; else why not.
    A torn header slot is fine (slots are unsynced hints; ``verify()`` warns about them)."""
    try:
        mem = Memvid.from_storage(MemoryStorage(image, writable=False), read_only=True)
    except MemvidError as exc:
        return f"unopenable: {exc!r}"
    try:
        check_ingest_state(mem, acks)
        report = mem.verify()
        errors = [f for f in report.findings if f.level != "warning"]
        if errors:
            return f"verify: {errors}"
        stats["torn_slot_warnings"] += len(report.findings)
    except (AssertionError, MemvidError) as exc:
        return f"wrong: {exc}"
    finally:
        mem.close()
    return None


def _run_seed(seed: int, genesis: bytes, stats: Counter[str], *, sync_enabled: bool = True) -> str | None:
    rng = random.Random(seed)
    image = genesis
    acks: list[tuple[int, list[int], str]] = []
    for _ in range(rng.randint(1, 3)):
        commits = rng.randint(1, 4)
        storage = CrashStorage(image, crash_at=rng.randint(1, 2 * commits + 2), sync_enabled=sync_enabled)
        mem: Memvid | None = None
        try:
            mem = Memvid.from_storage(storage)
            for _ in range(commits):
                put = ingest_put(mem)
                acks.append(ingest_commit(mem, put))
                stats["acknowledged_commits"] += 1
        except Crash:
            image, counts = storage.crash_image(rng)
            stats["crashes"] += 1
            stats["crashes_in_open"] += mem is None
            stats.update({f"pieces_{k}": v for k, v in counts.items()})
        else:
            image = storage.clean_image()
            stats["clean_rounds"] += 1
        finally:
            if mem is not None:
                mem.close(commit=False)
        stats["syncs"] += storage.syncs
        problem = _check(image, acks, stats)
        if problem is not None:
            return problem
    stats["seeds"] += 1
    return None


@pytest.fixture(scope="module")
def genesis(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("genesis") / "g.mv2"
    Memvid.create(path).close()
    return path.read_bytes()


@pytest.mark.slow
@pytest.mark.timeout(7200 if SOAK else 600)
def test_power_loss_loses_no_synced_commit(genesis: bytes) -> None:
    stats: Counter[str] = Counter()
    started = time.monotonic()
    failures = []
    for i in range(SEEDS):
        problem = _run_seed(SEED + i, genesis, stats)
        if problem is not None:
            failures.append((SEED + i, problem))
    figures: dict[str, Any] = {**stats, "failures": len(failures), "seconds": round(time.monotonic() - started, 1)}
    write_report("crashsim", figures)
    assert not failures, f"{len(failures)} seeds lost or damaged commits, first: {failures[:3]}"
    assert stats["seeds"] == SEEDS
    # The harness exercised something: crashes with acknowledged commits, torn and garbled writes.
    assert stats["crashes"] >= SEEDS // 2
    assert stats["pieces_garbled"] > 0 and stats["pieces_dropped"] > 0
    assert stats["acknowledged_commits"] >= SEEDS


def test_harness_detects_loss_when_sync_does_nothing(genesis: bytes) -> None:
    """The same workload with syncs that make nothing durable must lose acknowledged commits."""
    stats: Counter[str] = Counter()
    detected = [_run_seed(SEED + i, genesis, stats, sync_enabled=False) for i in range(SENSITIVITY_SEEDS)]
    found = [p for p in detected if p is not None]
    write_report("crashsim_sensitivity", {"seeds": SENSITIVITY_SEEDS, "losses_detected": len(found)})
    assert len(found) >= SENSITIVITY_SEEDS // 4, f"only {len(found)} of {SENSITIVITY_SEEDS} seeds lost a commit"


def test_crash_image_model() -> None:
    """The storage itself: synced bytes survive, pending writes are cut at sector boundaries."""
    storage = CrashStorage(b"", crash_at=2)
    storage.write(0, b"a" * 1000)
    storage.sync()
    storage.write(1000, b"b" * 1100)  # pieces [1000,1024) [1024,1536) [1536,2048) [2048,2100)
    with pytest.raises(Crash):
        storage.sync()
    with pytest.raises(Crash):
        storage.read(0, 1)
    seen = set()
    for seed in range(200):
        image, counts = storage.crash_image(random.Random(seed))
        assert image[:1000] == b"a" * 1000
        assert sum(counts.values()) == 4
        seen.update(k for k, v in counts.items() if v)
        applied = [image[a:b] == b"b" * (b - a) for a, b in ((1000, 1024), (1024, 1536), (1536, 2048))]
        assert len(image) <= 2100
        assert counts["applied"] >= sum(applied)
    assert seen == {"applied", "dropped", "garbled"}


def test_model_uses_real_files_too(tmp_path: Path, genesis: bytes) -> None:
    """A crash image is a capsule file like any other: memvid.open reads it."""
    stats: Counter[str] = Counter()
    rng = random.Random(SEED)
    storage = CrashStorage(genesis, crash_at=4)
    mem = Memvid.from_storage(storage)
    acks = [ingest_commit(mem)]
    with pytest.raises(Crash):
        ingest_commit(mem)
    mem.close(commit=False)
    image, _ = storage.crash_image(rng)
    path = tmp_path / "crashed.mv2"
    path.write_bytes(image)
    with Memvid.open(path) as writer:
        assert check_ingest_state(writer, acks) in (1, 2)
        stats["ok"] += 1
    assert stats["ok"] == 1
