"""Embedders: what turns text into vectors for a capsule.

Any object with the :class:`Embedder` shape works. The capsule records the
identity of the embedder that wrote its vectors (:class:`EmbedderIdentity`);
opening it with a different one is a clear error, not silent garbage.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from memvid.errors import InvalidInputError

__all__ = [
    "Embedder",
    "EmbedderIdentity",
    "FunctionEmbedder",
    "HttpEmbedder",
    "MiniLMEmbedder",
    "default_embedder",
    "embedding_text",
    "identity_of",
    "looks_like_embedder",
]

Metric = Literal["cos"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into float vectors of a fixed dimension.

    ``name`` identifies the model (and anything that changes its vectors, such
    as a quantisation); ``dim`` is the vector length; ``normalized`` says
    whether vectors come out with unit length. ``embed_documents`` takes a
    batch; ``embed_query`` applies the model's query instruction where it has one.

    Optionally, ``worker_factory``: a picklable callable without arguments that
    makes an equivalent embedder (same name, same vectors) in another process.
    With one, ``Memvid.ingest(workers=N)`` for N > 1 embeds in its reading
    processes, each with its own copy (see :class:`MiniLMEmbedder`); without
    one, the writer embeds at each commit.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def normalized(self) -> bool: ...

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """An array of shape ``(len(texts), dim)``."""
        ...

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """An array of shape ``(dim,)``."""
        ...


@dataclass(frozen=True, slots=True)
class EmbedderIdentity:
    """What a capsule records about the embedder that wrote its vectors."""

    name: str
    dim: int
    metric: Metric = "cos"
    normalized: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "metric": self.metric, "normalized": self.normalized}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EmbedderIdentity:
        try:
            name, dim = value["name"], value["dim"]
            metric, normalized = value.get("metric", "cos"), value.get("normalized", True)
        except (KeyError, TypeError):
            raise InvalidInputError(f"malformed embedder identity {value!r:.80}") from None
        if not isinstance(name, str) or not isinstance(dim, int) or metric != "cos" or not isinstance(normalized, bool):
            raise InvalidInputError(f"malformed embedder identity {value!r:.80}")
        return cls(name=name, dim=dim, metric=metric, normalized=normalized)

    def describe(self) -> str:
        return f"{self.name} ({self.dim}-d, {self.metric}{', normalised' if self.normalized else ''})"


def embedding_text(title: str | None, text: str) -> str:
    """What a frame's vector is computed from: its title and text."""
    return f"{title}\n{text}" if title else text


def text_list(texts: Sequence[str], who: str) -> list[str]:
    """``texts`` as a fresh list, refusing a bare string and anything that is not text.
    ``who`` names the embedder in the error."""
    if isinstance(texts, str):
        raise InvalidInputError(f"{who}: texts must be a sequence of strings, not one str")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInputError(f"{who}: text {i} is a {type(text).__name__}, not a str")
    return items


def looks_like_embedder(obj: object) -> bool:
    """Whether ``obj`` has the :class:`Embedder` shape, checked without reading its
    properties (``isinstance`` on the protocol would read ``dim``, which for an
    :class:`HttpEmbedder` without a given dimension sends a request)."""
    return all(inspect.getattr_static(obj, name, None) is not None for name in _EMBEDDER_MEMBERS)


_EMBEDDER_MEMBERS = ("name", "dim", "normalized", "embed_documents", "embed_query")


def __getattr__(name: str) -> Any:
    # The concrete embedders load on first use: HttpEmbedder needs httpx, an optional extra.
    if name == "FunctionEmbedder":
        from memvid.embed.function import FunctionEmbedder

        return FunctionEmbedder
    if name == "HttpEmbedder":
        from memvid.embed.http import HttpEmbedder

        return HttpEmbedder
    if name in ("MiniLMEmbedder", "default_embedder"):
        from memvid.embed import minilm

        return getattr(minilm, name)
    raise AttributeError(f"module 'memvid.embed' has no attribute {name!r}")


def identity_of(embedder: Embedder) -> EmbedderIdentity:
    """The identity an embedder writes into a capsule."""
    dim = embedder.dim
    if not isinstance(dim, int) or dim < 1:
        raise InvalidInputError(f"embedder {embedder.name!r} reports an invalid dimension {dim!r}")
    return EmbedderIdentity(name=str(embedder.name), dim=dim, normalized=bool(embedder.normalized))
