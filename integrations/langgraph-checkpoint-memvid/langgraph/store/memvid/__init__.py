"""A LangGraph long-term memory store in a memvid capsule, with semantic search.

>>> import tempfile, pathlib
>>> from langgraph.store.memvid import MemvidStore
>>> path = pathlib.Path(tempfile.mkdtemp()) / "memory.mv2"
>>> with MemvidStore.from_path(path) as store:
...     store.put(("users", "ada"), "prefs", {"drink": "tea", "cups": 3})
>>> with MemvidStore.from_path(path) as store:  # reopened, as after a restart
...     [item.value for item in store.search(("users",), filter={"cups": {"$gte": 2}})]
[{'drink': 'tea', 'cups': 3}]

How an item maps to frames:

- the item frame (kind ``langgraph.store.item``): uri
  ``langgraph://store/<label>/<label>/.../<key>`` (each part percent-encoded,
  so a namespace prefix is a uri prefix); ``metadata`` is the item's value, so
  ``search(filter=...)`` runs as memvid's exact ``where=`` filter in every mode;
  ``text`` is the indexed fields (the value's JSON when nothing is indexed), so
  ``memvid find`` searches memories too; ``embedding`` is the vector of the
  first indexed text; ``timestamp`` is the item's ``created_at`` and the
  frame's own ``created_at`` its ``updated_at``.
- when an item has several indexed texts (``fields=["a", "b"]``,
  ``"items[*].text"``), each further text gets a frame of kind
  ``langgraph.store.vector`` at ``<item uri>#<n>``; a search scores an item by
  its best text, as InMemoryStore does.

Values must be JSON-serialisable (as with PostgresStore); a value that is not
raises :class:`memvid.InvalidInputError`. Every batch with a put or a delete is
one durable memvid commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings
from langgraph.checkpoint.memvid._capsule import (
    CapsuleTarget,
    find,
    lock_for,
    open_capsule,
    quote_part,
    unquote_part,
)
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from memvid import Embedder, Frame, InvalidInputError
from memvid.embed import looks_like_embedder

__all__ = ["LangChainEmbedder", "MemvidStore"]

KIND_ITEM = "langgraph.store.item"
KIND_VECTOR = "langgraph.store.vector"
ROOT = "langgraph://store/"

Vector = npt.NDArray[np.float32]


def _prefix_uri(namespace: Sequence[str]) -> str:
    return ROOT + "".join(f"{quote_part(label)}/" for label in namespace)


def _item_uri(namespace: Sequence[str], key: str) -> str:
    return _prefix_uri(namespace) + quote_part(key)


def _parse_uri(uri: str) -> tuple[tuple[str, ...], str]:
    """(namespace, key) of an item or vector frame's uri."""
    parts = uri[len(ROOT) :].split("#", 1)[0].split("/")
    return tuple(unquote_part(p) for p in parts[:-1]), unquote_part(parts[-1])


class LangChainEmbedder:
    """LangChain ``Embeddings`` (what a LangGraph ``index={"embed": ...}`` becomes) as a
    memvid :class:`~memvid.Embedder`.

    ``name`` identifies the model in the capsule; by default the class of the
    embeddings. Vectors are not assumed to be normalised (memvid compares by cosine).
    """

    normalized = False

    def __init__(self, embeddings: Embeddings, *, dim: int, name: str | None = None) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise InvalidInputError(f"index 'dims' must be a positive int, not {dim!r}")
        self.embeddings = embeddings
        self._dim = dim
        self._name = name or f"langchain:{type(embeddings).__module__}.{type(embeddings).__qualname__}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> Vector:
        return self._check(self.embeddings.embed_documents(list(texts)), len(texts))

    def embed_query(self, text: str) -> Vector:
        return self._check([self.embeddings.embed_query(text)], 1)[0]

    async def aembed_documents(self, texts: Sequence[str]) -> Vector:
        return self._check(await self.embeddings.aembed_documents(list(texts)), len(texts))

    async def aembed_query(self, text: str) -> Vector:
        return self._check([await self.embeddings.aembed_query(text)], 1)[0]

    def _check(self, vectors: Any, count: int) -> Vector:
        array = np.asarray(vectors, dtype=np.float32)
        if array.shape != (count, self._dim) or not np.all(np.isfinite(array)):
            raise InvalidInputError(
                f"embeddings {self._name!r} returned shape {array.shape} for {count} texts "
                f"(expected {self._dim} finite numbers each, as the index 'dims' says)"
            )
        return array


def _embedder_for(index: IndexConfig) -> Embedder:
    embed = index.get("embed")
    if looks_like_embedder(embed):
        embedder: Embedder = embed  # type: ignore[assignment]
        if "dims" in index and index["dims"] != embedder.dim:
            raise InvalidInputError(f"index 'dims' is {index['dims']} but the embedder makes {embedder.dim}-d vectors")
        return embedder
    embeddings = ensure_embeddings(embed)  # type: ignore[arg-type]
    if "dims" not in index:
        raise InvalidInputError("index needs 'dims', the length of the embedding vectors")
    return LangChainEmbedder(embeddings, dim=index["dims"])


def _where(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A LangGraph store filter as a memvid ``where=``: a nested mapping is matched field
    by field (dotted paths, as PostgresStore and newer InMemoryStore read dotted keys);
    a mapping of ``$`` operators is passed through; anything else is equality. A
    missing field equals ``None``, as in InMemoryStore."""
    if not filter:
        return None
    clauses: list[dict[str, Any]] = []

    def walk(prefix: str, spec: Mapping[str, Any]) -> None:
        for key, value in spec.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
                for op, arg in value.items():
                    clauses.append(_clause(path, op, arg))
            elif isinstance(value, Mapping) and value:
                walk(f"{path}.", value)
            elif isinstance(value, Mapping):
                clauses.append({path: {"$exists": True}})
            else:
                clauses.append(_clause(path, "$eq", value))

    walk("", filter)
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _clause(path: str, op: str, arg: Any) -> dict[str, Any]:
    if arg is None and op == "$eq":
        return {"$or": [{path: {"$exists": False}}, {path: {"$eq": None}}]}
    if arg is None and op == "$ne":
        return {path: {"$exists": True, "$ne": None}}
    if isinstance(arg, tuple):
        arg = list(arg)
    return {path: {op: arg}}


def _json_text(value: Mapping[str, Any]) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"store values must be JSON-serialisable: {exc}") from None


def _matches_namespace(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = condition.path
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path, strict=False)
    if condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    elif condition.match_type != "prefix":
        raise ValueError(f"unsupported match type {condition.match_type!r}")
    return all(p == "*" or k == p for k, p in pairs)


class MemvidStore(BaseStore):
    """LangGraph's ``BaseStore`` on a memvid capsule: items in namespaces, exact filters,
    and semantic search when ``index`` configures embeddings.

    Parameters
    ----------
    capsule:
        A path (opened for writing, created if missing) or an open
        :class:`memvid.Memvid` handle, which the store borrows and does not close
        (share one with :class:`~langgraph.checkpoint.memvid.MemvidSaver`).
    index:
        LangGraph's ``IndexConfig``: ``dims``, ``embed`` (LangChain ``Embeddings``,
        a function, a provider string, or a memvid :class:`~memvid.Embedder`) and
        ``fields`` (default ``["$"]``, the whole value).
    lock_timeout:
        Seconds to wait for the capsule's writer lock when opening a path.
    """

    supports_ttl = False

    def __init__(self, capsule: CapsuleTarget, *, index: IndexConfig | None = None, lock_timeout: float | None = 0.0):
        self.index_config: IndexConfig | None = None
        self.embedder: Embedder | None = None
        self._fields: list[tuple[str, str | list[str]]] = []
        if index:
            self.index_config = index.copy()
            self.embedder = _embedder_for(index)
            self._fields = [(p, p if p == "$" else tokenize_path(p)) for p in (index.get("fields") or ["$"])]
        self.mem, self._owned = open_capsule(capsule, lock_timeout=lock_timeout)
        self._lock = lock_for(self.mem)
        self._namespaces: tuple[str, list[tuple[str, ...]]] | None = None

    @classmethod
    @contextmanager
    def from_path(
        cls, path: str | Any, *, index: IndexConfig | None = None, lock_timeout: float | None = 0.0
    ) -> Iterator[MemvidStore]:
        """A store on the capsule at ``path``, closed on leaving the ``with`` block."""
        store = cls(path, index=index, lock_timeout=lock_timeout)
        try:
            yield store
        finally:
            store.close()

    def close(self) -> None:
        """Close the capsule if the store opened it (a borrowed handle stays open)."""
        if self._owned and not self.mem.closed:
            self.mem.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- batches -------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops``: reads see the capsule as it was before the batch; then every put
        and delete (the last one per item wins) lands in one commit."""
        ops = list(ops)
        puts, texts = self._plan(ops)
        vectors = self._embed_documents(texts)
        queries = {
            op.query: self.embedder.embed_query(op.query)
            for op in ops
            if isinstance(op, SearchOp) and op.query and self.embedder is not None
        }
        return self._run(ops, puts, texts, vectors, queries)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch`, embedding with the async API and reading and writing the capsule
        in a worker thread."""
        ops = list(ops)
        puts, texts = self._plan(ops)
        vectors = await self._aembed_documents(texts)
        wanted = sorted({op.query for op in ops if isinstance(op, SearchOp) and op.query})
        queries: dict[str, Vector] = {}
        if wanted and self.embedder is not None:
            found = await asyncio.gather(*(self._aembed_query(q) for q in wanted))
            queries = dict(zip(wanted, found, strict=True))
        return await asyncio.to_thread(self._run, ops, puts, texts, vectors, queries)

    def _plan(
        self, ops: list[Op]
    ) -> tuple[dict[tuple[tuple[str, ...], str], PutOp], dict[tuple[tuple[str, ...], str], list[str]]]:
        """The puts that count (the last per item) and the texts each one indexes."""
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if not isinstance(op, GetOp | SearchOp | PutOp | ListNamespacesOp):
                raise ValueError(f"unknown operation type: {type(op)}")
            validate_op_namespace(op)
            if isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = op
        texts: dict[tuple[tuple[str, ...], str], list[str]] = {}
        for item, op in puts.items():
            if op.value is None or op.index is False or self.embedder is None:
                continue
            paths = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
            found = [text for _, path in paths for text in get_text_at_path(op.value, path)]
            if found:
                texts[item] = found
        return puts, texts

    def _embed_documents(self, texts: Mapping[Any, list[str]]) -> dict[str, Vector]:
        unique = sorted({t for ts in texts.values() for t in ts})
        if not unique or self.embedder is None:
            return {}
        return dict(zip(unique, self.embedder.embed_documents(unique), strict=True))

    async def _aembed_documents(self, texts: Mapping[Any, list[str]]) -> dict[str, Vector]:
        unique = sorted({t for ts in texts.values() for t in ts})
        if not unique or self.embedder is None:
            return {}
        embedder = self.embedder
        if isinstance(embedder, LangChainEmbedder):
            vectors = await embedder.aembed_documents(unique)
        else:
            vectors = await asyncio.to_thread(embedder.embed_documents, unique)
        return dict(zip(unique, vectors, strict=True))

    async def _aembed_query(self, query: str) -> Vector:
        embedder = self.embedder
        assert embedder is not None
        if isinstance(embedder, LangChainEmbedder):
            return await embedder.aembed_query(query)
        return await asyncio.to_thread(embedder.embed_query, query)

    def _run(
        self,
        ops: list[Op],
        puts: dict[tuple[tuple[str, ...], str], PutOp],
        texts: dict[tuple[tuple[str, ...], str], list[str]],
        vectors: dict[str, Vector],
        queries: dict[str, Vector],
    ) -> list[Result]:
        with self._lock:
            results: list[Result] = []
            for op in ops:
                if isinstance(op, GetOp):
                    results.append(self._get(op.namespace, op.key))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op, queries.get(op.query) if op.query else None))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op))
                else:
                    results.append(None)
            if puts:
                self._apply(puts, texts, vectors)
            return results

    # -- reading -------------------------------------------------------------------

    def _get(self, namespace: tuple[str, ...], key: str) -> Item | None:
        frame = find(self.mem, _item_uri(namespace, key))
        if frame is None or frame.kind != KIND_ITEM:
            return None
        return self._item(frame)

    @staticmethod
    def _times(frame: Frame) -> tuple[dt.datetime, dt.datetime]:
        return (frame.timestamp or frame.created_at), frame.created_at

    def _item(self, frame: Frame) -> Item:
        assert frame.uri is not None
        namespace, key = _parse_uri(frame.uri)
        created_at, updated_at = self._times(frame)
        return Item(
            value=dict(frame.metadata), key=key, namespace=namespace, created_at=created_at, updated_at=updated_at
        )

    def _search_item(self, frame: Frame, score: float | None) -> SearchItem:
        assert frame.uri is not None
        namespace, key = _parse_uri(frame.uri)
        created_at, updated_at = self._times(frame)
        return SearchItem(namespace, key, dict(frame.metadata), created_at, updated_at, score=score)

    def _search(self, op: SearchOp, query_vector: Vector | None) -> list[SearchItem]:
        prefix = _prefix_uri(op.namespace_prefix)
        where = _where(op.filter)
        if query_vector is None:
            frames = self.mem.frames(kind=KIND_ITEM, uri_prefix=prefix, where=where)
            return [self._search_item(f, None) for f in islice(frames, max(op.offset, 0), max(op.offset + op.limit, 0))]
        wanted = op.offset + op.limit
        best: dict[str, tuple[float, Frame]] = {}
        if wanted > 0 and self.mem.stats().embedding_dim is not None:
            depth = wanted
            while True:
                hits = self.mem.search(vector=query_vector, mode="vec", uri_prefix=prefix, where=where, limit=depth)
                best = {}
                for hit in hits:  # best first: an item's first hit is its best text
                    assert hit.uri is not None
                    best.setdefault(hit.uri.split("#", 1)[0], (hit.score, hit.frame))
                if len(best) >= wanted or len(hits) < depth:
                    break
                depth *= 4
        kept = [self._search_item(frame, score) for score, frame in list(best.values())[op.offset : wanted]]
        if len(kept) < op.limit:
            # As InMemoryStore: items with nothing embedded fill the page after the scored ones.
            scoreless = (
                f for f in self.mem.frames(kind=KIND_ITEM, uri_prefix=prefix, where=where) if f.embedding is None
            )
            kept.extend(self._search_item(f, None) for f in islice(scoreless, op.limit - len(kept)))
        return kept

    def _all_namespaces(self) -> list[tuple[str, ...]]:
        head = self.mem.head.id
        if self._namespaces is None or self._namespaces[0] != head:
            found = {_parse_uri(f.uri or "")[0] for f in self.mem.frames(kind=KIND_ITEM, uri_prefix=ROOT)}
            self._namespaces = (head, sorted(found))
        return self._namespaces[1]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces = [
            ns for ns in self._all_namespaces() if all(_matches_namespace(c, ns) for c in op.match_conditions or ())
        ]
        if op.max_depth is not None:
            namespaces = sorted({ns[: op.max_depth] for ns in namespaces})
        return namespaces[op.offset : op.offset + op.limit]

    # -- writing -------------------------------------------------------------------

    def _apply(
        self,
        puts: dict[tuple[tuple[str, ...], str], PutOp],
        texts: dict[tuple[tuple[str, ...], str], list[str]],
        vectors: dict[str, Vector],
    ) -> None:
        changed = 0
        try:
            for (namespace, key), op in puts.items():
                uri = _item_uri(namespace, key)
                old = find(self.mem, uri)
                created_at = None
                if old is not None:
                    created_at = old.timestamp or old.created_at
                    self.mem.delete(uri)
                    for n in range(1, int(old.tags.get("texts", "1"))):
                        if find(self.mem, f"{uri}#{n}") is not None:
                            self.mem.delete(f"{uri}#{n}")
                    changed += 1
                if op.value is None:
                    continue
                own = texts.get((namespace, key), [])
                self.mem.put(
                    "\n".join(own) if own else _json_text(op.value),
                    uri=uri,
                    kind=KIND_ITEM,
                    metadata=op.value,
                    timestamp=created_at,
                    tags={"texts": str(len(own))} if len(own) > 1 else None,
                    embedding=vectors[own[0]] if own else None,
                )
                for n, text in enumerate(own[1:], start=1):
                    self.mem.put(
                        text,
                        uri=f"{uri}#{n}",
                        kind=KIND_VECTOR,
                        metadata=op.value,
                        timestamp=created_at,
                        embedding=vectors[text],
                    )
                changed += 1
            if changed:
                self.mem.commit(f"store: {len(puts)} put(s)")
        except BaseException:
            self.mem.rollback()
            raise
