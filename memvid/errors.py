"""Every error memvid raises, under one root.

Catch :class:`MemvidError` to handle any failure of this library. Where a
builtin exception describes the same situation, the memvid error subclasses it
too, so existing ``except KeyError`` or ``except OSError`` code keeps working.

::

    MemvidError
    ├── NotACapsuleError (ValueError)          the file is not a memvid capsule at all
    ├── UnsupportedVersionError                a newer format version than this library reads
    ├── CorruptCapsuleError (ValueError)       damage inside committed data; names the block
    │   └── ChecksumError                      a block, trailer or header checksum mismatch
    ├── LimitExceededError                     a length, size or count over a hard limit
    ├── CapsuleExistsError (FileExistsError)   create() on a path that exists
    ├── CapsuleNotFoundError (FileNotFoundError) open() on a path that does not exist
    ├── CapsuleAccessError (OSError)           the file cannot be opened (permissions, a directory, I/O)
    ├── CapsuleLockedError                     another handle holds the writer lock
    ├── ReadOnlyError                          a write through a read-only handle
    │   └── ReadOnlyViewError                  a write through an as-of view, at(...)
    ├── ClosedError (ValueError)               use of a closed handle
    ├── FrameNotFoundError (KeyError)          no live frame with that id or uri
    ├── CommitNotFoundError (KeyError)         no commit matches at(...) or a commit ref
    ├── InvalidInputError (ValueError)         an argument memvid cannot store as given
    ├── EmbedderMismatchError (ValueError)     the embedder is not the one that wrote the capsule's vectors
    ├── EmbeddingError                         an embedder failed (an HTTP error, a bad response)
    ├── MissingDependencyError (ImportError)   an optional extra is needed; names the pip command
    └── DurabilityError (OSError)              a write or fsync failed; the handle is poisoned
"""

from __future__ import annotations

__all__ = [
    "CapsuleAccessError",
    "CapsuleExistsError",
    "CapsuleLockedError",
    "CapsuleNotFoundError",
    "ChecksumError",
    "ClosedError",
    "CommitNotFoundError",
    "CorruptCapsuleError",
    "DurabilityError",
    "EmbedderMismatchError",
    "EmbeddingError",
    "FrameNotFoundError",
    "InvalidInputError",
    "LimitExceededError",
    "MemvidError",
    "MissingDependencyError",
    "NotACapsuleError",
    "ReadOnlyError",
    "ReadOnlyViewError",
    "UnsupportedVersionError",
]


class MemvidError(Exception):
    """Root of every error raised by memvid."""


class NotACapsuleError(MemvidError, ValueError):
    """The file does not start with the memvid magic bytes."""


class UnsupportedVersionError(MemvidError):
    """The capsule was written by a newer format version than this library reads."""


class CorruptCapsuleError(MemvidError, ValueError):
    """Committed data is damaged. The message names the block and its offset."""

    def __init__(self, message: str, *, offset: int | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.kind = kind


class ChecksumError(CorruptCapsuleError):
    """A checksum did not match: the bytes on disk are not the bytes that were written."""


class LimitExceededError(MemvidError):
    """A declared length, size or count is over a hard limit (hostile or damaged input)."""


class CapsuleExistsError(MemvidError, FileExistsError):
    """``Memvid.create`` was asked to create a capsule at a path that already exists."""


class CapsuleNotFoundError(MemvidError, FileNotFoundError):
    """``Memvid.open`` was given a path that does not exist."""


class CapsuleAccessError(MemvidError, OSError):
    """The capsule file cannot be opened: no permission, a directory, or an I/O error."""


class CapsuleLockedError(MemvidError):
    """Another handle holds this capsule's writer lock."""


class ReadOnlyError(MemvidError):
    """A write was attempted through a handle opened read-only."""


class ReadOnlyViewError(ReadOnlyError):
    """A write was attempted through an as-of view returned by ``at(...)``."""


class ClosedError(MemvidError, ValueError):
    """The handle was used after ``close()``."""


class _KeyMessage(KeyError):
    # KeyError.__str__ shows repr(args[0]); a message reads better unquoted.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class FrameNotFoundError(MemvidError, _KeyMessage):
    """No live frame has that id or uri in this view of the capsule."""


class CommitNotFoundError(MemvidError, _KeyMessage):
    """No commit matches the reference given to ``at(...)``."""


class InvalidInputError(MemvidError, ValueError):
    """An argument cannot be stored as given (wrong type, unencodable text, bad timestamp)."""


class EmbedderMismatchError(MemvidError, ValueError):
    """The embedder given is not the one that wrote this capsule's vectors (the message names both)."""


class EmbeddingError(MemvidError):
    """An embedder failed to produce vectors (an HTTP error, a malformed response).

    ``status_code`` is the HTTP status of the failing reply; ``None`` for
    network errors, timeouts, malformed replies and embedders that are not HTTP.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class MissingDependencyError(MemvidError, ImportError):
    """A feature needs an optional extra that is not installed; the message says which
    (for example ``pip install 'memvid-capsule[embed]'``)."""


class DurabilityError(MemvidError, OSError):
    """A write or fsync failed. The handle is poisoned: it refuses further writes and
    never retries an fsync. Reopen the capsule to continue from the last durable commit."""
