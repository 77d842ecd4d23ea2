"""Deterministic crash points: every named failpoint (``memvid/_failpoints.py``), with
SIGKILL and with an ``OSError``.

*SIGKILL* (a child process run with ``MEMVID_FAILPOINTS=<site>=kill``): the child
dies exactly there. The capsule then opens read-only at the commit before the
killed one, or at the killed one when the kill came after its manifest and
trailer were written (a process kill keeps what reached the page cache); every
acknowledged commit is there, none partly; ``verify()`` is clean; a new writer
cuts the torn tail and commits. A kill inside ``create`` leaves no file at all; one
inside ``recover`` leaves the source untouched and no destination. The
``storage.*`` sites are taken at every k: the child is killed at its k-th write,
fdatasync or truncate, for every k the opening of a capsule with a torn tail and
one commit reach.

*OSError* (in this process, ``configure("<site>=oserror")``): the commit raises an
``OSError`` (a ``DurabilityError`` where it comes from the storage), and the
handle either refuses every later write or commits correctly; either way a
reader opened before the retry still reads its commit intact, and reopening
shows the last durable commit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from durability_support import (
    HERE,
    check_after_crash,
    check_ingest_state,
    compacting_seqs,
    ingest_commit,
    ingest_put,
    make_ingest_capsule,
    parse_acks,
    write_report,
)

from memvid import DurabilityError, Memvid, MemvidError, _failpoints

COMMIT_SITES = (
    "commit.before_data_write",
    "commit.after_data_write",
    "commit.after_data_sync",
    "commit.after_manifest_write",
    "commit.after_manifest_sync",
    "commit.after_slot_write",
)
VISIBLE_AFTER_KILL = {"commit.after_manifest_write", "commit.after_manifest_sync", "commit.after_slot_write"}
"""Sites after which the killed commit is whole in the page cache, so it survives a process kill."""
COMMIT_CASES = [
    pytest.param(site, compacting, id=f"{site}-{'compacting' if compacting else 'plain'}")
    for site in (*COMMIT_SITES, "compact.after_merge")
    for compacting in (False, True)
    if compacting or site != "compact.after_merge"  # a plain commit does not compact
]

_FIGURES: dict[str, Any] = {"kill_trials": 0, "oserror_trials": 0, "sites": set(), "storage_k": {}}


def _child(spec: str, *args: object) -> tuple[int, list[tuple[int, list[int], str]], str]:
    env = {**os.environ, _failpoints.ENV: spec}
    proc = subprocess.run(
        [sys.executable, str(HERE / "failpoint_child.py"), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    _FIGURES["kill_trials"] += 1
    _FIGURES["sites"].add(spec.split("=")[0])
    return proc.returncode, parse_acks(proc.stdout), proc.stdout


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    write_report("failpoints", {**_FIGURES, "sites": sorted(_FIGURES["sites"])})


@pytest.fixture
def failpoints() -> Iterator[Any]:
    """``_failpoints.configure`` in this process, disabled again after the test."""
    yield _failpoints.configure
    _failpoints.configure(None)


def test_failpoints_cost_nothing_unless_enabled(failpoints: Any) -> None:
    assert not _failpoints._active, "MEMVID_FAILPOINTS is set in the test environment"
    _failpoints.failpoint("commit.after_data_sync")  # disabled: nothing happens
    with pytest.raises(ValueError, match="unknown failpoint"):
        failpoints("commit.after_dat_sync=kill")
    with pytest.raises(ValueError, match="action"):
        failpoints("commit.after_data_sync=explode")
    failpoints("commit.after_data_sync=oserror@2")
    _failpoints.failpoint("commit.after_data_sync")
    with pytest.raises(OSError, match=r"failpoint commit\.after_data_sync"):
        _failpoints.failpoint("commit.after_data_sync")
    _failpoints.failpoint("commit.after_data_sync")  # only the 2nd hit fails


_TEMPLATES: dict[int, tuple[bytes, list[tuple[int, list[int], str]]]] = {}


def _ingest_copy(path: Path, commits: int) -> list[tuple[int, list[int], str]]:
    """``make_ingest_capsule(path, commits)``, from a copy of one made once per test session
    (the compacting case needs some seventy commits)."""
    if commits not in _TEMPLATES:
        template = path.with_name("template.mv2")
        acks = make_ingest_capsule(template, commits)
        _TEMPLATES[commits] = (template.read_bytes(), acks)
        template.unlink()
    data, acks = _TEMPLATES[commits]
    path.write_bytes(data)
    return [(seq, list(ids), cid) for seq, ids, cid in acks]


def _base_seq(compacting: bool) -> int:
    return compacting_seqs()[0] - 1 if compacting else 2


# -- SIGKILL --------------------------------------------------------------------------


@pytest.mark.parametrize(("site", "compacting"), COMMIT_CASES)
def test_kill_at_commit_failpoint(tmp_path: Path, site: str, compacting: bool) -> None:
    path = tmp_path / "c.mv2"
    base = _base_seq(compacting)
    acks = _ingest_copy(path, base)
    rc, new_acks, out = _child(f"{site}=kill", "commit", path, 2)
    assert rc == -signal.SIGKILL, f"the child was not killed at {site} (rc {rc}): {out}"
    assert new_acks == [], "killed inside its first commit, yet it acknowledged one"
    want = base + 1 if site in VISIBLE_AFTER_KILL else base
    check_after_crash(path, acks, [want])


def test_kill_at_open_after_truncate_and_after_slot_write(tmp_path: Path) -> None:
    path = tmp_path / "c.mv2"
    acks = make_ingest_capsule(path, 2)
    end = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(end)
        f.write(b"\xa5" * 3000)  # a torn tail
        f.seek(1024)
        f.write(bytes(80))  # both header slots empty: the writer must write one at open
        f.seek(2048)
        f.write(bytes(80))
    rc, new_acks, _ = _child("open.after_truncate=kill", "commit", path, 1)
    assert (rc, new_acks) == (-signal.SIGKILL, [])
    assert path.stat().st_size == end, "the torn tail was not cut (and synced) before the failpoint"
    rc, new_acks, _ = _child("open.after_slot_write=kill", "commit", path, 1)
    assert (rc, new_acks) == (-signal.SIGKILL, [])
    header = path.read_bytes()[:4096]
    assert header[1024:1104] != bytes(80) or header[2048:2128] != bytes(80), "no slot was written at open"
    check_after_crash(path, acks, [2])


@pytest.mark.parametrize("site", ["create.after_fill", "create.before_link"])
def test_kill_inside_create_leaves_no_file(tmp_path: Path, site: str) -> None:
    path = tmp_path / "c.mv2"
    rc, acks, _ = _child(f"{site}=kill", "create", path)
    assert (rc, acks) == (-signal.SIGKILL, [])
    assert list(tmp_path.iterdir()) == [], "a killed create left a file behind"


def test_kill_inside_recover_leaves_the_source_alone(tmp_path: Path) -> None:
    source = tmp_path / "src" / "c.mv2"
    source.parent.mkdir()
    acks = make_ingest_capsule(source, 3)
    before = source.read_bytes()
    dest = tmp_path / "dest" / "c.mv2"
    dest.parent.mkdir()
    rc, _, _ = _child("recover.before_create=kill", "recover", source, dest)
    assert rc == -signal.SIGKILL
    assert source.read_bytes() == before
    assert list(dest.parent.iterdir()) == []
    check_after_crash(source, acks, [3])


@pytest.mark.parametrize("op", ["write", "fdatasync", "truncate"])
def test_kill_at_every_storage_operation_of_one_commit(tmp_path: Path, op: str) -> None:
    """Kill at the k-th ``op`` for every k an open (with a torn tail) and one commit reach."""
    template = tmp_path / "template.mv2"
    acks0 = make_ingest_capsule(template, 2)
    data = template.read_bytes() + b"\x5a" * 700
    k = 0
    while True:
        k += 1
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        path = folder / "c.mv2"
        path.write_bytes(data)
        rc, new_acks, out = _child(f"storage.{op}=kill@{k}", "commit", path, 1)
        acks = [*acks0, *new_acks]
        if rc == 0:
            assert out.endswith("done\n")
            check_after_crash(path, acks, [3])
            break
        assert rc == -signal.SIGKILL, out
        check_after_crash(path, acks, [2, 3])
        assert k < 50, "the child never finished"
    _FIGURES["storage_k"][op] = k - 1
    assert k - 1 >= 1, f"no {op} happened in an open and a commit"


# -- OSError --------------------------------------------------------------------------


def _oserror_trial(tmp_path: Path, failpoints: Any, spec: str, compacting: bool) -> dict[str, Any]:
    path = tmp_path / "c.mv2"
    base = _base_seq(compacting)
    acks = _ingest_copy(path, base)
    outcome: dict[str, Any] = {}
    with Memvid.open(path) as mem, Memvid.open(path, read_only=True) as before:
        put = ingest_put(mem)
        failpoints(spec)
        try:
            with pytest.raises(OSError) as info:
                ingest_commit(mem, put)
        finally:
            failpoints(None)
        outcome["error"] = type(info.value).__name__
        if spec.startswith("storage."):
            assert isinstance(info.value, DurabilityError), info.value
        # A reader opened now reads whatever the failed commit left as the latest commit.
        with Memvid.open(path, read_only=True) as between:
            seen = check_ingest_state(between)
            assert seen in (base, base + 1)
            # The handle either refuses (poisoned) or commits the same frames again, correctly.
            try:
                acks.append(ingest_commit(mem, put))
                outcome["retry"] = "committed"
            except DurabilityError:
                outcome["retry"] = "refused"
            # Nothing the reader could read has changed under it.
            assert check_ingest_state(between) == seen
            assert between.verify().ok
        assert check_ingest_state(before) == base
        mem.close(commit=False)
    heads = [acks[-1][0]] if outcome["retry"] == "committed" else [base, base + 1]
    check_after_crash(path, acks, heads)
    _FIGURES["oserror_trials"] += 1
    return outcome


@pytest.mark.parametrize(("site", "compacting"), COMMIT_CASES)
def test_oserror_at_commit_failpoint(tmp_path: Path, failpoints: Any, site: str, compacting: bool) -> None:
    _FIGURES["sites"].add(site)
    _oserror_trial(tmp_path, failpoints, f"{site}=oserror", compacting)


@pytest.mark.parametrize("op", ["write", "fdatasync"])
@pytest.mark.parametrize("action", ["oserror", "enospc"])
def test_failed_storage_operation_poisons_the_handle(tmp_path: Path, failpoints: Any, op: str, action: str) -> None:
    """EIO or ENOSPC at the k-th write or fdatasync of a commit, for every k: a
    ``DurabilityError``, the handle refuses every later write (no fsync retried), and
    reopening shows the last durable commit."""
    for k in (1, 2, 3) if op == "write" else (1, 2):
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        outcome = _oserror_trial(folder, failpoints, f"storage.{op}={action}@{k}", False)
        assert outcome == {"error": "DurabilityError", "retry": "refused"}, (k, outcome)
    _FIGURES["sites"].add(f"storage.{op}")


def test_a_failed_recover_raises_and_writes_nothing(tmp_path: Path, failpoints: Any) -> None:
    import memvid

    source = tmp_path / "c.mv2"
    make_ingest_capsule(source, 2)
    dest = tmp_path / "out.mv2"
    failpoints("storage.fdatasync=oserror")
    with pytest.raises(MemvidError):
        memvid.recover(source, dest)
    failpoints(None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mv2"]
    _FIGURES["oserror_trials"] += 1


def test_kill_child_script_reaches_every_site() -> None:
    """The failpoint names the tests use are the ones memvid defines (a renamed site fails here)."""
    used = {*COMMIT_SITES, "compact.after_merge", "open.after_truncate", "open.after_slot_write"}
    used |= {"create.after_fill", "create.before_link", "recover.before_create"}
    used |= {"storage.write", "storage.fdatasync", "storage.truncate"}
    assert used == set(_failpoints.SITES)
