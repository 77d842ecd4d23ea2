"""``MemvidVectorStore``: a LangChain vector store in one ``.mv2`` capsule.

Each LangChain document is one frame: ``page_content`` is the frame's text,
``metadata`` its metadata, the LangChain id its ``uri``, and the vector from
the store's ``Embeddings`` its embedding. Every mutating call commits, so what
it returns is durable; re-adding an id supersedes the old frame (which stays
visible to ``capsule.at(...)``, memvid's time travel).

>>> import tempfile, os
>>> from langchain_core.embeddings import DeterministicFakeEmbedding
>>> path = os.path.join(tempfile.mkdtemp(), "docs.mv2")
>>> with MemvidVectorStore(path, DeterministicFakeEmbedding(size=16)) as store:
...     store.add_texts(["cats purr", "dogs bark"], [{"animal": "cat"}, {"animal": "dog"}], ids=["c", "d"])
...     [doc.id for doc in store.similarity_search("dogs bark", k=1)]
...     [doc.id for doc in store.similarity_search("dogs bark", k=2, filter={"animal": "cat"})]
['c', 'd']
['d']
['c']
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from langchain_memvid_capsule._filters import to_where
from memvid import Frame, FrameNotFoundError, Hit, Memvid

__all__ = ["MemvidVectorStore", "document_of"]

# Search keywords a caller may pass through LangChain's **kwargs (as_retriever's
# search_kwargs land here too): a metadata filter and memvid's own filters.
_SEARCH_KWARGS = frozenset({"filter", "since", "until", "created_since", "created_until", "tags", "uri_prefix"})


def document_of(frame: Frame) -> Document:
    """The LangChain document a frame holds (its uri is the document id)."""
    return Document(id=frame.uri, page_content=frame.text, metadata=dict(frame.metadata))


class MemvidVectorStore(VectorStore):
    """A LangChain ``VectorStore`` backed by a memvid capsule.

    Parameters
    ----------
    capsule
        A path (opened for writing, created if missing) or an open :class:`memvid.Memvid`
        handle. A handle you pass stays yours to close; a path's handle is closed by
        :meth:`close` (or leaving a ``with`` block).
    embedding
        The LangChain ``Embeddings`` that embeds documents and queries. The
        capsule fixes the vector dimension with its first vector.
    kind
        When given, documents are written as frames of this ``kind`` and every read
        sees only frames of it, so one capsule can hold several collections (and a
        chat history) side by side. Default: every frame of the capsule.
    lock_timeout
        How long opening a path waits for another writer's lock (seconds).

    ``similarity_search_with_score`` returns cosine similarity (-1 to 1, higher is
    closer); the relevance scores of ``similarity_search_with_relevance_scores`` are
    ``(1 + cosine) / 2``, in [0, 1]. Searches take ``filter`` (a metadata filter, see
    :func:`langchain_memvid_capsule.to_where`), ``since`` / ``until`` (on each frame's
    time: its timestamp, else when it was added), ``created_since`` /
    ``created_until``, ``tags`` and ``uri_prefix``.

    A mutating call commits every pending change of the handle, and rolls them all
    back if it fails. Calls are safe from several threads; the async methods run
    the sync ones in a worker thread.
    """

    def __init__(
        self,
        capsule: str | os.PathLike[str] | Memvid,
        embedding: Embeddings,
        *,
        kind: str | None = None,
        lock_timeout: float | None = 0.0,
    ) -> None:
        if not isinstance(embedding, Embeddings):
            raise TypeError(f"embedding must be a langchain_core Embeddings, not {type(embedding).__name__}")
        if kind is not None and not isinstance(kind, str):
            raise TypeError(f"kind must be a str or None, not {type(kind).__name__}")
        if isinstance(capsule, Memvid):
            self._mem, self._owns_capsule = capsule, False
        elif isinstance(capsule, str | os.PathLike):
            self._mem, self._owns_capsule = _open_or_create(capsule, lock_timeout), True
        else:
            raise TypeError(f"capsule must be a path or a memvid.Memvid handle, not {type(capsule).__name__}")
        self._embedding = embedding
        self.kind = kind
        # One store call may be several capsule calls (put..., commit); this keeps
        # two threads' writes from committing or rolling back each other's halves.
        self._write_lock = threading.RLock()

    # -- the handle ---------------------------------------------------------------------

    @property
    def capsule(self) -> Memvid:
        """The open :class:`memvid.Memvid` handle (for time travel, stats, raw search)."""
        return self._mem

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    def close(self) -> None:
        """Close the capsule if this store opened it (a handle you passed stays open)."""
        if self._owns_capsule:
            self._mem.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        timestamps: Sequence[Any] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store ``texts``; returns their ids (generated where not given).

        An id that is already stored is replaced (its old frame is superseded).
        ``timestamps`` (a datetime, date, Unix seconds or ISO 8601 string per text)
        set each frame's time, which ``since`` / ``until`` filter on; by default a
        frame's time is when it was added. ``batch_size`` is accepted for
        ``langchain_core.indexing.index`` and ignored: one call is one commit.
        """
        del batch_size
        if kwargs:
            raise TypeError(f"add_texts() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        texts = list(texts)
        n = len(texts)
        metadatas = _per_text(metadatas, n, "metadatas", {})
        timestamps = _per_text(timestamps, n, "timestamps", None)
        given = _per_text(ids, n, "ids", None)
        doc_ids = [uuid.uuid4().hex if i is None else i for i in given]
        for i in doc_ids:
            if not isinstance(i, str) or not i:
                raise ValueError(f"a document id must be a non-empty str, not {i!r}")
        if n == 0:
            return []
        vectors = self._embedding.embed_documents(texts)
        if len(vectors) != n:
            raise ValueError(f"the embeddings returned {len(vectors)} vectors for {n} texts")
        with self._write_lock:
            try:
                batch: dict[str, int] = {}  # id -> its pending frame, for an id given twice
                for text, metadata, doc_id, vector, timestamp in zip(
                    texts, metadatas, doc_ids, vectors, timestamps, strict=True
                ):
                    fields = {
                        "metadata": dict(metadata or {}),
                        "embedding": vector,
                        "kind": self.kind,
                        "timestamp": timestamp,
                    }
                    target = batch.get(doc_id)
                    if target is None:
                        live = self._live(doc_id)
                        target = None if live is None else live.id
                    if target is None:
                        batch[doc_id] = self._mem.put(text, uri=doc_id, **fields)
                    else:
                        batch[doc_id] = self._mem.update(target, text, **fields)
                self._mem.commit(f"langchain: add {n} document{'s' if n != 1 else ''}")
            except BaseException:
                self._mem.rollback()
                raise
        return doc_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Remove the documents with these ids (ids not stored are ignored).
        ``ids=None`` removes every document this store sees."""
        if kwargs:
            raise TypeError(f"delete() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        with self._write_lock:
            try:
                if ids is None:
                    for every in list(self._mem.frames(kind=self.kind)):
                        self._mem.delete(every.id)
                else:
                    for doc_id in ids:
                        frame = self._live(doc_id)
                        if frame is None:
                            continue
                        # An id given twice is already removed by this call the second time.
                        with contextlib.suppress(FrameNotFoundError):
                            # Without a kind, an id names every live frame with that uri.
                            self._mem.delete(doc_id if self.kind is None else frame.id)
                self._mem.commit("langchain: delete")
            except BaseException:
                self._mem.rollback()
                raise
        return True

    # -- reading ------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents with these ids, in the order asked; missing ids are skipped."""
        out: list[Document] = []
        seen: set[str] = set()
        for doc_id in ids:
            if doc_id in seen:
                continue
            seen.add(doc_id)
            frame = self._live(doc_id)
            if frame is not None:
                out.append(document_of(frame))
        return out

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """Documents closest to ``query`` with their cosine similarity (higher is closer)."""
        return self.similarity_search_with_score_by_vector(self._embedding.embed_query(query), k, **kwargs)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, **kwargs)]

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents closest to ``embedding`` with their cosine similarity."""
        return [(document_of(hit.frame), hit.score) for hit in self._vector_hits(embedding, k, kwargs)]

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        return self.max_marginal_relevance_search_by_vector(
            self._embedding.embed_query(query), k, fetch_k, lambda_mult, **kwargs
        )

    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """``k`` documents chosen among the ``fetch_k`` closest for relevance and diversity
        (``lambda_mult`` 1: relevance only, 0: diversity only)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be an int >= 0, not {k!r}")
        hits = self._vector_hits(embedding, max(k, fetch_k), kwargs) if k else []
        if not hits:
            return []
        vectors: list[list[float]] = [np.asarray(hit.frame.embedding, dtype=np.float32).tolist() for hit in hits]
        chosen = maximal_marginal_relevance(
            np.asarray(embedding, dtype=np.float32), vectors, lambda_mult=lambda_mult, k=k
        )
        return [document_of(hits[i].frame) for i in chosen]

    @staticmethod
    def _relevance(cosine: float) -> float:
        return min(1.0, max(0.0, (1.0 + cosine) / 2.0))

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return self._relevance

    # -- building -----------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        capsule: str | os.PathLike[str] | Memvid | None = None,
        kind: str | None = None,
        lock_timeout: float | None = 0.0,
        **kwargs: Any,
    ) -> Self:
        """A store on ``capsule`` (a path or handle, required) holding ``texts``.
        Other keywords (``timestamps``) go to :meth:`add_texts`."""
        if capsule is None:
            raise ValueError("MemvidVectorStore.from_texts needs capsule= (a path or a memvid.Memvid handle)")
        store = cls(capsule, embedding, kind=kind, lock_timeout=lock_timeout)
        try:
            store.add_texts(texts, metadatas, ids=ids, **kwargs)
        except BaseException:
            store.close()
            raise
        return store

    # -- helpers ------------------------------------------------------------------------

    def _live(self, doc_id: str) -> Frame | None:
        if not isinstance(doc_id, str):
            raise TypeError(f"a document id is a str, not {type(doc_id).__name__}")
        try:
            frame = self._mem.get_by_uri(doc_id)
        except FrameNotFoundError:
            return None
        if self.kind is not None and frame.kind != self.kind:
            return None
        return frame

    def _vector_hits(self, embedding: Sequence[float], k: int, options: dict[str, Any]) -> list[Hit]:
        unknown = set(options) - _SEARCH_KWARGS
        if unknown:
            raise TypeError(f"unexpected search keyword arguments: {', '.join(sorted(unknown))}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be an int >= 0, not {k!r}")
        if k == 0 or len(self._mem) == 0:
            return []  # an empty capsule has no vectors yet: nothing is near anything
        options = dict(options)
        where = to_where(options.pop("filter", None))
        hits = self._mem.search(
            vector=embedding, mode="vec", limit=k, kind=self.kind, where=where, snippet_chars=0, **options
        )
        return list(hits)


def _per_text(values: Sequence[Any] | None, n: int, name: str, default: Any) -> list[Any]:
    if values is None:
        return [default] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"got {len(values)} {name} for {n} texts")
    return values


def _open_or_create(path: str | os.PathLike[str], lock_timeout: float | None) -> Memvid:
    if os.path.exists(path):
        return Memvid.open(path, lock_timeout=lock_timeout)
    return Memvid.create(path, lock_timeout=lock_timeout)
