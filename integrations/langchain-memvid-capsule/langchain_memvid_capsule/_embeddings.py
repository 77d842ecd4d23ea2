"""Embeddings both ways: a LangChain ``Embeddings`` as a memvid embedder, and back.

>>> from langchain_core.embeddings import DeterministicFakeEmbedding
>>> embedder = memvid_embedder(DeterministicFakeEmbedding(size=8), name="fake-8")
>>> embedder.name, embedder.dim, embedder.normalized
('fake-8', 8, True)
>>> embeddings = MemvidEmbeddings(embedder)
>>> len(embeddings.embed_query("hello"))
8
"""

from __future__ import annotations

from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from memvid.embed import Embedder
from memvid.embed.function import FunctionEmbedder

__all__ = ["MemvidEmbeddings", "memvid_embedder"]


def memvid_embedder(
    embeddings: Embeddings, *, name: str | None = None, dim: int | None = None, normalize: bool = True
) -> FunctionEmbedder:
    """A memvid :class:`~memvid.embed.Embedder` that calls a LangChain ``Embeddings``.

    Give it to ``Memvid.create(path, embedder=...)`` / ``Memvid.open``: frames put
    without an ``embedding`` are embedded at commit, text queries can use vector
    and hybrid search, and the capsule records the embedder's identity.

    ``name`` is that identity; name the model (``"text-embedding-3-small"``).
    Without it the name is ``langchain:<class>`` plus the object's ``model`` or
    ``model_name`` attribute when it has one. ``dim`` is the vector length; when
    not given it is read from a ``size`` / ``dimensions`` attribute, else learned
    by embedding one short text. Outputs are checked (shape, finiteness) and,
    with ``normalize=True``, scaled to unit length.
    """
    if not isinstance(embeddings, Embeddings):
        raise TypeError(f"embeddings must be a langchain_core Embeddings, not {type(embeddings).__name__}")
    if dim is None:
        dim = _known_dim(embeddings)
    if dim is None:
        dim = len(embeddings.embed_query("dimension probe"))
    return FunctionEmbedder(
        embeddings.embed_documents,
        query_fn=embeddings.embed_query,
        dim=dim,
        name=name or _default_name(embeddings),
        normalize=normalize,
    )


class MemvidEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` backed by any memvid embedder
    (:class:`~memvid.FunctionEmbedder`, :class:`~memvid.HttpEmbedder`, your own)."""

    def __init__(self, embedder: Embedder) -> None:
        for member in ("name", "dim", "embed_documents", "embed_query"):
            if not hasattr(type(embedder), member):
                raise TypeError(f"{type(embedder).__name__} is not a memvid Embedder (it has no {member!r})")
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = np.asarray(self.embedder.embed_documents(texts), dtype=np.float64).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = np.asarray(self.embedder.embed_query(text), dtype=np.float64).tolist()
        return vector

    def __repr__(self) -> str:
        return f"MemvidEmbeddings({self.embedder.name!r})"


def _known_dim(embeddings: Embeddings) -> int | None:
    for attr in ("size", "dimensions", "dim"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _default_name(embeddings: Embeddings) -> str:
    model: Any = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
    base = f"langchain:{type(embeddings).__name__}"
    return f"{base}:{model}" if isinstance(model, str) and model else base
