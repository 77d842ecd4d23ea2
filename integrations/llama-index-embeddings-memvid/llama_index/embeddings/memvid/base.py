"""Embedding models across the two libraries, both ways.

- :class:`MemvidEmbedding`: any memvid embedder (``FunctionEmbedder``,
  ``HttpEmbedder``, your own ``Embedder``) as a LlamaIndex ``BaseEmbedding``, for
  ``Settings.embed_model``, ``VectorStoreIndex(embed_model=...)`` and so on.
- :class:`LlamaIndexEmbedder`: any LlamaIndex ``BaseEmbedding`` as a memvid
  ``Embedder``, for ``Memvid.create(path, embedder=...)``: the capsule then embeds
  frames at commit and text queries with that model, and records its identity.

>>> from memvid import FunctionEmbedder
>>> counts = FunctionEmbedder(lambda texts: [[t.count("a") + 1, t.count("b") + 1] for t in texts], dim=2, name="ab")
>>> model = MemvidEmbedding(counts)
>>> model.model_name, [round(x, 3) for x in model.get_query_embedding("aab")]
('ab', [0.832, 0.555])
>>> back = LlamaIndexEmbedder(model)
>>> back.name, back.dim, back.embed_documents(["aab"]).round(3)
('llama-index/MemvidEmbedding/ab', 2, array([[0.832, 0.555]], dtype=float32))
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import DEFAULT_EMBED_BATCH_SIZE, BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

from memvid import Embedder, FunctionEmbedder
from memvid.embed import looks_like_embedder

__all__ = ["LlamaIndexEmbedder", "MemvidEmbedding"]


class MemvidEmbedding(BaseEmbedding):
    """A memvid :class:`~memvid.Embedder` as a LlamaIndex embedding model.

    ``model_name`` is the embedder's ``name``. Documents go through
    ``embed_documents`` in batches of ``embed_batch_size``; queries through
    ``embed_query`` (which applies the model's query instruction, where it has one).
    Async calls run in a worker thread.
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, *, embed_batch_size: int = DEFAULT_EMBED_BATCH_SIZE, **kwargs: Any) -> None:
        if not looks_like_embedder(embedder):
            raise TypeError(
                f"{type(embedder).__name__} is not a memvid Embedder "
                "(it needs name, dim, normalized, embed_documents and embed_query)"
            )
        kwargs.setdefault("model_name", str(embedder.name))
        super().__init__(embed_batch_size=embed_batch_size, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "MemvidEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The memvid embedder this model wraps."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        vector: Embedding = self._embedder.embed_query(query).tolist()
        return vector

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        vectors: list[Embedding] = self._embedder.embed_documents(texts).tolist()
        return vectors

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


class LlamaIndexEmbedder(FunctionEmbedder):
    """A LlamaIndex embedding model as a memvid :class:`~memvid.Embedder`.

    Documents are embedded with ``get_text_embedding_batch`` (in the model's own
    batches), queries with ``get_query_embedding``; memvid checks every vector
    (shape, finite values) and, with ``normalize=True``, scales it to unit length.

    Parameters
    ----------
    embed_model
        Any LlamaIndex ``BaseEmbedding``.
    dim
        The vector length. When omitted, one probe text is embedded to learn it
        (one call to the model: give ``dim`` for a paid API).
    name
        The identity the capsule records; opening it later with a model of another
        name is an :class:`~memvid.EmbedderMismatchError`. Defaults to
        ``"llama-index/<class>/<model_name>"``.
    normalize
        Scale vectors to unit length (memvid's vector scores are cosines either way).
    """

    def __init__(
        self,
        embed_model: BaseEmbedding,
        *,
        dim: int | None = None,
        name: str | None = None,
        normalize: bool = True,
    ) -> None:
        if not isinstance(embed_model, BaseEmbedding):
            raise TypeError(f"embed_model must be a LlamaIndex BaseEmbedding, not {type(embed_model).__name__}")
        if name is None:
            name = f"llama-index/{type(embed_model).__name__}/{embed_model.model_name}"
        if dim is None:
            dim = len(embed_model.get_text_embedding("dimension probe"))
        super().__init__(
            embed_model.get_text_embedding_batch,
            dim=dim,
            name=name,
            query_fn=embed_model.get_query_embedding,
            normalize=normalize,
        )
        self.embed_model = embed_model

    def __repr__(self) -> str:
        return f"LlamaIndexEmbedder(name={self.name!r}, dim={self.dim})"
