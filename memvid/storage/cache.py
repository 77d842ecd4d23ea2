"""Disposable directories for index files that a library needs on disk (tantivy).

The capsule is the only source of truth. Index files are copied out of it,
after their checksums pass, into a cache keyed by the capsule's uuid and each
file's digest; nothing is ever written next to the capsule. Deleting the cache
at any time is safe: it is rebuilt from the capsule on demand.

- ``MEMVID_CACHE_DIR`` (else ``$XDG_CACHE_HOME/memvid``, else ``~/.cache/memvid``)
  holds read-only views: ``<uuid>/blobs/<digest>`` and ``<uuid>/views/<key>/``,
  a directory of hard links named as the index expects.
- Writers index in a private scratch directory under ``MEMVID_WORK_DIR`` (else
  ``/dev/shm`` when present, where tantivy's many fsyncs cost nothing, else the
  cache dir), removed when the handle closes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["cache_root", "materialize", "scratch_dir"]


def cache_root() -> Path:
    env = os.environ.get("MEMVID_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "memvid"


def _work_root() -> Path:
    env = os.environ.get("MEMVID_WORK_DIR")
    if env:
        return Path(env)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"memvid-{os.getuid()}"
    return cache_root() / "work"


def scratch_dir(prefix: str) -> Path:
    """A new private directory for a writer's working index; the caller removes it.

    Scratch directories left by processes that died without closing (``kill -9``)
    are removed here: on ``/dev/shm`` they would hold memory until reboot.
    """
    root = _work_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    _sweep(root)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=root))


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


def materialize(
    capsule_uuid: str,
    key: str,
    files: Mapping[str, str],
    read: Callable[[str], bytes],
    *,
    dest: Path | None = None,
    build: Callable[[Path], None] | None = None,
) -> Path:
    """A directory holding ``files`` (name -> digest hex), reading each missing blob with
    ``read(name)``: a shared read-only view under ``key``, after ``build(directory)`` has
    run on it once if given; or, with ``dest``, links or copies in that directory."""
    base = cache_root() / capsule_uuid
    blobs = base / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    for name, digest in files.items():
        blob = blobs / digest
        if not blob.exists():
            _write_atomically(blob, read(name))
    if dest is not None:
        _link_all(blobs, files, dest)
        return dest
    view = base / "views" / key
    if view.is_dir():
        return view
    view.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=view.parent))
    try:
        _link_all(blobs, files, tmp)
        if build is not None:
            build(tmp)  # tantivy writes new files and replaces meta.json: linked blobs stay intact
        try:
            tmp.rename(view)
        except OSError:
            if not view.is_dir():  # lost a race with another process: theirs is as good
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return view


def _link_all(blobs: Path, files: Mapping[str, str], directory: Path) -> None:
    for name, digest in files.items():
        try:
            os.link(blobs / digest, directory / name)
        except OSError:
            shutil.copyfile(blobs / digest, directory / name)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
