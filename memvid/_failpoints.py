"""Named crash points for the durability battery (``tests/durability/test_failpoints.py``).

``failpoint("commit.after_data_sync")`` marks a place in the write path where
a crash or an I/O error is worth testing. It does nothing unless the
environment variable ``MEMVID_FAILPOINTS`` names it when memvid is imported::

    MEMVID_FAILPOINTS="commit.after_data_sync=kill"         # SIGKILL this process there
    MEMVID_FAILPOINTS="commit.after_manifest_write=oserror"  # raise OSError(EIO) there
    MEMVID_FAILPOINTS="storage.write=enospc@3"              # OSError(ENOSPC) in the 3rd write
    MEMVID_FAILPOINTS="compact.after_merge=kill@2"           # only on the 2nd time it is reached

Several entries are separated by commas. Disabled, a failpoint costs one
function call and one test of an empty dict. Every site is listed in
:data:`SITES`; an unknown name in the variable is an error, so a test cannot
silently enable nothing.
"""

from __future__ import annotations

import errno
import os
import signal
from typing import Final

__all__ = ["ENV", "SITES", "configure", "failpoint"]

ENV: Final = "MEMVID_FAILPOINTS"

SITES: Final = (
    "create.after_fill",
    "create.before_link",
    "open.after_truncate",
    "open.after_slot_write",
    "commit.before_data_write",
    "commit.after_data_write",
    "commit.after_data_sync",
    "commit.after_manifest_write",
    "commit.after_manifest_sync",
    "commit.after_slot_write",
    "compact.after_merge",
    "recover.before_create",
    "storage.write",
    "storage.fdatasync",
    "storage.truncate",
)
"""Every failpoint memvid has. ``storage.*`` fire inside :class:`~memvid.storage.FileStorage` and
:class:`~memvid.storage.MemoryStorage` operations, where a real ``OSError`` would come from, so
an ``oserror`` there poisons the storage like a real one."""

_ACTIONS: Final = ("kill", "oserror", "enospc")

_active: dict[str, tuple[str, int]] = {}
_hits: dict[str, int] = {}


def configure(spec: str | None) -> None:
    """Enable the failpoints named in ``spec`` (the syntax of ``MEMVID_FAILPOINTS``), replacing
    any enabled before; ``None`` or ``""`` disables every one."""
    active: dict[str, tuple[str, int]] = {}
    for entry in (spec or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, _, action = entry.partition("=")
        action, _, nth = action.partition("@")
        if name not in SITES:
            raise ValueError(f"{ENV}: unknown failpoint {name!r}; known: {', '.join(SITES)}")
        if action not in _ACTIONS:
            raise ValueError(f"{ENV}: failpoint {name} wants an action in {_ACTIONS}, not {action!r}")
        active[name] = (action, int(nth) if nth else 0)
    _active.clear()
    _active.update(active)
    _hits.clear()


def failpoint(name: str) -> None:
    """Crash or fail here if ``name`` is enabled; otherwise do nothing."""
    if _active:
        _trigger(name)


def _trigger(name: str) -> None:
    wanted = _active.get(name)
    if wanted is None:
        return
    action, nth = wanted
    _hits[name] = hits = _hits.get(name, 0) + 1
    if nth and hits != nth:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    code = errno.ENOSPC if action == "enospc" else errno.EIO
    raise OSError(code, f"{os.strerror(code)} (failpoint {name})")


configure(os.environ.get(ENV))
