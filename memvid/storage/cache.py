"""Disposable directories for index files that a library needs on disk (tantivy).

The capsule is the only source of truth. Index files are copied out of it,
after their checksums pass, into a cache keyed by the capsule's uuid and each
file's digest; nothing is ever written next to the capsule. Deleting the cache
at any time is safe: it is rebuilt from the capsule on demand.

- ``MEMVID_CACHE_DIR`` (else ``$XDG_CACHE_HOME/memvid``, else ``~/.cache/memvid``)
  holds read-only views, ``<uuid>/views/<key>/``: the files named as the index
  expects, written from verified capsule bytes, with their digests; a process
  re-hashes a view before its first use and rebuilds it if anything changed.
- Views unused for ``VIEW_TTL_S`` (10 minutes) are removed whenever a new view of the
  same capsule is built, so the cache holds about what was read recently, not one
  view per commit ever read; views built on a checkpoint's view hard-link its files.
- ``<uuid>/vetted/<key>`` marks a lexical checkpoint that this machine built or that
  passed its vet in a separate process (:mod:`memvid.index.lex_vet`): empty files,
  safe to delete (the next reader vets again).
- Writers index in a private scratch directory under ``MEMVID_WORK_DIR`` (else
  ``/dev/shm`` when present, where tantivy's many fsyncs cost nothing, else the
  cache dir's ``work/``), removed when the handle closes. A working index on
  ``/dev/shm`` is memory that no process's resident set shows, and it grows with the
  capsule (about 0.4 bytes per byte of text), so once it passes
  :data:`SHM_BUDGET_BYTES` it moves to the cache dir's ``work/``, where the kernel
  pages it: an ingest larger than memory does not fill memory with its index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

__all__ = ["SHM_BUDGET_BYTES", "cache_root", "in_memory", "materialize", "scratch_dir", "sweep_scratch"]

SHM_BUDGET_BYTES: Final = 256 << 20
"""The largest working index kept on ``/dev/shm`` (at a lexical checkpoint past it, it moves to disk)."""


def cache_root() -> Path:
    env = os.environ.get("MEMVID_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "memvid"


def _memory_root() -> Path | None:
    """Where scratch directories go by default when memory-backed (``/dev/shm``), if writable."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"memvid-{os.getuid()}"
    return None


def _disk_root() -> Path:
    return cache_root() / "work"


def _work_root() -> Path:
    env = os.environ.get("MEMVID_WORK_DIR")
    if env:
        return Path(env)
    return _memory_root() or _disk_root()


def in_memory(directory: Path) -> bool:
    """True for a scratch directory on ``/dev/shm`` by default (not one ``MEMVID_WORK_DIR`` chose)."""
    memory = _memory_root()
    return memory is not None and not os.environ.get("MEMVID_WORK_DIR") and directory.is_relative_to(memory)


def scratch_dir(prefix: str, *, on_disk: bool = False) -> Path:
    """A new private directory for a writer's working index; the caller removes it.
    ``on_disk``: in the cache dir's ``work/``, not in memory (unless ``MEMVID_WORK_DIR`` says where).

    Scratch directories left by processes that died without closing (``kill -9``)
    are removed here: on ``/dev/shm`` they would hold memory until reboot.
    """
    root = _disk_root() if on_disk and not os.environ.get("MEMVID_WORK_DIR") else _work_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    _sweep(root)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=root))


def sweep_scratch() -> None:
    """Remove the scratch directories of writers that died without closing (called when a
    writer opens, so that one which only commits between checkpoints, and so never makes a
    scratch directory, still frees what a killed predecessor left in ``/dev/shm``)."""
    for root in {_work_root(), _disk_root()}:
        if root.is_dir():
            _sweep(root)


def _sweep(root: Path) -> None:
    for entry in root.iterdir():
        parts = entry.name.split("-")
        if len(parts) < 3 or not parts[1].isdigit() or not entry.is_dir():
            continue
        pid = int(parts[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


VIEW_TTL_S: Final = 600.0
"""A view nobody has opened for this long is removed when the next view of its capsule is
built (each open of an existing view marks it used)."""
_SUMS = ".memvid-sums.json"
_verified: set[Path] = set()  # views whose files this process has re-hashed


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16, person=b"memvid-cache").hexdigest()


def materialize(
    capsule_uuid: str,
    key: str,
    files: Mapping[str, str],
    read: Callable[[str], bytes],
    *,
    dest: Path | None = None,
    build: Callable[[Path], None] | None = None,
    vet: Callable[[Path], None] | None = None,
    base: Callable[[], Path] | None = None,
) -> Path:
    """A directory holding ``files`` (name -> block digest hex), each written from
    ``read(name)``, which returns bytes verified against the capsule.

    ``vet(directory)``, if given, runs once the files are written and before anything
    else reads them (it raises to refuse them). ``base()``, called only when the view has
    to be built, returns a view of a subset of ``files`` that lends them as hard links
    instead of copies (index
    files are immutable: tantivy replaces, never rewrites, so a view built on top of
    another, such as a checkpoint plus the frames after it, costs only what it adds).

    With ``dest``, the files are written into that (writable, private) directory.
    Otherwise the result is a shared read-only view under ``key``, built once (with
    ``build(directory)`` run on it, if given) and reused; the cache is persistent disk,
    so each process re-hashes a view's files against the digests recorded when it was
    built before trusting it, and rebuilds it from the capsule on any difference.
    Nothing read from the cache reaches an index library unchecked.
    """
    if dest is not None:
        for name in files:
            (dest / name).write_bytes(read(name))
        if vet is not None:
            vet(dest)
        return dest
    views = cache_root() / capsule_uuid / "views"
    view = views / key
    if view.is_dir() and (view in _verified or _intact(view)):
        _verified.add(view)
        with contextlib.suppress(OSError):
            os.utime(view)  # in use: not swept for another VIEW_TTL_S
        return view
    if view.exists():
        shutil.rmtree(view, ignore_errors=True)  # damaged or half-made: rebuild it from the capsule
    lent = base() if base is not None else None
    views.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=views))
    try:
        for name in files:
            _place(tmp / name, read, name, lent)
        if vet is not None:
            vet(tmp)
        if build is not None:
            build(tmp)
        sums = {p.name: _digest(p.read_bytes()) for p in tmp.iterdir() if p.is_file() and not p.name.startswith(".")}
        (tmp / _SUMS).write_text(json.dumps(sums))
        try:
            tmp.rename(view)
        except OSError:
            if not (view.is_dir() and _intact(view)):  # lost a race with another process: theirs is as good
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _verified.add(view)
    if lent is not None:
        with contextlib.suppress(OSError):
            os.utime(lent)  # the checkpoint under this view is in use too
    _sweep_views(views, {view, lent})
    return view


def _place(target: Path, read: Callable[[str], bytes], name: str, base: Path | None) -> None:
    if base is not None and (base / name).is_file():
        try:
            os.link(base / name, target)
            return
        except OSError:
            pass  # another file system, or no hard links: copy
    target.write_bytes(read(name))


def _sweep_views(views: Path, keep: set[Path | None]) -> None:
    """Remove this capsule's views unused for ``VIEW_TTL_S`` (and half-made ones that old).

    Every commit a reader searches gets a view of its own (the last checkpoint plus the
    frames after it), so without this the cache grows with the commits read. A process
    that opened a view before it was removed keeps reading it: on POSIX systems the
    files live on while they are open or mapped, and tantivy opens every file of a
    segment when it opens the index."""
    cutoff = time.time() - VIEW_TTL_S
    for entry in views.iterdir():
        try:
            if entry not in keep and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                _verified.discard(entry)
        except OSError:
            pass  # removed by another process meanwhile


def _intact(view: Path) -> bool:
    """Whether every index file of ``view`` still has the digest recorded when it was built."""
    try:
        sums = json.loads((view / _SUMS).read_text())
        present = {p.name for p in view.iterdir() if p.is_file() and not p.name.startswith(".")}
        if not isinstance(sums, dict) or set(sums) != present:
            return False
        return all(_digest((view / name).read_bytes()) == digest for name, digest in sums.items())
    except (OSError, ValueError):
        return False
