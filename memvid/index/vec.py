"""Vector search: exact numpy for small segments, usearch HNSW for large ones.

Vectors live in the frames segments (the ``embedding`` column). A segment of
at least :data:`HNSW_MIN_ROWS` frames also gets an HNSW index, stored as a
verified block and opened as a zero-copy ``view`` once its digest passes (no
rebuild at open). When compaction merges segments, the new segment's index
starts from a copy of its largest input's index and adds the other vectors,
so a vector is inserted O(1) times on average, not once per merge level.
Smaller segments are searched exactly. Scores are cosine similarities.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from memvid._threads import quick_gil_handoff, thread_pool
from memvid.errors import CorruptCapsuleError, InvalidInputError
from memvid.format.block import BlockRef
from memvid.format.limits import MAX_BLOCK_RAW
from memvid.index.hnsw_check import check_hnsw

__all__ = ["HNSW_MIN_ROWS", "HnswShape", "VecDtype", "VecState", "build_hnsw", "search_segments"]

HNSW_MIN_ROWS: Final = 8192
"""Segments at least this large get an HNSW index. Below it, exact search is faster than
HNSW's overhead (about 0.3 ms for 5k 384-d vectors); with size-tiered compaction at most
seven segments per level lie below it, so an exact scan never exceeds about 60k vectors."""
VecDtype = Literal["f32", "f16", "i8"]
CONNECTIVITY: Final = 16
EXPANSION_ADD: Final = 64
"""Candidates kept while inserting. 64 builds in about half the time of 128 at nearly the same
recall: 100k perturbed real MiniLM vectors, f16, recall@10 against exact 0.984 vs 0.992, build
41.6 s vs 71.6 s on 2 busy cores (FAISS IndexHNSWFlat, M=16, efConstruction=128, same run: 38.1 s).
48 saved about a tenth more at 0.986, a thinner margin for larger segments, whose recall is lower."""
EXPANSION_SEARCH: Final = 96


def metric_for(dtype: VecDtype) -> Literal["ip", "cos"]:
    """The usearch metric new indexes of ``dtype`` get. Vectors and queries are unit length
    (:func:`normalise`), so inner product orders and scores them as cosine does, for about a
    fifth less build CPU (``cos`` computes two norms at every distance; 100k perturbed real
    vectors, f16, one thread: 12.2 s vs 15.7 s CPU, recall@10 0.989 both). Not for i8:
    usearch's i8 inner product is not rescaled (distances in the thousands), so i8 stays
    ``cos``. Older indexes keep the metric they were built with (a blob records it)."""
    return "cos" if dtype == "i8" else "ip"


Matrix = npt.NDArray[np.float32]
Ids = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class VecState:
    """The HNSW indexes of one commit: segment directory offset -> index block."""

    dtype: VecDtype
    segments: Mapping[int, BlockRef]

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "dtype": self.dtype,
            "segments": {str(k): ref.to_json() for k, ref in sorted(self.segments.items())},
        }

    @classmethod
    def from_json(cls, value: Any, limit: int) -> VecState:
        if not isinstance(value, dict) or value.get("v") != 1 or value.get("dtype") not in ("f32", "f16", "i8"):
            raise CorruptCapsuleError("malformed vector index entry in the manifest")
        raw = value.get("segments")
        if not isinstance(raw, dict):
            raise CorruptCapsuleError("malformed vector index entry in the manifest")
        segments = {}
        for key, ref_json in raw.items():
            if not isinstance(key, str) or not key.isdigit():
                raise CorruptCapsuleError("malformed vector index entry in the manifest")
            ref = BlockRef.from_json(ref_json)
            if ref.offset + ref.length > limit:
                raise CorruptCapsuleError("vector index block lies after its manifest")
            segments[int(key)] = ref
        return cls(dtype=value["dtype"], segments=segments)


def check_dtype(dtype: object) -> VecDtype:
    if dtype not in ("f32", "f16", "i8"):
        raise InvalidInputError(f"vector dtype must be 'f32', 'f16' or 'i8', not {dtype!r}")
    return dtype


def normalise(vectors: Matrix) -> Matrix:
    """Unit-length rows (an all-zero row stays zero). A finite row whose squared norm
    overflows float32 (components beyond ~1e19) is scaled down first, not turned into zeros."""
    vectors = np.asarray(vectors, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        # einsum sums the squares without a temporary the size of the input (100k x 384: 10 ms
        # where np.linalg.norm took 40 ms, 250 ms when its temporary's pages were fresh)
        norms = np.sqrt(np.einsum("...i,...i->...", vectors, vectors))[..., None]
    huge = ~np.isfinite(norms[..., 0])
    if huge.any():
        vectors = np.array(vectors, dtype=np.float32)  # a copy: the caller's stays as it was
        rows = vectors[huge]
        rows /= np.abs(rows).max(axis=-1, keepdims=True)
        vectors[huge] = rows
        norms[huge] = np.linalg.norm(rows, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    out = np.empty(vectors.shape, dtype=np.float32)
    np.divide(vectors, norms, out=out)
    return out


def segment_vectors(batches: Sequence[pa.RecordBatch]) -> tuple[Ids, Matrix]:
    """The frame ids and unit vectors of every row of a segment that has an embedding."""
    ids_parts: list[Ids] = []
    vec_parts: list[Matrix] = []
    for batch in batches:
        if "embedding" not in batch.schema.names:
            continue
        column = cast("pa.FixedSizeListArray[Any, Any]", batch.column("embedding"))
        dim = column.type.list_size
        valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if not valid.any():
            continue
        flat = np.asarray(column.values.to_numpy(zero_copy_only=False), dtype=np.float32)
        matrix = flat.reshape(-1, dim)[column.offset : column.offset + len(column)]
        ids = np.asarray(batch.column(0).to_numpy(), dtype=np.uint64)
        ids_parts.append(ids[valid])
        vec_parts.append(matrix[valid])
    if not ids_parts:
        return np.zeros(0, np.uint64), np.zeros((0, 0), np.float32)
    return np.concatenate(ids_parts), normalise(np.concatenate(vec_parts))


def _usearch() -> Any:
    try:
        from usearch.index import Index
    except ImportError as exc:  # pragma: no cover - usearch is a core dependency
        raise InvalidInputError("vector search needs usearch: pip install usearch") from exc
    return Index


_HNSW_ROW_OVERHEAD: Final = 160
"""Bytes an HNSW blob holds per vector beside the vector itself, rounded up (usearch 2.x with
connectivity 16: 148.6 measured, for every dimension and scalar kind)."""


def hnsw_max_rows(dim: int, dtype: VecDtype) -> int:
    """The most vectors one HNSW blob may index and still fit in a block, with an eighth to spare
    (a merge of eight 100k-vector segments of 384-d f16 made a 733 MB blob, over the 256 MiB limit)."""
    per_row = dim * {"f32": 4, "f16": 2, "i8": 1}[dtype] + _HNSW_ROW_OVERHEAD
    return (MAX_BLOCK_RAW - MAX_BLOCK_RAW // 8) // per_row


def build_hnsw(
    ids: Ids,
    vectors: Matrix,
    dtype: VecDtype,
    *,
    base: tuple[bytes, HnswShape] | None = None,
    threads: int = 0,
) -> bytes:
    """Serialise an HNSW index over ``vectors``; with ``base`` (a blob read from the capsule
    and the shape it must have), extend a copy of that index."""
    index_cls = _usearch()
    if base is not None:
        blob, shape = base
        shape.check(blob)
        try:
            index = index_cls.restore(bytearray(blob), view=False)
        except (RuntimeError, ValueError) as exc:
            raise CorruptCapsuleError(f"a vector index block does not load: {exc}") from exc
        if index is None:
            raise CorruptCapsuleError("a vector index block does not load")
        # A saved index does not keep its expansion settings: restored, it would insert with
        # usearch's default 128 (twice the work of EXPANSION_ADD; a merge of two 100k-vector
        # segments took 50.8 s where building the new one's own index took 26.9 s).
        index.expansion_add = EXPANSION_ADD
        index.expansion_search = EXPANSION_SEARCH
        present = np.asarray(index.contains(ids), dtype=bool) if len(ids) else np.zeros(0, bool)
        ids, vectors = ids[~present], vectors[~present]
    else:
        index = index_cls(
            ndim=vectors.shape[1],
            metric=metric_for(dtype),
            dtype=dtype,
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
    if len(ids):
        # Small builds run on one thread: the graph is then deterministic (a multi-threaded
        # build can differ from run to run), and they are fast anyway.
        with quick_gil_handoff():  # usearch takes the GIL back after every vector it inserts
            index.add(ids, vectors, threads=threads if len(ids) >= 50_000 else 1)
    return bytes(index.save())


@dataclass(frozen=True, slots=True)
class HnswShape:
    """What an HNSW blob must match before usearch reads it: the capsule's vector type and
    dimension, and the segment it indexes (see :mod:`memvid.index.hnsw_check`)."""

    dtype: VecDtype
    dim: int | None
    first_id: int
    last_id: int
    rows: int

    def check(self, blob: bytes | bytearray) -> None:
        check_hnsw(blob, dtype=self.dtype, dim=self.dim, first_id=self.first_id, last_id=self.last_id, rows=self.rows)


class HnswView:
    """An HNSW index opened as a view over verified bytes (kept alive here), after a
    structural check that keeps a forged blob from taking usearch outside it."""

    def __init__(self, payload: bytes, shape: HnswShape) -> None:
        self._buffer = bytearray(payload)
        shape.check(self._buffer)
        try:
            index = _usearch().restore(self._buffer, view=True)
        except (RuntimeError, ValueError) as exc:  # "File is corrupted and can't fit all the nodes"
            raise CorruptCapsuleError(f"a vector index block does not load: {exc}") from exc
        if index is None:
            raise CorruptCapsuleError("a vector index block does not load")
        index.expansion_search = EXPANSION_SEARCH
        self.index = index

    def search(self, query: Matrix, count: int) -> tuple[Ids, npt.NDArray[np.float32]]:
        count = min(count, len(self.index))
        if count <= 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.float32)
        matches = self.index.search(query, count)
        keys = np.asarray(matches.keys, dtype=np.uint64)
        scores = 1.0 - np.asarray(matches.distances, dtype=np.float32)
        keep = keys != np.uint64(2**64 - 1)
        return keys[keep], scores[keep]


class SegmentVectors:
    """What vector search needs of one segment: its frame ids, its unit vectors (loaded
    on first use, so a large segment searched through HNSW never holds them), and the
    HNSW view of a large segment."""

    def __init__(self, ids: Ids, load: Callable[[], Matrix], hnsw: HnswView | None) -> None:
        self.ids = ids
        self._load = load
        self._vectors: Matrix | None = None
        self.hnsw = hnsw

    @property
    def vectors(self) -> Matrix:
        if self._vectors is None:
            self._vectors = self._load()
        return self._vectors


def search_segments(
    segments: Sequence[SegmentVectors],
    query: Matrix,
    limit: int,
    allowed: Callable[[Ids], npt.NDArray[np.bool_]],
    *,
    exact: bool = False,
    threads: int = 0,
) -> list[tuple[int, float]]:
    """The ``limit`` best ``(frame_id, cosine)`` pairs over all segments among ids that
    ``allowed`` accepts (it drops removed frames and applies filters).

    ``threads`` is how many cores the search may keep busy (0: every core); with fewer
    than two, the HNSW segments are searched one after the other on this thread."""
    q = normalise(query.reshape(1, -1))[0]

    def one(seg: SegmentVectors) -> tuple[Ids, npt.NDArray[np.float32]]:
        if seg.hnsw is None or exact:
            return _exact(seg, q, limit, allowed)
        count = limit * 2 + 16
        while True:
            ids, scores = seg.hnsw.search(q, count)
            ok = allowed(ids)
            if ok.sum() >= limit or count >= len(seg.ids):
                return ids[ok], scores[ok]
            if count * 4 >= len(seg.ids):  # a filter this selective: scan the segment exactly
                return _exact(seg, q, limit, allowed)
            count *= 4

    live = [seg for seg in segments if len(seg.ids)]
    graphs = [seg for seg in live if seg.hnsw is not None and not exact]
    if len(graphs) >= 2 and (threads or os.cpu_count() or 1) >= 2:
        # usearch searches without the GIL: several HNSW segments are searched side by side (a
        # capsule of ten 100k-vector segments searched them one after the other: 300k vectors,
        # three segments, 2.84 -> 2.09 ms on two cores). Exact segments stay on this thread.
        done = dict(zip(map(id, graphs), thread_pool("hnsw").map(one, graphs), strict=True))
        results = [done[id(seg)] if id(seg) in done else one(seg) for seg in live]  # in segment order
    else:
        results = [one(seg) for seg in live]
    found_ids = [ids for ids, _ in results]
    found_scores = [scores for _, scores in results]
    if not found_ids:
        return []
    all_ids = np.concatenate(found_ids)
    all_scores = np.concatenate(found_scores)
    order = np.argsort(-all_scores, kind="stable")[:limit]
    return [(int(all_ids[i]), float(all_scores[i])) for i in order]


_BLAS: list[Any] | None = None


def _scores(vectors: Matrix, q: Matrix) -> npt.NDArray[np.float32]:
    """``vectors @ q`` with numpy's BLAS on the calling thread only.

    A query's matrix-vector product is far too small to gain from threads, and on a busy
    machine a multithreaded BLAS call waits for every one of its threads to be scheduled:
    on 2 shared cores, 5k x 384 took 7-8 ms at the median instead of 0.3 ms. The BLAS
    libraries are found once (threadpoolctl finds the one numpy loaded, whichever it is);
    each query then sets and restores their thread count directly, and not at all when it
    is already 1: 35-50 us a query less than ``threadpoolctl``'s ``limit()``, which redoes
    its bookkeeping at every call. ``einsum``, which never calls BLAS and so needs no
    switch, was 15-20% slower than one-thread BLAS on SciFact's 5k vectors.

    Restoring only a count this call changed means threads searching at once can at worst
    run one product on more threads; they never leave the process at the wrong count."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    changed = []
    for lib in _BLAS:
        threads = lib.num_threads
        if threads != 1:
            lib.set_num_threads(1)
            changed.append((lib, threads))
    try:
        scores: npt.NDArray[np.float32] = vectors @ q
    finally:
        for lib, threads in changed:
            lib.set_num_threads(threads)
    return scores


def _exact(
    seg: SegmentVectors, q: Matrix, limit: int, allowed: Callable[[Ids], npt.NDArray[np.bool_]]
) -> tuple[Ids, npt.NDArray[np.float32]]:
    ok = allowed(seg.ids)
    if ok.all():
        ids = seg.ids
        scores = _scores(seg.vectors, q)
    else:
        ids = seg.ids[ok]
        if not len(ids):
            return ids, np.zeros(0, np.float32)
        scores = _scores(seg.vectors[ok], q)
    if len(scores) > limit:
        top = np.argpartition(-scores, limit - 1)[:limit]
        return ids[top], scores[top]
    return ids, scores
