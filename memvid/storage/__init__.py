"""The only code that touches the operating system.

Everything above this layer reads and writes through the small :class:`Storage`
protocol, so tests can swap in :class:`MemoryStorage` or a crash-simulating
storage. :class:`FileStorage` is the real one: ``pread``/``pwrite``,
``fdatasync``, and ``fcntl.flock`` for the single-writer lock (never POSIX
``lockf``, which any close of the same file in the process silently drops).

After a failed write or sync, a storage is *poisoned*: every later write or
sync raises :class:`~memvid.errors.DurabilityError` and no fsync is ever
retried (PostgreSQL's fsyncgate lesson: after a failed fsync the kernel may
have dropped the dirty pages, and a retry that succeeds proves nothing).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from memvid._failpoints import failpoint
from memvid.errors import (
    CapsuleAccessError,
    CapsuleExistsError,
    CapsuleLockedError,
    CapsuleNotFoundError,
    DurabilityError,
)

__all__ = ["FileStorage", "MemoryStorage", "Storage", "create_file_atomically"]


class Storage(Protocol):
    """Byte storage for one capsule."""

    @property
    def writable(self) -> bool: ...

    def size(self) -> int:
        """Current length in bytes."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; shorter only at the end of the storage."""
        ...

    def write(self, offset: int, data: bytes | bytearray) -> None:
        """Write ``data`` at ``offset`` (not durable until :meth:`sync`)."""
        ...

    def sync(self) -> None:
        """Make every earlier write durable."""
        ...

    def truncate(self, length: int) -> None:
        """Cut the storage to ``length`` bytes."""
        ...

    def close(self) -> None: ...


class _Poison:
    """Shared poison bookkeeping: the first I/O failure sticks."""

    def __init__(self) -> None:
        self._poisoned: BaseException | None = None

    def _check(self) -> None:
        if self._poisoned is not None:
            raise DurabilityError(
                f"an earlier write or fsync failed ({self._poisoned}); this handle refuses further writes. "
                "Reopen the capsule to continue from its last durable commit."
            )

    def _guard(self, what: str, op: Callable[[], None]) -> None:
        self._check()
        try:
            failpoint("storage." + what)
            op()
        except OSError as exc:
            self._poisoned = exc
            raise DurabilityError(exc.errno or errno.EIO, f"{what} failed: {exc.strerror or exc}") from exc


class MemoryStorage(_Poison):
    """A capsule held in memory; for tests and in-memory tools."""

    def __init__(self, data: bytes = b"", *, writable: bool = True) -> None:
        super().__init__()
        self.data = bytearray(data)
        self._writable = writable
        self.syncs = 0

    @property
    def writable(self) -> bool:
        return self._writable

    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.data[offset : offset + length])

    def write(self, offset: int, data: bytes | bytearray) -> None:
        def op() -> None:
            if offset > len(self.data):
                self.data.extend(b"\x00" * (offset - len(self.data)))
            self.data[offset : offset + len(data)] = data

        self._guard("write", op)

    def sync(self) -> None:
        def op() -> None:
            self.syncs += 1

        self._guard("sync", op)

    def truncate(self, length: int) -> None:
        self._guard("truncate", lambda: self.data.__delitem__(slice(length, None)))

    def close(self) -> None:
        pass


class FileStorage(_Poison):
    """A capsule file. Writers hold an exclusive ``flock`` for the handle's lifetime."""

    def __init__(self, fd: int, path: Path, *, writable: bool) -> None:
        super().__init__()
        self._fd = fd
        self.path = path
        self._writable = writable

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, writable: bool, lock_timeout: float | None = 0.0) -> FileStorage:
        """Open ``path``; a writable open takes the writer lock, waiting up to ``lock_timeout`` seconds
        (``None`` waits forever)."""
        p = Path(path)
        deadline = None if lock_timeout is None else time.monotonic() + lock_timeout
        while True:
            fd = cls._open_fd(p, writable)
            if not writable:
                return cls(fd, p, writable=False)
            try:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                _lock(fd, p, remaining, waited=lock_timeout)
                # The file may have been replaced (create(overwrite=True)) while we waited for
                # its lock: a lock on an unlinked inode protects nothing, so start again.
                if _same_file(fd, p):
                    return cls(fd, p, writable=True)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    @staticmethod
    def _open_fd(p: Path, writable: bool) -> int:
        try:
            fd = os.open(p, (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC)
        except FileNotFoundError:
            raise CapsuleNotFoundError(errno.ENOENT, f"no capsule at {p}", str(p)) from None
        except OSError as exc:
            hint = (
                "; open it with read_only=True to read it"
                if writable and exc.errno in (errno.EACCES, errno.EROFS)
                else ""
            )
            raise CapsuleAccessError(exc.errno, f"cannot open {p}: {exc.strerror}{hint}", str(p)) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CapsuleAccessError(errno.EINVAL, f"cannot open {p}: not a regular file", str(p))
        return fd

    @property
    def writable(self) -> bool:
        return self._writable

    @property
    def fd(self) -> int:
        return self._fd

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        chunks = []
        while length > 0:
            chunk = os.pread(self._fd, length, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def write(self, offset: int, data: bytes | bytearray) -> None:
        def op() -> None:
            view = memoryview(data)
            pos = offset
            while view:
                n = os.pwrite(self._fd, view, pos)
                view = view[n:]
                pos += n

        self._guard("write", op)

    def sync(self) -> None:
        self._guard("fdatasync", lambda: os.fdatasync(self._fd))

    def truncate(self, length: int) -> None:
        self._guard("truncate", lambda: os.ftruncate(self._fd, length))

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # closing the descriptor releases the flock


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _lock(fd: int, path: Path, timeout: float | None, *, waited: float | None = None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                raise CapsuleLockedError(
                    f"{path} is open for writing by another handle (waited {(waited or timeout) or 0:g} s); "
                    "open it with read_only=True, or pass lock_timeout= to wait"
                ) from None
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, 0.01)  # at most 10 ms between polls: a dead holder frees it at once


def _fsync_dir(directory: Path) -> None:
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def create_file_atomically(
    path: str | os.PathLike[str],
    fill: Callable[[FileStorage], None],
    *,
    overwrite: bool,
    lock_timeout: float | None = 0.0,
) -> FileStorage:
    """Create ``path`` whole or not at all: ``fill`` writes an unnamed file, which is
    fsynced and only then given its name; the directory is fsynced last. Returns the
    new file open for writing, its writer lock held since before it had a name.

    On Linux the file is made with ``O_TMPFILE``, so a crash leaves nothing
    behind; elsewhere a hidden temporary name is used and removed on failure.
    """
    p = Path(path)
    directory = p.parent if str(p.parent) else Path(".")
    if not overwrite and (p.exists() or p.is_symlink()):
        raise CapsuleExistsError(errno.EEXIST, f"{p} already exists (pass overwrite=True to replace it)", str(p))
    if not directory.is_dir():
        raise CapsuleNotFoundError(errno.ENOENT, f"directory {directory} does not exist", str(directory))
    # Replacing a capsule another handle writes would send that handle's commits to an
    # unlinked file: take the old file's writer lock, and hold it until the new one is in place.
    old: FileStorage | None = None
    if overwrite and p.exists() and not p.is_dir():
        old = FileStorage.open(p, writable=True, lock_timeout=lock_timeout)
    try:
        return _create(p, directory, fill, overwrite)
    finally:
        if old is not None:
            old.close()


def _create(p: Path, directory: Path, fill: Callable[[FileStorage], None], overwrite: bool) -> FileStorage:
    fd, tmp_name = _unnamed_file(directory, p.name)
    storage = FileStorage(fd, p, writable=True)
    ok = False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fill(storage)
        storage.sync()
        failpoint("create.before_link")
        if tmp_name is None:
            if overwrite:
                tmp = directory / f".{p.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
                _link_unnamed(fd, tmp)
                tmp_name = tmp
            else:
                try:
                    _link_unnamed(fd, p)
                except FileExistsError:
                    raise CapsuleExistsError(errno.EEXIST, f"{p} already exists", str(p)) from None
        if tmp_name is not None:
            if overwrite:
                os.replace(tmp_name, p)
            else:
                try:
                    os.link(tmp_name, p)
                except FileExistsError:
                    raise CapsuleExistsError(errno.EEXIST, f"{p} already exists", str(p)) from None
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp_name)
            tmp_name = None
        _fsync_dir(directory)
        ok = True
        return storage
    finally:
        if not ok:
            storage.close()
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)


def _link_unnamed(fd: int, path: Path) -> None:
    """Give an ``O_TMPFILE`` file a name: ``linkat`` with ``AT_SYMLINK_FOLLOW`` on its
    /proc entry (``os.link`` does not pass that flag)."""
    at_fdcwd, at_symlink_follow = -100, 0x400
    libc = ctypes.CDLL(None, use_errno=True)
    source = f"/proc/self/fd/{fd}".encode()
    if libc.linkat(at_fdcwd, source, at_fdcwd, os.fsencode(path), at_symlink_follow) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(path))


def _unnamed_file(directory: Path, name: str) -> tuple[int, Path | None]:
    flags = os.O_RDWR | os.O_CLOEXEC
    o_tmpfile = getattr(os, "O_TMPFILE", 0)
    if o_tmpfile and sys.platform.startswith("linux") and Path("/proc/self/fd").is_dir():
        try:
            return os.open(directory, flags | o_tmpfile, 0o644), None
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                raise
    tmp = directory / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    return os.open(tmp, flags | os.O_CREAT | os.O_EXCL, 0o644), tmp
