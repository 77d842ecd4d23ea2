"""``MemvidRetriever``: memvid's own search (hybrid, lexical or vector) as a LangChain retriever.

Where :meth:`MemvidVectorStore.as_retriever` gives LangChain's generic
similarity / MMR retriever, this one exposes what a capsule searches with:
BM25 and vectors fused (``mode="hybrid"``), either alone (``"lex"``,
``"vec"``), a score ``threshold``, metadata ``filter``, and time ranges.

>>> import tempfile, os
>>> from memvid import Memvid
>>> path = os.path.join(tempfile.mkdtemp(), "notes.mv2")
>>> with Memvid.create(path) as mem:
...     _ = mem.put("the tantivy index answers keyword queries", metadata={"topic": "search"})
...     _ = mem.put("usearch keeps the vectors", metadata={"topic": "vectors"})
...     _ = mem.commit()
...     retriever = MemvidRetriever(capsule=mem, mode="lex", k=2)
...     [doc.metadata["topic"] for doc in retriever.invoke("keyword queries")]
['search']
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from langchain_memvid_capsule._filters import to_where
from langchain_memvid_capsule._vectorstores import MemvidVectorStore
from memvid import CapsuleView, Hit, Memvid

__all__ = ["MemvidRetriever"]

# Fields a single call may override: retriever.invoke("q", since="2024-01-01", k=3).
_OVERRIDABLE = frozenset(
    {"mode", "k", "threshold", "filter", "kind", "frame_tags", "uri_prefix", "since", "until", "fusion", "alpha"}
)


class MemvidRetriever(BaseRetriever):
    """Retrieve documents with a capsule's search.

    ``capsule`` is an open :class:`memvid.Memvid` handle, or a view of a past
    commit (``mem.at(...)``). Queries are
    embedded with ``embeddings`` when given, else with the capsule's own embedder
    (if it was opened with one); without either, only ``mode="lex"`` (and
    ``"auto"``, which then is lexical) can run.

    ``mode``: ``"auto"`` (hybrid when vectors can be used, else lexical),
    ``"hybrid"``, ``"lex"`` or ``"vec"``. ``threshold`` drops hits scoring below it,
    on the mode's scale (BM25, cosine, or the fused score; see memvid's
    ``SearchRequest``). ``filter`` is a metadata filter (LangChain's dict syntax);
    ``since`` / ``until`` bound each frame's time (inclusive / exclusive; datetimes,
    dates, Unix seconds or ISO 8601 strings); ``kind``, ``frame_tags`` (memvid's
    ``tags=``: LangChain's ``tags`` are the retriever's callback tags) and
    ``uri_prefix`` are memvid's filters. ``fusion`` is how ``"hybrid"`` merges its two
    rankings (memvid's ``SearchRequest.fusion``; ``None``, the default, leaves memvid's
    default, ``"adaptive"``), ``alpha`` the vector weight of ``"weighted"``. Any of these
    may also be given per call as keywords of ``invoke``. With ``include_hit_info`` each document's metadata gains a
    ``"memvid"`` entry: the hit's ``score``, ``frame_id``, ``time`` and the rank
    each retriever gave it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    capsule: Memvid | CapsuleView
    embeddings: Embeddings | None = None
    mode: Literal["auto", "hybrid", "lex", "vec"] = "auto"
    k: int = 4
    threshold: float | None = None
    filter: dict[str, Any] | None = None
    kind: str | None = None
    frame_tags: dict[str, str] | None = None
    uri_prefix: str | None = None
    since: Any = None
    until: Any = None
    fusion: Literal["adaptive", "rrf", "weighted"] | None = None
    alpha: float = 0.5
    include_hit_info: bool = True

    @classmethod
    def from_vector_store(cls, store: MemvidVectorStore, **kwargs: Any) -> MemvidRetriever:
        """A retriever over the same capsule, embeddings and ``kind`` as ``store``."""
        kwargs.setdefault("kind", store.kind)
        return cls(capsule=store.capsule, embeddings=store.embeddings, **kwargs)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **overrides: Any
    ) -> list[Document]:
        unknown = set(overrides) - _OVERRIDABLE
        if unknown:
            raise TypeError(f"unexpected retriever keyword arguments: {', '.join(sorted(unknown))}")
        o = {name: overrides.get(name, getattr(self, name)) for name in _OVERRIDABLE}
        if len(self.capsule) == 0:
            return []
        vector = None
        if self.embeddings is not None and o["mode"] != "lex":
            vector = self.embeddings.embed_query(query)
        fusion = {} if o["fusion"] is None else {"fusion": o["fusion"]}
        hits = self.capsule.search(
            query=query,
            vector=vector,
            mode=o["mode"],
            limit=o["k"],
            threshold=o["threshold"],
            where=to_where(o["filter"]),
            kind=o["kind"],
            tags=o["frame_tags"],
            uri_prefix=o["uri_prefix"],
            since=o["since"],
            until=o["until"],
            alpha=o["alpha"],
            snippet_chars=0,
            **fusion,
        )
        return [self._document(hit) for hit in hits]

    def _document(self, hit: Hit) -> Document:
        metadata = dict(hit.frame.metadata)
        if self.include_hit_info:
            metadata["memvid"] = {
                "score": hit.score,
                "frame_id": hit.frame_id,
                "time": hit.time.isoformat(),
                "retrievers": dict(hit.retrievers),
            }
        return Document(id=hit.uri, page_content=hit.frame.text, metadata=metadata)
