"""memvid: portable, serverless memory for AI agents, in one ``.mv2`` file.

>>> from memvid import Memvid, PutOptions
"""

from __future__ import annotations

from memvid.api import CapsuleStats, CapsuleView, Memvid
from memvid.embed import Embedder, EmbedderIdentity
from memvid.embed.function import FunctionEmbedder
from memvid.engine.verify import Finding, VerifyReport
from memvid.errors import (
    CapsuleAccessError,
    CapsuleExistsError,
    CapsuleLockedError,
    CapsuleNotFoundError,
    ChecksumError,
    ClosedError,
    CommitNotFoundError,
    CorruptCapsuleError,
    DurabilityError,
    EmbedderMismatchError,
    EmbeddingError,
    FrameNotFoundError,
    InvalidInputError,
    LimitExceededError,
    MemvidError,
    MissingDependencyError,
    NotACapsuleError,
    ReadOnlyError,
    ReadOnlyViewError,
    UnsupportedVersionError,
)
from memvid.frame import Frame, PutOptions, PutOptionsBuilder
from memvid.recovery import RecoverResult, recover
from memvid.search import Hit, SearchMode, SearchRequest, SearchRequestBuilder, SearchResults
from memvid.timeline import CommitInfo, CommitResult

__version__ = "0.1.0"

__all__ = [
    "CapsuleAccessError",
    "CapsuleExistsError",
    "CapsuleLockedError",
    "CapsuleNotFoundError",
    "CapsuleStats",
    "CapsuleView",
    "ChecksumError",
    "ClosedError",
    "CommitInfo",
    "CommitNotFoundError",
    "CommitResult",
    "CorruptCapsuleError",
    "DurabilityError",
    "Embedder",
    "EmbedderIdentity",
    "EmbedderMismatchError",
    "EmbeddingError",
    "Finding",
    "Frame",
    "FrameNotFoundError",
    "FunctionEmbedder",
    "Hit",
    "HttpEmbedder",
    "InvalidInputError",
    "LimitExceededError",
    "Memvid",
    "MemvidError",
    "MissingDependencyError",
    "NotACapsuleError",
    "PutOptions",
    "PutOptionsBuilder",
    "ReadOnlyError",
    "ReadOnlyViewError",
    "RecoverResult",
    "SearchMode",
    "SearchRequest",
    "SearchRequestBuilder",
    "SearchResults",
    "UnsupportedVersionError",
    "VerifyReport",
    "__version__",
    "recover",
]

for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type):
        _obj.__module__ = "memvid"
del _name, _obj


def __getattr__(name: str) -> object:
    # HttpEmbedder loads on first use: it needs httpx, the optional "http" extra.
    if name == "HttpEmbedder":
        from memvid.embed.http import HttpEmbedder

        HttpEmbedder.__module__ = "memvid"
        return HttpEmbedder
    raise AttributeError(f"module 'memvid' has no attribute {name!r}")
