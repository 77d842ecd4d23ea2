"""Frames, the immutable rows of a capsule, and the options that describe a new one."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from memvid._time import TimeLike
from memvid.errors import CorruptCapsuleError, InvalidInputError

__all__ = ["Frame", "PutOptions", "PutOptionsBuilder"]


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One immutable frame as committed.

    ``timestamp`` is the time the caller gave the content (``None`` if none);
    ``created_at`` is when it was put. ``checksum`` is the hex BLAKE2b-128 of
    the text and payload. ``supersedes`` names the frame this one replaced
    through :meth:`Memvid.update`.
    """

    id: int
    created_at: dt.datetime
    timestamp: dt.datetime | None
    uri: str | None
    title: str | None
    kind: str | None
    tags: Mapping[str, str]
    metadata: Mapping[str, Any]
    text: str
    payload: bytes | None
    checksum: str
    supersedes: int | None = None
    embedding: npt.NDArray[np.float32] | None = field(default=None, repr=False)

    @property
    def time(self) -> dt.datetime:
        """The frame's effective time: ``timestamp`` when given, else ``created_at``."""
        return self.timestamp if self.timestamp is not None else self.created_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (payload as latin-1-safe hex, times as ISO 8601)."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "uri": self.uri,
            "title": self.title,
            "kind": self.kind,
            "tags": dict(self.tags),
            "metadata": dict(self.metadata),
            "text": self.text,
            "payload_hex": self.payload.hex() if self.payload is not None else None,
            "checksum": self.checksum,
            "supersedes": self.supersedes,
            "embedding": None if self.embedding is None else [float(x) for x in self.embedding],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PutOptions:
    """How to store one frame. Build with keywords or with :meth:`builder`::

        PutOptions(title="Notes", uri="mv2://notes/1", tags={"project": "alpha"})
        PutOptions.builder().title("Notes").uri("mv2://notes/1").tag("project", "alpha").build()

    ``text`` overrides the text of :meth:`Memvid.put_bytes`, which otherwise
    decodes the bytes as UTF-8 when they are text.
    """

    title: str | None = None
    uri: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    kind: str | None = None
    timestamp: TimeLike | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    embedding: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None
    text: str | None = None

    @staticmethod
    def builder() -> PutOptionsBuilder:
        return PutOptionsBuilder()


class PutOptionsBuilder:
    """Fluent construction of :class:`PutOptions`; each call returns the builder."""

    def __init__(self) -> None:
        self._options = PutOptions()
        self._tags: dict[str, str] = {}
        self._metadata: dict[str, Any] = {}

    def _set(self, **changes: Any) -> PutOptionsBuilder:
        self._options = replace(self._options, **changes)
        return self

    def title(self, title: str) -> PutOptionsBuilder:
        return self._set(title=title)

    def uri(self, uri: str) -> PutOptionsBuilder:
        return self._set(uri=uri)

    def kind(self, kind: str) -> PutOptionsBuilder:
        return self._set(kind=kind)

    def timestamp(self, timestamp: TimeLike) -> PutOptionsBuilder:
        return self._set(timestamp=timestamp)

    def text(self, text: str) -> PutOptionsBuilder:
        return self._set(text=text)

    def embedding(self, embedding: Sequence[float] | npt.NDArray[np.floating[Any]]) -> PutOptionsBuilder:
        return self._set(embedding=embedding)

    def tag(self, key: str, value: str) -> PutOptionsBuilder:
        self._tags[key] = value
        return self

    def tags(self, tags: Mapping[str, str]) -> PutOptionsBuilder:
        self._tags.update(tags)
        return self

    def metadata(self, key: str, value: Any) -> PutOptionsBuilder:
        self._metadata[key] = value
        return self

    def build(self) -> PutOptions:
        return replace(self._options, tags=dict(self._tags), metadata=dict(self._metadata))


# -- validation shared by put, update and the CLI ---------------------------------


def check_text(value: object, name: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a str, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{name} is not valid Unicode text ({exc.reason} at index {exc.start})") from None
    return value


def check_tags(tags: Mapping[str, object] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags must be a mapping of str to str, not {type(tags).__name__}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        check_text(key, "tag key", optional=False)
        if isinstance(value, (bool, int, float)) and not isinstance(value, str):
            value = json.dumps(value)
        out[key] = check_text(value, f"tag {key!r}", optional=False) or ""
    return out


def encode_metadata(metadata: Mapping[str, Any] | None) -> str | None:
    if not metadata:
        return None
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"metadata must be a mapping, not {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata must be JSON-serialisable: {exc}") from None
    check_text(text, "metadata", optional=False)
    return text


def decode_metadata(text: str | None) -> Mapping[str, Any]:
    if not text:
        return MappingProxyType({})
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise CorruptCapsuleError("a frame's metadata is not valid JSON") from None
    if not isinstance(value, dict):
        raise CorruptCapsuleError("a frame's metadata is not a JSON object")
    return MappingProxyType(value)


def check_embedding(
    embedding: Sequence[float] | npt.NDArray[np.floating[Any]] | None,
) -> npt.NDArray[np.float32] | None:
    if embedding is None:
        return None
    try:
        vector = np.asarray(embedding, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError("embedding must be a sequence of numbers") from None
    if vector.ndim != 1 or vector.size == 0:
        raise InvalidInputError(f"embedding must be a non-empty 1-d vector, got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise InvalidInputError("embedding contains NaN or infinity")
    return vector
