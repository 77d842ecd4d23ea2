"""Where an export may write: exactly the destination named, never through a planted link.

A file export is written to a fresh temporary file in the destination's own
directory (created with ``O_EXCL``, so a link planted at that name is never
followed), synced, then given its name by ``link`` (which fails if anything,
a symbolic link included, appeared there) or, when overwriting, by ``rename``
(which replaces a link rather than writing through it). A destination that is a
symbolic link is refused unless the caller passes ``follow_symlinks=True``; a
store directory (Chroma, LanceDB) must not contain symbolic links at all, since
the libraries that write it would follow them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from memvid.errors import InvalidInputError

__all__ = ["check_store_dir", "output_file"]

_MAX_WALK = 1_000_000


def _resolve_target(path: Path, follow_symlinks: bool) -> Path:
    if path.is_symlink():
        if not follow_symlinks:
            raise InvalidInputError(
                f"{path} is a symbolic link; refusing to write through it (pass follow_symlinks=True, "
                "or --follow-symlinks, to write to the file it points to)"
            )
        return Path(os.path.realpath(path))
    return path


@contextlib.contextmanager
def output_file(path: str | os.PathLike[str], *, overwrite: bool, follow_symlinks: bool) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` when the block ends without error, else vanishes."""
    target = _resolve_target(Path(path), follow_symlinks)
    directory = target.parent
    if not directory.is_dir():
        raise InvalidInputError(f"directory {directory} does not exist")
    try:
        info = target.lstat()
    except FileNotFoundError:
        info = None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise InvalidInputError(f"{target} is a directory; name a file to export to")
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISLNK(info.st_mode):
            raise InvalidInputError(f"{target} exists and is not a regular file")
        if not overwrite:
            raise InvalidInputError(f"{target} already exists (pass overwrite=True, or --overwrite, to replace it)")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _publish(tmp, target, overwrite)
        _sync_dir(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)  # replaces a link at target; never writes through it
        return
    try:
        os.link(tmp, target, follow_symlinks=False)
    except FileExistsError:
        raise InvalidInputError(f"{target} appeared while exporting; not replacing it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # No hard links here (some network and FAT file systems): the narrow race is accepted.
        if target.exists() or target.is_symlink():
            raise InvalidInputError(f"{target} appeared while exporting; not replacing it") from None
        os.rename(tmp, target)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync a directory
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def check_store_dir(
    path: str | os.PathLike[str], *, follow_symlinks: bool, create: bool, inside: Iterable[str] = ()
) -> Path:
    """The directory a store library will write, checked: it is not a symbolic link
    (unless ``follow_symlinks``), nothing under it is one, and it exists (made when
    ``create``; its parent must exist). ``inside`` names entries to check even when
    they do not exist yet (they must not be links either)."""
    directory = _resolve_target(Path(path), follow_symlinks)
    if not directory.exists():
        if not create:
            raise InvalidInputError(f"{directory} does not exist")
        if not directory.parent.is_dir():
            raise InvalidInputError(f"directory {directory.parent} does not exist")
        directory.mkdir()
    elif not directory.is_dir():
        raise InvalidInputError(f"{directory} is not a directory")
    for name in inside:
        if (directory / name).is_symlink():
            raise InvalidInputError(f"{directory / name} is a symbolic link; refusing to write through it")
    seen = 0
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in [*dirs, *files]:
            seen += 1
            if seen > _MAX_WALK:
                raise InvalidInputError(f"{directory} holds more than {_MAX_WALK} entries; refusing to use it")
            if os.path.islink(os.path.join(root, name)):
                raise InvalidInputError(
                    f"{os.path.join(root, name)} is a symbolic link inside the destination; refusing to write there"
                )
    return directory
