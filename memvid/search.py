"""Search: lexical, vector and hybrid retrieval over one commit of a capsule.

Scores, so that ``threshold`` means something:

- ``lex``: tantivy's BM25 score (0 and up, unbounded; depends on the corpus).
- ``vec``: cosine similarity between the query and frame vectors (-1 to 1).
- ``hybrid`` with ``fusion="adaptive"`` (the default): ``a * vec + (1 - a) * lex``, 0 to
  1 (1 for a frame both retrievers rank first), with BM25 divided by the top BM25, the
  cosine rescaled so that the best match is 1 and a frame no closer than an average frame
  of the capsule is 0, and the vector weight ``a`` chosen per query from how clearly the
  vector search found a match, against a calibration the commit records in its manifest
  (see :mod:`memvid.fusion`; ``alpha`` and ``rrf_k`` are not used).
- ``hybrid`` with ``fusion="rrf"``: reciprocal-rank fusion, ``sum(1 / (rrf_k + rank))``
  over the retrievers that found the frame (ranks from 1). Between 0 and
  ``2 / (rrf_k + 1)``.
- ``hybrid`` with ``fusion="weighted"``: ``alpha * vec + (1 - alpha) * lex``
  where each retriever's scores are min-max normalised over its candidates
  (0 to 1; a retriever that did not find the frame contributes 0).

``auto`` is deterministic: hybrid when the capsule has vectors and a query
vector can be had (an embedder is set, or ``vector=`` is given), else lex.
"""

from __future__ import annotations

import bisect
import enum
import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, replace
from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from memvid._threads import thread_pool
from memvid._time import TimeLike, to_us
from memvid.engine.manifest import BatchEntry
from memvid.engine.snapshot import BatchRows, Snapshot, _filter_mask
from memvid.errors import CorruptCapsuleError, InvalidInputError
from memvid.filters import Predicate, compile_where, where_key
from memvid.frame import Frame, check_tags
from memvid.fusion import FUSIONS, Fusion, calibration, fuse
from memvid.index import vec_segments
from memvid.index.lex import LexFilters, LexIndex, analyzer
from memvid.index.vec import search_segments

__all__ = ["Hit", "SearchMode", "SearchRequest", "SearchRequestBuilder", "SearchResults"]


class SearchMode(enum.StrEnum):
    LEX = "lex"
    VEC = "vec"
    HYBRID = "hybrid"
    AUTO = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchRequest:
    """One search. Build with keywords or :meth:`builder`::

        SearchRequest(query="tea", mode="hybrid", limit=5, tags={"person": "alice"})
        SearchRequest.builder().query("tea").mode(SearchMode.HYBRID).limit(5).threshold(0.2).build()

    Filters: ``where`` (a metadata filter, see :mod:`memvid.filters`), ``kind``,
    ``tags`` (all must match), ``uri_prefix``, ``since`` /
    ``until`` on each frame's effective time (its ``timestamp``, else
    ``created_at``), ``created_since`` / ``created_until`` on ``created_at``;
    ``since`` bounds are inclusive, ``until`` bounds exclusive. ``depth`` is how
    many candidates each retriever returns before fusion (default
    ``max(4 * limit, 50)``).
    """

    query: str | None = None
    vector: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None
    mode: SearchMode | str = SearchMode.AUTO
    limit: int = 10
    threshold: float | None = None
    kind: str | None = None
    tags: Mapping[str, str] | None = None
    uri_prefix: str | None = None
    since: TimeLike | None = None
    until: TimeLike | None = None
    created_since: TimeLike | None = None
    created_until: TimeLike | None = None
    where: Mapping[str, Any] | None = None
    snippet_chars: int = 200
    fusion: Fusion = "adaptive"
    rrf_k: int = 60
    alpha: float = 0.5
    depth: int | None = None

    @staticmethod
    def builder() -> SearchRequestBuilder:
        return SearchRequestBuilder()


class SearchRequestBuilder:
    """Fluent construction of :class:`SearchRequest`: one method per field, then ``build()``."""

    def __init__(self) -> None:
        self._request = SearchRequest()

    def __getattr__(self, name: str) -> Callable[[Any], SearchRequestBuilder]:
        if name not in SearchRequest.__dataclass_fields__:
            raise AttributeError(name)

        def set_field(value: Any) -> SearchRequestBuilder:
            self._request = replace(self._request, **{name: value})
            return self

        return set_field

    def build(self) -> SearchRequest:
        return self._request


class _HitRows:
    """Where one search's hits live, shared by its hits: each hit's batch and row, found for
    every hit at once (one read per batch) the first time any hit reads a field, and the
    whole frames, built the first time any hit asks for its :attr:`Hit.frame`. A caller that
    reads ids and scores only, such as a pipeline handing ids on, reads no batch: at a million
    frames a hit's batch is rarely cached, and reading one (a ~1.6 MB block checked and
    decompressed whole) took ~4 ms.

    Hits must work after the capsule is closed, so what was not read yet is read before it
    closes (:meth:`settle`). Batches are read without their vectors (see
    :class:`~memvid.engine.snapshot.BatchRows`); the frames read those again whole."""

    __slots__ = ("__weakref__", "_frames", "_located", "_lock", "_scored", "_snapshot")

    def __init__(self, snapshot: Snapshot, scored: list[tuple[int, float]]) -> None:
        self._snapshot = snapshot
        self._scored = scored
        self._located: dict[int, tuple[BatchRows, int]] | None = None
        self._frames: dict[int, Frame] | None = None
        self._lock = threading.Lock()
        snapshot.reader.hold_until_close(self)

    def row(self, frame_id: int) -> tuple[BatchRows, int]:
        """``frame_id``'s batch and row (every hit's, read at the first call)."""
        located = self._located
        if located is None:
            with self._lock:
                located = self._locate()
        found = located.get(frame_id)
        if found is None:  # the retrievers only name frames of this commit, unless an index is forged
            raise CorruptCapsuleError(f"a search index names frame {frame_id}, which this commit does not hold")
        return found

    def settle(self) -> None:
        """Read what the hits may still ask for (the capsule is about to close)."""
        with self._lock:
            located = self._locate()
            if any(not rows.complete for rows, _ in located.values()):
                self._build()

    def get(self, frame_id: int) -> Frame:
        with self._lock:
            self._locate()
            return self._build()[frame_id]

    def _locate(self) -> dict[int, tuple[BatchRows, int]]:
        if self._located is None:
            self._located = _locate(self._snapshot, self._scored)
        return self._located

    def _build(self) -> dict[int, Frame]:
        if self._frames is None:
            assert self._located is not None
            by_batch: dict[int, tuple[BatchRows, list[int]]] = {}
            for rows, row in self._located.values():
                by_batch.setdefault(id(rows), (rows, []))[1].append(row)
            frames: dict[int, Frame] = {}
            for rows, wanted in by_batch.values():
                if not rows.complete:
                    assert rows.entry is not None
                    rows = self._snapshot.rows(rows.entry)
                frames.update((f.id, f) for f in rows.frames(sorted(wanted)))
            self._frames = frames
        return self._frames


class _Ranks:
    """Where each retriever ranked the frames it found (from 1), for :attr:`Hit.retrievers`:
    made for the whole search when a hit first asks, since most callers never do."""

    __slots__ = ("_by_name", "_ranked")

    def __init__(self, ranked: Mapping[str, Sequence[tuple[int, float]]]) -> None:
        self._ranked = ranked
        self._by_name: dict[str, dict[int, int]] | None = None

    def of(self, frame_id: int) -> dict[str, int]:
        by_name = self._by_name
        if by_name is None:  # two threads may both make it; they get equal values
            ranked = self._ranked
            by_name = self._by_name = {
                name: {fid: i + 1 for i, (fid, _) in enumerate(lst)} for name, lst in ranked.items()
            }
        return {name: ranks[frame_id] for name, ranks in by_name.items() if frame_id in ranks}


_SnippetValue = tuple[str, tuple[tuple[int, int], ...]]
_NO_SNIPPET: Final[_SnippetValue] = ("", ())


class _SnippetMaker:
    """What every snippet of one search shares: the query's stems, their candidate
    prefixes and the width; the stems are found when the first snippet is made."""

    __slots__ = ("_query", "_stems", "_width")

    def __init__(self, query: str | None, width: int) -> None:
        self._query = query
        self._width = width
        self._stems: tuple[set[str], tuple[str, ...] | None] | None = None

    def make(self, text: str) -> _SnippetValue:
        stems = self._stems
        if stems is None:
            terms = _query_terms(self._query) if self._query and self._width else set()
            stems = self._stems = (terms, _candidates(terms))
        return _snippet(text, stems[0], self._width, stems[1])


class Hit:
    """One result. ``retrievers`` maps each retriever that found the frame (``"lex"``,
    ``"vec"``) to its rank there (from 1); ``highlights`` are ``(start, end)`` offsets
    into ``snippet`` of the words that matched the query. ``snippet`` and ``highlights``
    are made the first time either is read; ``frame`` is the whole :class:`Frame`, built
    the first time any hit of the search asks for it. Both work after the capsule is
    closed. Two hits are equal when their fields other than ``frame`` are. Read-only.

    A hit's fields (``uri``, ``title``, ``time``, ``tags``, ``kind``) are read from its
    frame's batch the first time one of them (or the snippet) is read, every hit's batch of
    the search at once; a caller that reads ids and scores only, such as a pipeline or a
    benchmark against a bare index, reads no batch."""

    __slots__ = ("_frame_id", "_maker", "_ranks", "_retrievers", "_score", "_snip", "_values", "_where")

    def __init__(
        self, score: float, frame_id: int, where: _HitRows, ranks: _Ranks, maker: _SnippetMaker | None
    ) -> None:
        self._score = score
        self._frame_id = frame_id
        self._where = where
        self._ranks = ranks
        self._maker = maker
        self._values: tuple[str | None, str | None, Any, dict[str, str], str | None] | None = None
        self._retrievers: dict[str, int] | None = None
        self._snip: _SnippetValue | None = None if maker is not None else _NO_SNIPPET

    @property
    def score(self) -> float:
        return self._score

    @property
    def frame_id(self) -> int:
        return self._frame_id

    def _row_values(self) -> tuple[str | None, str | None, Any, dict[str, str], str | None]:
        values = self._values
        if values is None:  # two threads may both read them; they get equal values
            rows, row = self._where.row(self._frame_id)
            uri, title, kind = rows.string("uri", row), rows.string("title", row), rows.string("kind", row)
            values = self._values = (uri, title, rows.time(row), rows.tags(row), kind)
        return values

    @property
    def uri(self) -> str | None:
        return self._row_values()[0]

    @property
    def title(self) -> str | None:
        return self._row_values()[1]

    @property
    def time(self) -> Any:
        """The frame's effective time: its ``timestamp`` when it has one, else ``created_at``."""
        return self._row_values()[2]

    @property
    def tags(self) -> Mapping[str, str]:
        return self._row_values()[3]

    @property
    def kind(self) -> str | None:
        return self._row_values()[4]

    @property
    def retrievers(self) -> Mapping[str, int]:
        found = self._retrievers
        if found is None:
            found = self._retrievers = self._ranks.of(self._frame_id)
        return found

    def _snippet_value(self) -> _SnippetValue:
        value = self._snip
        if value is None:  # two threads may both make it; they get equal values
            assert self._maker is not None
            rows, row = self._where.row(self._frame_id)
            value = self._snip = self._maker.make(rows.string("text", row) or "")
        return value

    @property
    def snippet(self) -> str:
        """The stretch of the text with the most query words (made on first read)."""
        return self._snippet_value()[0]

    @property
    def highlights(self) -> tuple[tuple[int, int], ...]:
        """``(start, end)`` offsets into :attr:`snippet` of the words matching the query."""
        return self._snippet_value()[1]

    @property
    def frame(self) -> Frame:
        """The whole frame: metadata, payload, checksum, embedding and the fields above."""
        return self._where.get(self._frame_id)

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.score,
            self.frame_id,
            self.uri,
            self.title,
            self.snippet,
            self.highlights,
            self.time,
            self.tags,
            self.kind,
            self.retrievers,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Hit)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        names = ("score", "frame_id", "uri", "title", "snippet", "highlights", "time", "tags", "kind", "retrievers")
        return "Hit(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True)) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "frame_id": self.frame_id,
            "uri": self.uri,
            "title": self.title,
            "snippet": self.snippet,
            "highlights": [list(h) for h in self.highlights],
            "time": self.time.isoformat(),
            "tags": dict(self.tags),
            "kind": self.kind,
            "retrievers": dict(self.retrievers),
        }


@dataclass(frozen=True, slots=True)
class SearchResults(Sequence[Hit]):
    """The hits of one search, best first, with the mode actually used."""

    hits: tuple[Hit, ...]
    mode: SearchMode
    took_ms: float

    @overload
    def __getitem__(self, index: int) -> Hit: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Hit]: ...
    def __getitem__(self, index: int | slice) -> Hit | Sequence[Hit]:
        return self.hits[index]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "took_ms": self.took_ms, "hits": [h.to_dict() for h in self.hits]}


# -- running a search -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Filters:
    kind: str | None
    tags: dict[str, str] | None
    uri_prefix: str | None
    since_us: int | None
    until_us: int | None
    created_since_us: int | None
    created_until_us: int | None
    where: Predicate | None = None
    where_key: str | None = None

    @property
    def any(self) -> bool:
        return self is not _NO_FILTERS and any(
            v is not None
            for v in (
                self.where,
                self.kind,
                self.tags,
                self.uri_prefix,
                self.since_us,
                self.until_us,
                self.created_since_us,
                self.created_until_us,
            )
        )


_NO_FILTERS: Final = _Filters(None, None, None, None, None, None, None)


def _filters(request: SearchRequest) -> _Filters:
    if (
        request.kind is None
        and not request.tags
        and request.uri_prefix is None
        and request.since is None
        and request.until is None
        and request.created_since is None
        and request.created_until is None
        and request.where is None
    ):
        return _NO_FILTERS  # most searches: one shared value, not nine fields made and checked each time

    def us(value: TimeLike | None, name: str) -> int | None:
        return None if value is None else to_us(value, field=name)

    return _Filters(
        kind=request.kind,
        tags=check_tags(request.tags) if request.tags else None,
        uri_prefix=request.uri_prefix,
        since_us=us(request.since, "since"),
        until_us=us(request.until, "until"),
        created_since_us=us(request.created_since, "created_since"),
        created_until_us=us(request.created_until, "created_until"),
        where=None if request.where is None else compile_where(request.where),
        where_key=None if request.where is None else where_key(request.where),
    )


_MODES: Final[Mapping[object, SearchMode]] = {m.value: m for m in SearchMode}
"""``SearchMode(value)`` as a dict lookup (the enum's call costs a microsecond a search; a
member hashes and compares as its value, so members are found too)."""


def check_request(request: SearchRequest) -> tuple[SearchMode, _Filters]:
    try:
        mode = _MODES[request.mode]
    except (KeyError, TypeError):
        raise InvalidInputError(f"mode must be one of lex, vec, hybrid, auto; not {request.mode!r}") from None
    if isinstance(request.limit, bool) or not isinstance(request.limit, int) or request.limit < 1:
        raise InvalidInputError(f"limit must be a positive int, not {request.limit!r}")
    if request.query is not None and not isinstance(request.query, str):
        raise InvalidInputError(f"query must be a str, not {type(request.query).__name__}")
    if request.fusion not in FUSIONS:
        raise InvalidInputError(f"fusion must be one of {', '.join(FUSIONS)}; not {request.fusion!r}")
    if not 0.0 <= request.alpha <= 1.0:
        raise InvalidInputError(f"alpha must be between 0 and 1, not {request.alpha!r}")
    if request.rrf_k < 0 or (request.depth is not None and request.depth < 1):
        raise InvalidInputError("rrf_k must be >= 0 and depth >= 1")
    if request.snippet_chars < 0:
        raise InvalidInputError("snippet_chars must be >= 0")
    return mode, _filters(request)


def run_search(
    snapshot: Snapshot,
    lex_for: Callable[[Snapshot], LexIndex | None],
    request: SearchRequest,
    embed_query: Callable[[str], npt.NDArray[np.float32]] | None,
) -> SearchResults:
    """Run ``request`` on ``snapshot``; ``lex_for`` opens the snapshot's lexical index."""
    started = time.perf_counter()
    mode, filters = check_request(request)
    has_vectors = snapshot.manifest.embedding_dim is not None
    has_text = bool(request.query and request.query.strip())
    can_vec = has_vectors and (request.vector is not None or (embed_query is not None and has_text))
    if mode == SearchMode.AUTO:
        mode = SearchMode.HYBRID if can_vec and has_text else (SearchMode.VEC if can_vec else SearchMode.LEX)
    if mode in (SearchMode.LEX, SearchMode.HYBRID) and not has_text:
        raise InvalidInputError(f"{mode.value} search needs a non-empty query string")
    if mode in (SearchMode.VEC, SearchMode.HYBRID) and not can_vec:
        if not has_vectors:
            raise InvalidInputError(f"{mode.value} search needs vectors, and this capsule has none")
        raise InvalidInputError(
            f"{mode.value} search needs a query vector: pass vector=, or open the capsule with an embedder"
        )
    depth = request.depth or max(4 * request.limit, 50)
    ranked: dict[str, list[tuple[int, float]]] = {}
    vector: npt.NDArray[np.float32] | None = None
    count = depth if mode == SearchMode.HYBRID else request.limit
    if mode in (SearchMode.LEX, SearchMode.HYBRID):
        lexical = _lex(snapshot, lex_for, request.query or "", filters, count)
        if mode == SearchMode.HYBRID and _side_by_side(snapshot, request):
            vector, ranked = _hybrid_side_by_side(snapshot, lexical, request, embed_query, filters, count)
        else:
            ranked["lex"] = lexical()
    if mode == SearchMode.VEC or (mode == SearchMode.HYBRID and "vec" not in ranked):
        vector = _query_vector(request, embed_query, snapshot.manifest.embedding_dim or 0)
        ranked["vec"] = _vec(snapshot, vector, filters, count)
    scored = _fuse(snapshot, ranked, request, vector) if mode == SearchMode.HYBRID else ranked[mode.value]
    if request.threshold is not None:
        scored = [(fid, s) for fid, s in scored if s >= request.threshold]
    scored = scored[: request.limit]
    hits = _hits(snapshot, scored, ranked, request)
    return SearchResults(hits=tuple(hits), mode=mode, took_ms=(time.perf_counter() - started) * 1000)


SIDE_BY_SIDE_FRAMES: Final = 500_000
"""A hybrid search over at least this many live frames runs its lexical search on another
thread while this one searches the vectors (tantivy and usearch both release the GIL). Below
it the two take a fraction of a millisecond each, less than handing one to a thread costs."""


def _side_by_side(snapshot: Snapshot, request: SearchRequest) -> bool:
    """Whether a hybrid search runs its two retrievers at once: when the vector side embeds the
    query (milliseconds of model time the lexical search can hide behind), or when the capsule
    is large enough for both searches to take milliseconds."""
    return request.vector is None or snapshot.manifest.frames_live >= SIDE_BY_SIDE_FRAMES


def _hybrid_side_by_side(
    snapshot: Snapshot,
    lexical: Callable[[], list[tuple[int, float]]],
    request: SearchRequest,
    embed_query: Callable[[str], npt.NDArray[np.float32]] | None,
    filters: _Filters,
    count: int,
) -> tuple[npt.NDArray[np.float32], dict[str, list[tuple[int, float]]]]:
    """The query vector and both retrievers' rankings, the lexical search on the search pool
    while this thread embeds the query and searches the vectors. The lexical search has
    finished when this returns, whichever side fails (the vector side's error wins).

    The lexical search keeps a core busy meanwhile, so the vector segments are searched
    side by side only on the cores left (on 2 cores, one after the other on this thread:
    1M frames, five HNSW segments, hybrid p50 4.7 -> 4.1 ms)."""
    pending = thread_pool("search").submit(lexical)
    try:
        vector = _query_vector(request, embed_query, snapshot.manifest.embedding_dim or 0)
        by_vector = _vec(snapshot, vector, filters, count, threads=max(1, (os.cpu_count() or 1) - 1))
    except BaseException:
        futures.wait([pending])
        raise
    return vector, {"lex": pending.result(), "vec": by_vector}


def _lex(
    snapshot: Snapshot, lex_for: Callable[[Snapshot], LexIndex | None], query: str, f: _Filters, limit: int
) -> Callable[[], list[tuple[int, float]]]:
    """The lexical search, ready to run: the index is opened (or caught up, on a writer) and
    the filters resolved here, on the caller's thread; the search itself may run on another."""
    index = lex_for(snapshot)
    if index is None:
        return list
    live = snapshot.manifest.frames_live
    dead = snapshot.dead
    if not f.any:
        return functools.partial(index.search, query, limit, dead=dead, live=live)
    lex_filters = LexFilters(
        kind=f.kind,
        tags=f.tags,
        uri_prefix=f.uri_prefix,
        since_us=f.since_us,
        until_us=f.until_us,
        created_since_us=f.created_since_us,
        created_until_us=f.created_until_us,
    )
    allowed = _allowed_set(snapshot, f) if f.where is not None else None
    return functools.partial(index.search, query, limit, lex_filters, dead=dead, allowed=allowed, live=live)


def _query_vector(
    request: SearchRequest, embed_query: Callable[[str], npt.NDArray[np.float32]] | None, dim: int
) -> npt.NDArray[np.float32]:
    if request.vector is not None:
        vector = np.asarray(request.vector, dtype=np.float32)
    else:
        assert embed_query is not None and request.query is not None
        vector = np.asarray(embed_query(request.query), dtype=np.float32)
    if vector.shape != (dim,) or not np.all(np.isfinite(vector)):
        raise InvalidInputError(f"the query vector must be {dim} finite numbers, got shape {vector.shape}")
    return vector


def _vec(
    snapshot: Snapshot, vector: npt.NDArray[np.float32], f: _Filters, limit: int, *, threads: int = 0
) -> list[tuple[int, float]]:
    segments = vec_segments(snapshot)
    dead = snapshot.dead
    dead_ids = np.fromiter(dead, dtype=np.uint64, count=len(dead)) if dead else None
    allowed_ids = _allowed_ids(snapshot, f) if f.any else None

    def allowed(ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        ok = np.ones(len(ids), dtype=bool)
        if dead_ids is not None:
            ok &= ~np.isin(ids, dead_ids)
        if allowed_ids is not None:
            ok &= np.isin(ids, allowed_ids)
        return ok

    return search_segments(segments, vector, limit, allowed, threads=threads)


def _allowed_ids(snapshot: Snapshot, f: _Filters) -> npt.NDArray[np.uint64]:
    """Frame ids that pass the filters (vector search filters exactly, not by over-fetching)."""
    key = (
        "filter",
        f.kind,
        tuple(sorted((f.tags or {}).items())),
        f.uri_prefix,
        f.since_us,
        f.until_us,
        f.created_since_us,
        f.created_until_us,
        f.where_key,
    )
    cached = snapshot.extras.get(key)
    if cached is None:
        parts = []
        for entry in snapshot.batch_entries():
            batch = snapshot.rows(entry, vectors=False).batch
            mask = _filter_mask(batch, f.kind, f.tags, f.since_us, f.until_us, f.uri_prefix, f.where)
            if f.created_since_us is not None or f.created_until_us is not None:
                created = np.asarray(batch.column("created_at").view(pa.int64()).to_numpy(), dtype=np.int64)
                m = np.ones(len(created), dtype=bool)
                if f.created_since_us is not None:
                    m &= created >= f.created_since_us
                if f.created_until_us is not None:
                    m &= created < f.created_until_us
                mask = m if mask is None else mask & m
            ids = np.asarray(batch.column(0).to_numpy(), dtype=np.uint64)
            parts.append(ids if mask is None else ids[mask])
        cached = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        if len(snapshot.extras) < 64:
            snapshot.extras[key] = cached
    result: npt.NDArray[np.uint64] = cached
    return result


def _allowed_set(snapshot: Snapshot, f: _Filters) -> frozenset[int]:
    tags = tuple(sorted((f.tags or {}).items()))
    key = (
        "filter-set",
        f.where_key,
        f.kind,
        tags,
        f.uri_prefix,
        f.since_us,
        f.until_us,
        f.created_since_us,
        f.created_until_us,
    )
    cached = snapshot.extras.get(key)
    if cached is None:
        cached = frozenset(_allowed_ids(snapshot, f).tolist())
        if len(snapshot.extras) < 64:
            snapshot.extras[key] = cached
    result: frozenset[int] = cached
    return result


def _fuse(
    snapshot: Snapshot,
    ranked: dict[str, list[tuple[int, float]]],
    request: SearchRequest,
    vector: npt.NDArray[np.float32] | None,
) -> list[tuple[int, float]]:
    adaptive = request.fusion == "adaptive"
    return fuse(
        ranked,
        request.fusion,
        rrf_k=request.rrf_k,
        alpha=request.alpha,
        query_vector=vector,
        calibration=calibration(snapshot) if adaptive else None,
    )


# -- hits and snippets ------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _hits(
    snapshot: Snapshot,
    scored: list[tuple[int, float]],
    ranked: dict[str, list[tuple[int, float]]],
    request: SearchRequest,
) -> list[Hit]:
    """Hits whose fields wait for their first read (then every hit's batch is read), the
    snippets for :attr:`Hit.snippet`, the whole frames for :attr:`Hit.frame`."""
    if not scored:
        return []
    width = request.snippet_chars
    maker = _SnippetMaker(request.query, width) if width else None
    where = _HitRows(snapshot, scored)
    ranks = _Ranks(ranked)
    return [Hit(score, fid, where, ranks, maker) for fid, score in scored]


def _batch_table(snapshot: Snapshot) -> tuple[list[int], list[BatchEntry]]:
    """Every frames batch of ``snapshot`` and its first frame id, in id order, made once per
    snapshot: a hit's batch is then one bisection (``Snapshot.rows_by_id`` finds the segment,
    then its directory, then the batch: ~0.4 us more a hit)."""
    table = snapshot.extras.get("hit-batches")
    if table is None:
        entries = list(snapshot.batch_entries())
        table = snapshot.extras["hit-batches"] = ([e.first_id for e in entries], entries)
    result: tuple[list[int], list[BatchEntry]] = table
    return result


def _locate(snapshot: Snapshot, scored: list[tuple[int, float]]) -> dict[int, tuple[BatchRows, int]]:
    """Each scored frame's batch (read without its vectors) and row; ids the snapshot does not
    hold are left out."""
    firsts, entries = _batch_table(snapshot)
    located: dict[int, tuple[BatchRows, int]] = {}
    read: dict[int, BatchRows] = {}  # hits often share batches: each is fetched once
    for fid, _ in scored:
        j = bisect.bisect_right(firsts, fid) - 1
        if j < 0 or fid > entries[j].last_id:
            continue
        rows = read.get(j)
        if rows is None:
            rows = read[j] = snapshot.rows(entries[j], vectors=False)
        row = rows.row_of(fid)
        if row is not None:
            located[fid] = (rows, row)
    return located


_ANALYZER: Any = None
_STEM_CACHE: dict[str, str | None] = {}
_STEM_CACHE_MAX: Final = 200_000
_stem_lock = threading.Lock()


def _stems(words: Sequence[str]) -> list[str | None]:
    """The en_stem token of each word (``None`` for words the index would drop). Words
    repeat across texts, so stems are remembered (up to a bound) for the process."""
    global _ANALYZER
    cache = _STEM_CACHE
    missing = [w for w in words if w not in cache]
    if missing:
        with _stem_lock:
            if _ANALYZER is None:
                _ANALYZER = analyzer()
            if len(cache) + len(missing) > _STEM_CACHE_MAX:
                cache.clear()
            for word in missing:
                tokens = _ANALYZER.analyze(word) if len(word) < 40 else []
                cache[word] = tokens[0] if len(tokens) == 1 else None
    return [cache.get(w) for w in words]


_STOP: Final = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it"),
        *("no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they"),
        *("this", "to", "was", "will", "with", "what", "which", "who", "how", "does", "do", "did"),
    }
)
"""Words snippets do not mark or centre on (they still count for BM25): Lucene's English stop
words and a few question words."""


def _query_terms(query: str) -> set[str]:
    words = [w.lower() for w in _WORD.findall(query) if w.upper() not in ("AND", "OR", "NOT")]
    return {s for s in _stems([w for w in words if w not in _STOP]) if s}


def _candidates(terms: set[str]) -> tuple[str, ...] | None:
    """The prefixes of the words that might stem to one of ``terms``: all but the last
    letter of a stem (English stemming rewrites only a word's end, and leaves at most the
    stem's last letter different: hoping/hope, happy/happi, cries/cri), plus the three
    exceptions Snowball rewrites at the start (dying/die, lying/lie, tying/tie). Each
    candidate word is then stemmed, so the prefixes only have to let every true match
    through. A prefix that starts with another is dropped: the shorter finds its words."""
    if not terms:
        return None
    prefixes = sorted({t[:-1] or t for t in terms} | {t[0] + "y" for t in terms & {"die", "lie", "tie"}})
    kept: list[str] = []
    for prefix in prefixes:  # sorted, so a prefix's own prefixes come before it
        if not any(prefix.startswith(k) for k in kept):
            kept.append(prefix)
    return tuple(kept)


_WORD_REST = re.compile(r"[^\W_]*")


def _candidate_words(lowered: str, prefixes: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """``(start, end, word)`` of every word of ``lowered`` that starts with one of
    ``prefixes``, in order. Words are runs of letters and digits, as the lexical index
    splits them; ``str.find`` per prefix is several times faster than one regex
    alternation tried at every position."""
    spans: dict[int, int] = {}
    for prefix in prefixes:
        at = lowered.find(prefix)
        while at >= 0:
            if (at == 0 or not lowered[at - 1].isalnum()) and at not in spans:
                match = _WORD_REST.match(lowered, at + len(prefix))
                spans[at] = match.end() if match else at + len(prefix)
            at = lowered.find(prefix, at + 1)
    return [(a, b, lowered[a:b]) for a, b in sorted(spans.items())]


def _snippet(
    text: str, terms: set[str], width: int, prefixes: tuple[str, ...] | None = None
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of about ``width`` characters with the most query words, and where they are."""
    if width == 0:
        return "", ()
    matches: list[tuple[int, int]] = []
    if terms:
        prefixes = prefixes or _candidates(terms)
        assert prefixes is not None
        lowered = text.lower()
        if len(lowered) == len(text):  # offsets agree: scan the lowered text
            words = _candidate_words(lowered, prefixes)
        else:
            pattern = "|".join(map(re.escape, sorted(prefixes, key=len, reverse=True)))
            anycase = re.compile(r"(?<![^\W_])(?:" + pattern + r")[^\W_]*", re.IGNORECASE)
            words = [(m.start(), m.end(), m.group().lower()) for m in anycase.finditer(text)]
        unique = list({w for _, _, w in words})
        hit = {w for w, stem in zip(unique, _stems(unique), strict=True) if stem in terms}
        matches = [(a, b) for a, b, w in words if w in hit]
    if len(text) <= width:
        return text, tuple(matches)
    start = 0
    if matches:
        # Matches do not overlap, so their ends rise with their starts: count by bisection.
        ends = [b for _, b in matches]
        best, best_count, j = 0, 0, 0
        for i, (a, _) in enumerate(matches):
            while matches[j][0] < a - width // 2 and j < i:
                j += 1
            count = bisect.bisect_right(ends, matches[j][0] + width, j, i + 1) - j
            if count > best_count:
                best, best_count = j, count
        start = max(0, min(matches[best][0] - width // 4, len(text) - width))
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space >= 0 and start - space < 20 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    snippet = text[start:end]
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    inside = tuple((a + shift, b + shift) for a, b in matches if a >= start and b <= end)
    return prefix + snippet + suffix, inside
