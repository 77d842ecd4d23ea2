"""The commit chain: listing commits and finding the one an as-of view asks for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from memvid._time import TimeLike, from_us, to_us
from memvid.engine.snapshot import Snapshot
from memvid.errors import CommitNotFoundError, InvalidInputError

__all__ = ["CommitInfo", "CommitResult"]


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What :meth:`Memvid.commit` made durable.

    ``frame_ids`` are the frames this commit added, ``removed`` those it deleted
    or superseded. Committing with nothing pending writes nothing and returns
    the current head with both empty.
    """

    seq: int
    id: str
    time: dt.datetime
    frame_ids: tuple[int, ...]
    removed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One commit of :meth:`Memvid.timeline`."""

    seq: int
    id: str
    time: dt.datetime
    message: str | None
    added: int
    removed: int
    frames: int
    parent: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "id": self.id,
            "time": self.time.isoformat(),
            "message": self.message,
            "added": self.added,
            "removed": self.removed,
            "frames": self.frames,
            "parent": self.parent,
        }


def info(snapshot: Snapshot) -> CommitInfo:
    m = snapshot.manifest
    return CommitInfo(
        seq=m.seq,
        id=snapshot.commit_id,
        time=from_us(m.time_us),
        message=m.message,
        added=m.added,
        removed=m.removed,
        frames=m.frames_live,
        parent=None if m.parent is None else m.parent.commit_hash.hex(),
    )


def walk(head: Snapshot) -> Iterator[Snapshot]:
    """Every commit from ``head`` back to the genesis commit. Terminates: each parent
    lies strictly before its child in the file."""
    current: Snapshot | None = head
    while current is not None:
        yield current
        current = current.parent()


def resolve(
    head: Snapshot,
    *,
    commit: int | str | None = None,
    frame: int | None = None,
    time: TimeLike | None = None,
) -> Snapshot:
    """The snapshot ``at(...)`` asks for: exactly one of ``commit``, ``frame``, ``time``."""
    given = [name for name, v in (("commit", commit), ("frame", frame), ("time", time)) if v is not None]
    if len(given) != 1:
        raise InvalidInputError("at() takes exactly one of commit=, frame= or time=")
    if commit is not None:
        return _by_commit(head, commit)
    if frame is not None:
        return _by_frame(head, frame)
    assert time is not None
    limit = to_us(time, field="time")
    for snapshot in walk(head):
        if snapshot.manifest.time_us <= limit:
            return snapshot
    raise CommitNotFoundError(f"the capsule did not exist yet at {from_us(limit).isoformat()}")


def _by_commit(head: Snapshot, commit: int | str) -> Snapshot:
    if isinstance(commit, bool):
        raise InvalidInputError("commit= takes a sequence number or a commit id (prefix)")
    if isinstance(commit, int):
        seq = commit if commit >= 0 else head.manifest.seq + 1 + commit
        if not 0 <= seq <= head.manifest.seq:
            raise CommitNotFoundError(f"no commit {commit}: this capsule has commits 0..{head.manifest.seq}")
        for snapshot in walk(head):
            if snapshot.manifest.seq == seq:
                return snapshot
        raise CommitNotFoundError(f"no commit {commit}")
    prefix = commit.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise InvalidInputError(f"commit id {commit!r} must be at least 4 hexadecimal characters")
    for snapshot in walk(head):
        if snapshot.commit_id.startswith(prefix):
            return snapshot
    raise CommitNotFoundError(f"no commit with id {commit!r}")


def _by_frame(head: Snapshot, frame: int) -> Snapshot:
    """The commit that made ``frame`` visible."""
    for snapshot in walk(head):
        m = snapshot.manifest
        if m.added_first is not None and m.added_last is not None and m.added_first <= frame:
            if frame <= m.added_last and snapshot.locate(frame) is not None:
                return snapshot
            break
    raise CommitNotFoundError(f"frame {frame} was never committed")
