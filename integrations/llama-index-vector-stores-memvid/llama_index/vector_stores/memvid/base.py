"""A LlamaIndex vector store kept in a memvid capsule (one ``.mv2`` file).

Each node is one frame: the frame's ``uri`` is the node id, its ``text`` the
node's text, its ``embedding`` the node's embedding, and its ``metadata`` the
node's metadata plus what LlamaIndex needs to rebuild the node
(``node_to_metadata_dict``: ``_node_content``, ``_node_type``, ``ref_doc_id``
...) and the node id under ``_node_id``. Every mutation is committed before
the method returns, so a crash loses nothing that was acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from llama_index.vector_stores.memvid.where import metadata_filters_to_where

from memvid import Embedder, Frame, FrameNotFoundError, InvalidInputError, Memvid, SearchRequest
from memvid.filters import compile_where

__all__ = ["NODE_ID_KEY", "MemvidVectorStore"]

NODE_ID_KEY = "_node_id"
"""The metadata field holding the node id (also the frame's uri), so ``node_ids`` filter inside the index."""

_NODE_CONTENT_KEY = "_node_content"
_DEFAULT_MODES = (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR)
_TEXT_MODES = (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE)
_HYBRID_MODES = (VectorStoreQueryMode.HYBRID, VectorStoreQueryMode.SEMANTIC_HYBRID)
# How many candidates MMR re-ranks for each result it returns.
_MMR_PREFETCH = 4


class MemvidVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store in a memvid capsule.

    Parameters
    ----------
    path
        The capsule. It is created when missing (unless ``read_only``).
    memvid
        An open :class:`memvid.Memvid` handle to use instead of ``path``. The store
        does not close a handle it was given.
    kind
        When set, nodes are written as frames of this kind and every read, query
        and delete sees only frames of this kind, so several stores (or a chat
        store) can share one capsule. ``None`` (the default) uses every frame.
    embedder
        A memvid embedder for the capsule, used when nodes arrive without
        embeddings and for text-only queries (see ``llama-index-embeddings-memvid``
        to use a LlamaIndex embedding model here).
    read_only
        Open without the writer lock; mutations raise :class:`memvid.ReadOnlyError`.
    lock_timeout
        Seconds to wait for another writer's lock (``None``: forever).
    flat_metadata
        Refuse nested metadata, as vector stores with flat metadata do.

    >>> import tempfile, os
    >>> from llama_index.core.schema import TextNode
    >>> store = MemvidVectorStore(os.path.join(tempfile.mkdtemp(), "nodes.mv2"))
    >>> store.add([TextNode(id_="n1", text="tea in the morning", embedding=[1.0, 0.0])])
    ['n1']
    >>> result = store.query(VectorStoreQuery(query_embedding=[1.0, 0.1], similarity_top_k=1))
    >>> result.ids, result.nodes[0].text
    (['n1'], 'tea in the morning')
    >>> store.close()
    """

    stores_text: bool = True
    flat_metadata: bool = False
    path: str | None = None
    kind: str | None = None
    read_only: bool = False

    _mem: Memvid = PrivateAttr()
    _owns_handle: bool = PrivateAttr(default=True)
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        memvid: Memvid | None = None,
        kind: str | None = None,
        embedder: Embedder | None = None,
        read_only: bool = False,
        lock_timeout: float | None = 0.0,
        flat_metadata: bool = False,
        **kwargs: Any,
    ) -> None:
        if (path is None) == (memvid is None):
            raise ValueError("give the capsule's path or an open memvid handle (memvid=), not both or neither")
        if memvid is not None:
            handle, owned = memvid, False
            path = memvid.path
            read_only = memvid.read_only
        elif read_only or Path(path).exists():  # type: ignore[arg-type]
            handle = Memvid.open(path, read_only=read_only, lock_timeout=lock_timeout, embedder=embedder)  # type: ignore[arg-type]
            owned = True
        else:
            handle = Memvid.create(path, lock_timeout=lock_timeout, embedder=embedder)  # type: ignore[arg-type]
            owned = True
        try:
            super().__init__(
                path=None if path is None else os.fspath(path),
                kind=kind,
                read_only=read_only,
                flat_metadata=flat_metadata,
                **kwargs,
            )
        except BaseException:
            if owned:
                handle.close()
            raise
        self._mem = handle
        self._owns_handle = owned

    @classmethod
    def class_name(cls) -> str:
        return "MemvidVectorStore"

    @property
    def client(self) -> Memvid:
        """The :class:`memvid.Memvid` handle (search it, time-travel it, verify it)."""
        return self._mem

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the capsule if this store opened it (everything is already committed)."""
        if self._owns_handle and not self._mem.closed:
            self._mem.close()

    def __enter__(self) -> MemvidVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def persist(self, persist_path: str, fs: Any = None) -> None:
        """Nothing to do: every mutation is already committed to the capsule."""

    # -- writing ----------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Add or replace (by node id) ``nodes``, committed in one commit."""
        latest: dict[str, BaseNode] = {}
        for node in nodes:
            latest[node.node_id] = node  # a node id given twice: the last one wins
        items = [self._frame_fields(node) for node in latest.values()]
        with self._lock:
            for node_id in latest:
                try:
                    self._mem.get_by_uri(node_id)
                except FrameNotFoundError:
                    continue
                self._mem.delete(node_id)
            if items:
                self._mem.put_many(items)
            self._mem.commit(f"llama-index: add {len(items)} nodes")
        return [node.node_id for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node whose source document is ``ref_doc_id``."""
        self._delete_where({"ref_doc_id": ref_doc_id}, f"llama-index: delete document {ref_doc_id}")

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with these ids that also pass ``filters``. An empty or missing
        ``node_ids`` does not restrict; with neither ids nor filters nothing is deleted
        (:meth:`clear` deletes everything)."""
        where = _and(_ids_where(node_ids), metadata_filters_to_where(filters))
        if where is None:
            return
        self._delete_where(where, "llama-index: delete nodes")

    def clear(self) -> None:
        """Delete every node (every frame of this store's ``kind``)."""
        self._delete_where(None, "llama-index: clear")

    def _delete_where(self, where: dict[str, Any] | None, message: str) -> None:
        with self._lock:
            ids = [frame.id for frame in self._mem.frames(kind=self.kind, where=where)]
            for frame_id in ids:
                self._mem.delete(frame_id)
            self._mem.commit(message)

    def _frame_fields(self, node: BaseNode) -> dict[str, Any]:
        metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=self.flat_metadata)
        metadata[NODE_ID_KEY] = node.node_id
        return {
            "text": node.get_content(metadata_mode=MetadataMode.NONE),
            "uri": node.node_id,
            "kind": self.kind,
            "metadata": metadata,
            "embedding": node.embedding,
        }

    # -- reading ----------------------------------------------------------------------

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Nodes by id (in the order given) and/or by filters, with their embeddings.
        An empty or missing ``node_ids`` does not restrict."""
        where = metadata_filters_to_where(filters)
        with self._lock:
            if node_ids:
                passes = compile_where(where) if where is not None else None
                found = []
                for node_id in dict.fromkeys(node_ids):
                    try:
                        frame = self._mem.get_by_uri(node_id)
                    except FrameNotFoundError:
                        continue
                    if (self.kind is None or frame.kind == self.kind) and (passes is None or passes(frame.metadata)):
                        found.append(frame)
            else:
                found = list(self._mem.frames(kind=self.kind, where=where))
        return [_node(frame, with_embedding=True) for frame in found]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Search the capsule. ``DEFAULT`` is vector search on ``query_embedding`` (or on
        ``query_str`` embedded by the capsule's embedder); ``TEXT_SEARCH`` / ``SPARSE`` is
        BM25 on ``query_str`` (``sparse_top_k`` results, else ``similarity_top_k``);
        ``HYBRID`` fuses both (``hybrid_top_k`` results, else ``similarity_top_k``),
        by reciprocal rank, or by ``alpha * vector + (1 - alpha) * bm25`` when ``alpha``
        is given; ``MMR`` re-ranks vector hits for diversity (``mmr_threshold``).
        ``filters``, ``doc_ids`` and ``node_ids`` filter exactly, inside the index."""
        mode = VectorStoreQueryMode(query.mode)
        request = self._request(query, mode)
        if request is None:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        with self._lock:
            if len(self._mem) == 0:
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
            hits = self._mem.search(request)
        if mode == VectorStoreQueryMode.MMR:
            return _mmr(query, [hit.frame for hit in hits])
        nodes = [_node(hit.frame) for hit in hits]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[hit.score for hit in hits], ids=[node.node_id for node in nodes]
        )

    def _request(self, query: VectorStoreQuery, mode: VectorStoreQueryMode) -> SearchRequest | None:
        where = _and(
            _ids_where(query.node_ids),
            {"ref_doc_id": {"$in": list(query.doc_ids)}} if query.doc_ids else None,
            metadata_filters_to_where(query.filters),
        )
        text = query.query_str if query.query_str and query.query_str.strip() else None
        vector = None if query.query_embedding is None else np.asarray(query.query_embedding, dtype=np.float32)
        common: dict[str, Any] = {"kind": self.kind, "where": where, "snippet_chars": 0}
        if mode in _DEFAULT_MODES:
            limit = query.similarity_top_k
            if mode == VectorStoreQueryMode.MMR:
                limit *= _MMR_PREFETCH
            if vector is None and text is None:
                raise ValueError("a vector query needs query_embedding (or query_str and a capsule embedder)")
            fields = {"mode": "vec", "vector": vector, "query": None if vector is not None else text, "limit": limit}
        elif mode in _TEXT_MODES:
            if text is None:
                raise ValueError(f"{mode.value} queries need a non-empty query_str")
            fields = {"mode": "lex", "query": text, "limit": query.sparse_top_k or query.similarity_top_k}
        elif mode in _HYBRID_MODES:
            if text is None:
                raise ValueError("hybrid queries need a non-empty query_str")
            limit = query.hybrid_top_k or query.similarity_top_k
            fields = {"mode": "hybrid", "vector": vector, "query": text, "limit": limit}
            depth = max(query.similarity_top_k, query.sparse_top_k or 0)
            if depth > max(4 * limit, 50):  # memvid's default candidate depth, when it is too small
                fields["depth"] = depth
            if query.alpha is not None:
                fields.update(fusion="weighted", alpha=float(query.alpha))
        else:
            raise ValueError(f"MemvidVectorStore does not support the {mode.value!r} query mode")
        if fields["limit"] < 1:
            return None
        return SearchRequest(**common, **fields)

    # -- async: the handle is thread-safe, so each call runs in a worker thread -----------

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)


def _ids_where(node_ids: Iterable[str] | None) -> dict[str, Any] | None:
    ids = list(node_ids or ())
    return {NODE_ID_KEY: {"$in": ids}} if ids else None


def _and(*parts: dict[str, Any] | None) -> dict[str, Any] | None:
    given = [p for p in parts if p is not None]
    if not given:
        return None
    return given[0] if len(given) == 1 else {"$and": given}


def _node(frame: Frame, *, with_embedding: bool = False) -> BaseNode:
    """The node a frame holds; a frame that another tool wrote becomes a plain TextNode."""
    metadata = dict(frame.metadata)
    if _NODE_CONTENT_KEY in metadata:
        try:
            node = metadata_dict_to_node(metadata, text=frame.text)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"frame {frame.id} holds a damaged LlamaIndex node: {exc}") from None
    else:
        node = TextNode(id_=frame.uri or f"memvid-frame-{frame.id}", text=frame.text, metadata=metadata)
    if with_embedding and frame.embedding is not None:
        node.embedding = frame.embedding.tolist()
    return node


def _mmr(query: VectorStoreQuery, frames: list[Frame]) -> VectorStoreQueryResult:
    frames = [f for f in frames if f.embedding is not None]
    if not frames:
        return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
    if query.query_embedding is None:
        raise ValueError("MMR queries need query_embedding")
    nodes = {str(f.id): _node(f) for f in frames}
    scores, ids = get_top_k_mmr_embeddings(
        list(query.query_embedding),
        [f.embedding.tolist() for f in frames if f.embedding is not None],
        similarity_top_k=query.similarity_top_k,
        embedding_ids=list(nodes),
        mmr_threshold=query.mmr_threshold,
    )
    chosen = [nodes[i] for i in ids]
    return VectorStoreQueryResult(nodes=chosen, similarities=list(scores), ids=[n.node_id for n in chosen])
