"""The calibration of a capsule's vectors: what ``adaptive`` fusion (:mod:`memvid.fusion`)
knows of a capsule, and the manifest entry that records it.

A :class:`Calibration` is the mean ``m`` of the live frames' unit vectors and ``gap``, the
median over them of (cosine to the nearest other live frame) minus (cosine to ``m``),
both taken over a deterministic sample of at most :data:`CALIBRATION_SAMPLES` frames in a
few runs of consecutive ids (so a large capsule reads a few batches).

A commit records it in its manifest as ``indexes["fusion"]`` (:meth:`Calibration.to_json`;
``docs/explanation/format.md`` states it normatively), so that every process searches a
commit with the same calibration and none computes it at search time. A commit repeats its
parent's entry unless the number of live frames moved by more than a tenth since the entry
was computed (or the vector dimension changed, or on reindex): a capsule is calibrated
O(log n) times over its life, never on a small commit into a large capsule between those
growth points. A commit without an entry (written before entries existed) is calibrated
when first searched, once per snapshot.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from memvid.errors import CorruptCapsuleError
from memvid.index.vec import Ids, Matrix, SegmentVectors, normalise, search_segments

__all__ = ["CALIBRATION_SAMPLES", "ENTRY_VERSION", "Calibration", "calibrate", "needs_calibration"]

CALIBRATION_SAMPLES: Final = 256
"""At most this many frames are sampled to calibrate a capsule (one nearest-neighbour search each)."""
_RUNS: Final = 8
"""The sample is taken in this many runs of consecutive frame ids, spread over the capsule."""
ENTRY_VERSION: Final = 1
"""The version of ``indexes["fusion"]`` this library writes and reads."""
_HNSW_FETCH: Final = 20
"""Neighbours asked of an HNSW segment per sampled frame, before dropping itself and removed frames."""
_EXACT_CHUNK: Final = 16_384
"""Rows of an exact segment compared with the whole sample at once (bounds the memory of one product)."""
_NO_KEY: Final = np.uint64(2**64 - 1)


@dataclass(frozen=True, slots=True)
class Calibration:
    """What ``adaptive`` fusion knows of a capsule: ``mean``, the mean of the sampled
    frames' unit vectors (empty when no frame has a vector); ``gap``, the median over them
    of (cosine to the nearest other frame) minus (cosine to ``mean``), or ``None`` when
    fewer than two frames have vectors; how many frames were ``sampled``; ``frames``, the
    live frames of the commit it was computed at; and how long computing it took
    (``seconds``: 0 for one read from a manifest)."""

    mean: npt.NDArray[np.float32]
    gap: float | None
    sampled: int
    seconds: float
    frames: int = 0

    def to_json(self) -> dict[str, Any]:
        """The manifest entry ``indexes["fusion"]``: the mean as base64 of little-endian float32."""
        mean = base64.b64encode(np.asarray(self.mean, dtype="<f4").tobytes()).decode("ascii")
        return {"v": ENTRY_VERSION, "frames": self.frames, "sampled": self.sampled, "gap": self.gap, "mean": mean}

    @classmethod
    def from_json(cls, value: Any, dim: int | None) -> Calibration | None:
        """The calibration a manifest records for vectors of dimension ``dim``; ``None`` for an
        entry of another version (it is computed again). A malformed entry is a
        :class:`CorruptCapsuleError`: it came through the commit hash, so it was written so."""
        if not isinstance(value, dict):
            raise _malformed("not an object")
        version = value.get("v")
        if not isinstance(version, int) or isinstance(version, bool):
            raise _malformed("no version")
        if version != ENTRY_VERSION:
            return None
        frames: Any = value.get("frames")
        sampled: Any = value.get("sampled")
        gap: Any = value.get("gap")
        mean_b64: Any = value.get("mean")
        if not (_count(frames) and _count(sampled)):
            raise _malformed("frames and sampled must be counts")
        if dim is None:
            raise _malformed("the commit has no vectors")
        if not isinstance(mean_b64, str) or len(mean_b64) > 4 * ((4 * dim + 2) // 3):
            raise _malformed("mean must be base64 of the vector dimension's float32s")
        try:
            raw = base64.b64decode(mean_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _malformed("mean is not base64") from exc
        mean = np.frombuffer(raw, dtype="<f4").astype(np.float32) if len(raw) % 4 == 0 else None
        if mean is None or len(mean) != (dim if sampled else 0):
            raise _malformed(f"mean must hold {dim if sampled else 0} float32s")
        if not np.all(np.isfinite(mean)) or float(np.linalg.norm(mean)) > 1.0 + 1e-3:
            raise _malformed("mean must be finite, of length at most 1 (a mean of unit vectors)")
        if gap is not None and (
            isinstance(gap, bool) or not isinstance(gap, int | float) or not math.isfinite(gap) or abs(gap) > 2.0
        ):
            raise _malformed("gap must be null or a number from -2 to 2")
        if gap is not None and sampled < 2:
            raise _malformed("gap needs at least two sampled frames")
        return cls(mean, None if gap is None else float(gap), sampled, 0.0, frames)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _malformed(why: str) -> CorruptCapsuleError:
    return CorruptCapsuleError(f"malformed fusion calibration entry in the manifest: {why}")


def needs_calibration(recorded: Calibration | None, frames: int, dim: int) -> bool:
    """Whether a commit of ``frames`` live frames with vectors of dimension ``dim`` must compute
    its calibration again rather than repeat ``recorded`` (its parent's): when there is none,
    when its dimension differs, or when the live frames moved by more than a tenth."""
    if recorded is None or (recorded.sampled and len(recorded.mean) != dim):
        return True
    return 10 * abs(frames - recorded.frames) > recorded.frames


def _sample_positions(total: int, count: int, runs: int) -> list[int]:
    """``count`` positions out of ``range(total)`` in ``runs`` runs of consecutive
    positions, evenly spread (all of them when ``total <= count``)."""
    if total <= count:
        return list(range(total))
    per_run = count // runs
    positions: set[int] = set()
    for i in range(runs):
        start = i * (total - per_run) // max(runs - 1, 1)  # integers: the format document states it so
        positions.update(range(start, start + per_run))
    return sorted(positions)


def calibrate(
    segments: Sequence[SegmentVectors],
    dead: Mapping[int, int],
    *,
    samples: int = CALIBRATION_SAMPLES,
    frames: int = 0,
) -> Calibration:
    """The :class:`Calibration` of the live frames in ``segments`` (``frames``: the live
    frames of the commit, recorded with it)."""
    started = time.perf_counter()
    dead_ids = np.fromiter(dead, dtype=np.uint64, count=len(dead)) if dead else None

    def allowed(ids: Ids) -> npt.NDArray[np.bool_]:
        return np.ones(len(ids), dtype=bool) if dead_ids is None else ~np.isin(ids, dead_ids)

    live: list[tuple[SegmentVectors, npt.NDArray[np.int64]]] = []
    for seg in segments:
        rows = np.flatnonzero(allowed(seg.ids)) if len(seg.ids) else np.zeros(0, np.int64)
        if len(rows):
            live.append((seg, rows))
    total = sum(len(rows) for _, rows in live)
    positions = _sample_positions(total, samples, _RUNS)
    picked_ids: list[int] = []
    picked: list[Matrix] = []
    offset, i = 0, 0
    for seg, rows in live:
        end = offset + len(rows)
        chosen = []
        while i < len(positions) and positions[i] < end:
            chosen.append(int(rows[positions[i] - offset]))
            i += 1
        if chosen:
            picked_ids.extend(int(x) for x in seg.ids[chosen])
            picked.append(_vectors_of(seg, chosen))
        offset = end
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # A finite vector whose squared norm overflows float32 normalises to zeros, or to NaNs:
        # such frames are left out, so that what is recorded is always finite.
        vectors = normalise(np.concatenate(picked)) if picked else np.zeros((0, 0), np.float32)
        finite = np.isfinite(vectors).all(axis=1)
        vectors, sampled_ids = vectors[finite], np.asarray(picked_ids, dtype=np.uint64)[finite]
        if not len(vectors):
            return Calibration(np.zeros(0, np.float32), None, 0, time.perf_counter() - started, frames)
        mean = np.ascontiguousarray(vectors.mean(axis=0, dtype=np.float64), dtype=np.float32)
        gap = None
        if total >= 2:
            # One BLAS thread, as for a query (memvid/index/vec.py): on a busy machine a threaded
            # product waits for its threads (5k frames: 23-100 ms threaded, 12-37 ms on one).
            with threadpool_limits(limits=1, user_api="blas"):
                nearest = _nearest_others(segments, allowed, sampled_ids, vectors)
            found = np.isfinite(nearest)
            if found.any():
                gap = float(np.median(nearest[found] - (vectors[found] @ mean).astype(np.float64)))
                gap = min(max(gap, -2.0), 2.0)  # cosines: only rounding could leave -2..2
    return Calibration(mean, gap, len(vectors), time.perf_counter() - started, frames)


def _vectors_of(seg: SegmentVectors, rows: list[int]) -> Matrix:
    if seg.hnsw is not None:
        found = np.asarray(seg.hnsw.index.get(seg.ids[rows]), dtype=np.float32)
        if found.ndim == 2 and found.shape[0] == len(rows):
            return found
    return np.asarray(seg.vectors[rows], dtype=np.float32)


def _nearest_others(
    segments: Sequence[SegmentVectors], allowed: Callable[[Ids], npt.NDArray[np.bool_]], ids: Ids, vectors: Matrix
) -> npt.NDArray[np.float64]:
    """For each sampled frame (``ids``, unit ``vectors``), the cosine of its nearest other
    live frame (``-inf`` when it has none): the whole sample at once, per segment (an exact
    product in chunks, or one batched HNSW search)."""
    best = np.full(len(ids), -np.inf, dtype=np.float64)
    for seg in segments:
        if not len(seg.ids):
            continue
        if seg.hnsw is not None:
            count = min(_HNSW_FETCH, len(seg.hnsw.index))
            matches = seg.hnsw.index.search(vectors, count)
            keys = np.asarray(matches.keys, dtype=np.uint64).reshape(len(ids), -1)
            scores = 1.0 - np.asarray(matches.distances, dtype=np.float64).reshape(len(ids), -1)
            ok = (keys != _NO_KEY) & (keys != ids[:, None]) & allowed(keys.ravel()).reshape(keys.shape)
            ok &= np.isfinite(scores)
            best = np.maximum(best, np.where(ok, scores, -np.inf).max(axis=1, initial=-np.inf))
            # A frame whose fetched neighbours were all removed: search its segment as a query does.
            for row in np.flatnonzero(~ok.any(axis=1)):
                for other, score in search_segments([seg], vectors[row], 2, allowed):
                    if other != int(ids[row]):
                        best[row] = max(best[row], score)
                        break
            continue
        for start in range(0, len(seg.ids), _EXACT_CHUNK):
            part = seg.ids[start : start + _EXACT_CHUNK]
            sims = vectors @ seg.vectors[start : start + _EXACT_CHUNK].T
            ok = allowed(part)[None, :] & (part[None, :] != ids[:, None]) & np.isfinite(sims)
            best = np.maximum(best, np.where(ok, sims, -np.inf).max(axis=1, initial=-np.inf))
    return best
