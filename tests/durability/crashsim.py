"""A crash-simulating storage, after SQLite's ``test6.c``.

:class:`CrashStorage` implements memvid's ``Storage`` protocol over bytes in
memory. Writes and truncations go to a *view* (what reads see, like the page
cache) and to a list of operations pending since the last ``sync()``; a
``sync()`` makes the view durable. At the ``crash_at``-th sync the storage
raises :class:`Crash` instead (the machine loses power during that sync), and
:meth:`CrashStorage.crash_image` returns what the disk holds afterwards: the
durable bytes, then each pending operation in order, a truncation applied or
not, and each write cut at sector boundaries with every piece independently
applied, dropped, or replaced by random bytes.

Like SQLite's default (``SQLITE_IOCAP_POWERSAFE_OVERWRITE``) the model assumes
that a torn write damages only the bytes it was writing, never other bytes of
the same sector. With ``powersafe=False`` a damaged piece garbles its whole
sector, bytes written long before included (test6.c's other mode).

With ``sync_enabled=False`` syncs make nothing durable: the harness must then
see acknowledged commits vanish (it is sensitive).
"""

from __future__ import annotations

import random
from typing import Final

SECTOR: Final = 512


class Crash(BaseException):
    """The simulated power loss. A ``BaseException``, so no ``except Exception`` swallows it."""


class CrashStorage:
    """Bytes in memory with a page cache that a simulated power loss partly loses."""

    def __init__(
        self,
        durable: bytes,
        *,
        crash_at: int | None,
        sync_enabled: bool = True,
        powersafe: bool = True,
        sector: int = SECTOR,
    ) -> None:
        self.durable = bytearray(durable)
        self.view = bytearray(durable)
        self.pending: list[tuple[str, int, bytes]] = []
        self.crash_at = crash_at
        self.sync_enabled = sync_enabled
        self.powersafe = powersafe
        self.sector = sector
        self.syncs = 0
        self.crashed = False

    # -- the Storage protocol -----------------------------------------------------------

    @property
    def writable(self) -> bool:
        return True

    def size(self) -> int:
        self._alive()
        return len(self.view)

    def read(self, offset: int, length: int) -> bytes:
        self._alive()
        return bytes(self.view[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        self._alive()
        data = bytes(data)
        _apply_write(self.view, offset, data)
        self.pending.append(("w", offset, data))

    def truncate(self, length: int) -> None:
        self._alive()
        del self.view[length:]
        self.pending.append(("t", length, b""))

    def sync(self) -> None:
        self._alive()
        self.syncs += 1
        if self.crash_at is not None and self.syncs == self.crash_at:
            self.crashed = True
            raise Crash(f"power lost during sync {self.syncs}")
        if self.sync_enabled:
            self.durable = bytearray(self.view)
            self.pending.clear()

    def close(self) -> None:
        pass

    def _alive(self) -> None:
        if self.crashed:
            raise Crash("the machine is off")

    # -- after the crash ------------------------------------------------------------------

    def crash_image(self, rng: random.Random) -> tuple[bytes, dict[str, int]]:
        """The disk after the power loss, and how many pieces were applied, dropped and garbled."""
        image = bytearray(self.durable)
        counts = {"applied": 0, "dropped": 0, "garbled": 0}
        for kind, offset, data in self.pending:
            if kind == "t":
                if rng.random() < 0.5:
                    del image[offset:]
                continue
            pos = offset
            while pos < offset + len(data):
                end = min(offset + len(data), (pos // self.sector + 1) * self.sector)
                piece = data[pos - offset : end - offset]
                r = rng.random()
                if r < 0.5:
                    _apply_write(image, pos, piece)
                    counts["applied"] += 1
                elif r < 0.8:
                    counts["dropped"] += 1
                else:
                    counts["garbled"] += 1
                    if self.powersafe:
                        _apply_write(image, pos, rng.randbytes(len(piece)))
                    else:
                        start = pos - pos % self.sector
                        _apply_write(image, start, rng.randbytes(self.sector))
                pos = end
        return bytes(image), counts

    def clean_image(self) -> bytes:
        """The disk after a clean shutdown (no power loss): everything written."""
        return bytes(self.view)


def _apply_write(buf: bytearray, offset: int, data: bytes) -> None:
    if offset > len(buf):
        buf.extend(bytes(offset - len(buf)))
    buf[offset : offset + len(data)] = data
