"""System-call fault injection with ``strace -e inject=...:when=k``, for every k.

A child (``failpoint_child.py``) opens a capsule holding two commits and makes a
third. strace makes its k-th ``pwrite64`` or ``fdatasync`` (the only ones it makes
are to the capsule: three writes and two syncs per commit) deliver SIGKILL, fail
with ``EIO``, or fail with ``ENOSPC``, for every k that commit reaches; a second
child creates a capsule and commits once, with SIGKILL at every ``pwrite64``,
``fdatasync``, ``linkat`` and ``fsync`` (the directory sync) of the create too.

* SIGKILL: the capsule opens at the commit before or the one killed, with every
  acknowledged commit and none partly; a killed create leaves no file at all or a
  whole one.
* EIO on fdatasync, ENOSPC on pwrite64: the commit raises ``DurabilityError``, the
  handle refuses to commit again (no fsync is retried), and reopening shows the
  last durable commit (or the failed one, whole: a commit that raised may still
  have reached the disk).

Skipped where strace is missing or cannot trace (no ptrace permission).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from durability_support import (
    HERE,
    check_after_crash,
    check_ingest_state,
    make_ingest_capsule,
    parse_acks,
    write_report,
)

from memvid import Memvid

STRACE = shutil.which("strace")


def _strace_works() -> bool:
    if STRACE is None:
        return False
    proc = subprocess.run([STRACE, "-qq", "-o", "/dev/null", "-e", "trace=getpid", "true"], capture_output=True)
    return proc.returncode == 0


pytestmark = pytest.mark.skipif(not _strace_works(), reason="strace is missing or cannot trace here")

_FIGURES: Counter[str] = Counter()


def _run(inject: str, *args: object) -> tuple[int, str, str]:
    syscall = inject.split(":")[0]
    assert STRACE is not None
    proc = subprocess.run(
        [
            *(STRACE, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}", "-e", f"inject={inject}"),
            *(sys.executable, str(HERE / "failpoint_child.py"), *map(str, args)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    _FIGURES["runs"] += 1
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module", autouse=True)
def _report() -> object:
    yield
    write_report("strace", dict(_FIGURES))


def _template(tmp_path: Path) -> tuple[bytes, list[tuple[int, list[int], str]]]:
    template = tmp_path / "template.mv2"
    acks = make_ingest_capsule(template, 2)
    return template.read_bytes(), acks


def _fresh(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "c.mv2"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("syscall", ["pwrite64", "fdatasync"])
def test_sigkill_at_every_syscall_of_one_commit(tmp_path: Path, syscall: str) -> None:
    data, acks0 = _template(tmp_path)
    heads: Counter[int] = Counter()
    for k in range(1, 50):
        path = _fresh(tmp_path, f"k{k}", data)
        rc, out, err = _run(f"{syscall}:signal=SIGKILL:when={k}", "commit", path, 1)
        acks = [*acks0, *parse_acks(out)]
        if rc == 0:
            assert out.endswith("done\n"), err
            break
        assert rc == -signal.SIGKILL, (rc, err)
        heads[check_after_crash(path, acks, [2, 3])] += 1
        _FIGURES[f"sigkill_{syscall}"] += 1
    want = {"pwrite64": 3, "fdatasync": 2}[syscall]
    assert k - 1 == want, f"one commit made {k - 1} {syscall} calls, expected {want}"
    assert heads[2] >= 1  # a kill before the manifest was written loses the unacknowledged commit


@pytest.mark.parametrize(("syscall", "code"), [("fdatasync", "EIO"), ("pwrite64", "ENOSPC"), ("pwrite64", "EIO")])
def test_failed_syscall_poisons_the_handle(tmp_path: Path, syscall: str, code: str) -> None:
    data, acks0 = _template(tmp_path)
    for k in range(1, 50):
        path = _fresh(tmp_path, f"k{k}", data)
        rc, out, err = _run(f"{syscall}:error={code}:when={k}", "retry", path)
        assert rc == 0, err
        acks = [*acks0, *parse_acks(out)]
        if "error" not in out:
            assert len(acks) == 3 and out.endswith("done\n"), out
            break
        lines = out.splitlines()
        assert f"error DurabilityError {getattr(errno, code)}" in lines, out
        assert "retry DurabilityError" in lines, f"the poisoned handle committed again: {out}"
        check_after_crash(path, acks, [2, 3])
        _FIGURES[f"{code.lower()}_{syscall}"] += 1
    assert k - 1 == {"pwrite64": 3, "fdatasync": 2}[syscall]


@pytest.mark.parametrize("syscall", ["pwrite64", "fdatasync", "linkat", "fsync"])
def test_sigkill_at_every_syscall_of_create_and_first_commit(tmp_path: Path, syscall: str) -> None:
    outcomes: Counter[str] = Counter()
    for k in range(1, 50):
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        path = folder / "c.mv2"
        rc, out, err = _run(f"{syscall}:signal=SIGKILL:when={k}", "create", path)
        acks = parse_acks(out)
        if rc == 0:
            break
        assert rc == -signal.SIGKILL, (rc, err)
        _FIGURES[f"create_sigkill_{syscall}"] += 1
        if not path.exists():
            assert os.listdir(folder) == [], "a killed create left a stray file"
            assert acks == []
            outcomes["no file"] += 1
            continue
        with Memvid.open(path, read_only=True) as mem:
            outcomes[f"opens at {check_ingest_state(mem, acks)}"] += 1
        check_after_crash(path, acks, [0, 1])
    assert k > 1, f"create and one commit made no {syscall} call"
    assert sum(outcomes.values()) == k - 1
    if syscall in ("pwrite64", "linkat"):  # killed while the file had no name yet
        assert outcomes["no file"] >= 1, outcomes
