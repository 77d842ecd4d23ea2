"""A structural check of a usearch HNSW blob, run before usearch reads it.

A block's digest stops accidental damage, not forgery: a hostile capsule can
carry a vector index blob whose every checksum is right and whose graph points
outside itself. usearch checks little when it loads or views a blob (the sizes
of the header, the levels and the node tape), then follows neighbour slots,
levels and the entry point without bounds checks, so such a blob makes a search
read outside the buffer (a segfault). This module parses the whole blob as
usearch 2.x serialises a dense index (the one layout :func:`memvid.index.vec.build_hnsw`
writes) and refuses anything that could take usearch outside it:

- the vectors section: ``rows`` and ``cols`` (u32 each), then ``rows * cols`` bytes;
- the 64-byte dense head: magic ``usearch``, version 2.x (x >= 10), metric ``cos`` (or
  ``ip`` for f32 and f16 vectors, which are unit length: the same distances), the
  scalar kind the capsule's manifest names, u64 keys, u32 slots, ``count_present ==
  rows``, no deleted entries, ``dimensions`` matching ``cols`` and the capsule, no multi-keys;
- the graph header (five u64: size, connectivity, base connectivity, max level, entry
  slot), then one i16 level per node, then the nodes, each ``key u64, level i16``, a
  base neighbour list (``count u32`` + ``connectivity_base`` u32 slots) and one list of
  ``connectivity`` slots per level above 0; the blob ends exactly after the last node.

and, node by node: the level in the node equals the level in the table and lies in
``[0, max_level]``; the entry slot has the top level; every neighbour count fits its
list; every neighbour slot names a node, and one reached at level ``l`` has a level of
at least ``l``; keys are distinct frame ids inside the segment's id range. A blob that
passes is a graph usearch can walk without leaving it. The check is vectorised (numpy)
and costs about 50 ms per 100k nodes on a quiet core (usearch's own view: 10 ms), once per
blob a process opens.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from memvid.errors import CorruptCapsuleError

__all__ = ["check_hnsw"]

_MAGIC: Final = b"usearch"
_HEAD: Final = 64  # the dense head, in bytes
_GRAPH_HEADER: Final = 40  # five u64
_METRIC_COS: Final = ord("c")
_METRIC_IP: Final = ord("i")  # inner product: the same as cos on unit vectors, f32 and f16 only
_SCALAR: Final = {"f32": (11, 4), "f16": (12, 2), "i8": (23, 1)}  # usearch scalar_kind_t, bytes per value
_KEY_U64: Final = 14
_SLOT_U32: Final = 15
_MAX_CONNECTIVITY: Final = 1024
_MAX_LEVEL: Final = 64
_CHUNK: Final = 1 << 13  # nodes checked per step (bounds the gather arrays to ~10 MiB)

_I64 = npt.NDArray[np.int64]


def _corrupt(problem: str) -> CorruptCapsuleError:
    return CorruptCapsuleError(f"a vector index block is malformed: {problem}", kind="vec")


def _rows(data: npt.NDArray[np.uint8], at: _I64, width: int) -> npt.NDArray[np.uint8]:
    """The ``width`` bytes at each offset of ``at``, one row each (C-contiguous)."""
    rows: npt.NDArray[np.uint8] = data[at[:, None] + np.arange(width)]
    return rows


def _scalar(data: npt.NDArray[np.uint8], pos: int, size: int) -> int:
    return int.from_bytes(data[pos : pos + size].tobytes(), "little")


def check_hnsw(
    blob: bytes | bytearray | memoryview,
    *,
    dtype: str,
    dim: int | None,
    first_id: int,
    last_id: int,
    rows: int,
) -> int:
    """Raise :class:`CorruptCapsuleError` unless ``blob`` is a well-formed usearch index of
    at most ``rows`` vectors of ``dim`` values of ``dtype``, keyed by distinct frame ids in
    ``[first_id, last_id]`` (the segment it indexes). Returns its number of nodes."""
    if dtype not in _SCALAR:
        raise _corrupt(f"unknown scalar type {dtype!r}")
    kind, width = _SCALAR[dtype]
    size = memoryview(blob).nbytes
    if size < 8:
        raise _corrupt("shorter than its vectors header")
    data = np.frombuffer(blob, dtype=np.uint8)
    nvec, cols = _scalar(data, 0, 4), _scalar(data, 4, 4)
    if nvec == 0 or nvec > rows:
        raise _corrupt(f"{nvec} vectors for a segment of {rows} frames")
    if cols == 0 or cols % width or (dim is not None and cols != dim * width):
        raise _corrupt(f"vectors of {cols} bytes, not {dim} values of {dtype}")
    head = 8 + nvec * cols
    graph = head + _HEAD
    levels_at = graph + _GRAPH_HEADER
    if levels_at + 2 * nvec > size:
        raise _corrupt("shorter than its vectors, head and level table")
    if data[head : head + 7].tobytes() != _MAGIC:
        raise _corrupt("no usearch head after the vectors")
    major, minor = _scalar(data, head + 7, 2), _scalar(data, head + 9, 2)
    metric, scalar, key_kind, slot_kind = (int(x) for x in data[head + 13 : head + 17])
    present, deleted, dims, multi = (
        _scalar(data, head + 17, 8),
        _scalar(data, head + 25, 8),
        _scalar(data, head + 33, 8),
        int(data[head + 41]),
    )
    if major != 2 or minor < 10:
        raise _corrupt(f"usearch format {major}.{minor}, not 2.10 or later")
    metrics = (_METRIC_COS, _METRIC_IP) if dtype in ("f32", "f16") else (_METRIC_COS,)
    if metric not in metrics or (scalar, key_kind, slot_kind) != (kind, _KEY_U64, _SLOT_U32):
        raise _corrupt(f"metric/scalar/key/slot kinds {(metric, scalar, key_kind, slot_kind)}")
    if present != nvec or deleted != 0 or dims != cols // width or multi != 0:
        raise _corrupt(f"head counts {present} present, {deleted} deleted, {dims} dims for {nvec} vectors")
    count, conn, conn0, max_level, entry = (_scalar(data, graph + 8 * i, 8) for i in range(5))
    if count != nvec:
        raise _corrupt(f"{count} graph nodes for {nvec} vectors")
    if not 2 <= conn <= _MAX_CONNECTIVITY or not conn <= conn0 <= 2 * _MAX_CONNECTIVITY:
        raise _corrupt(f"connectivity {conn}/{conn0}")
    if max_level > _MAX_LEVEL or entry >= count:
        raise _corrupt(f"top level {max_level}, entry slot {entry} of {count}")

    levels = np.frombuffer(blob, dtype="<i2", offset=levels_at, count=count).astype(np.int64)
    if levels.min() < 0 or levels.max() != max_level or levels[entry] != max_level:
        raise _corrupt("node levels disagree with the top level and the entry slot")
    base_bytes = 10 + 4 + 4 * conn0  # key, level, base neighbour list
    upper_bytes = 4 + 4 * conn
    node_bytes = base_bytes + levels * upper_bytes
    offsets = np.empty(count, dtype=np.int64)
    offsets[0] = levels_at + 2 * count
    np.cumsum(node_bytes[:-1], out=offsets[1:])
    offsets[1:] += offsets[0]
    if int(offsets[-1] + node_bytes[-1]) != size:
        raise _corrupt(f"nodes end at byte {int(offsets[-1] + node_bytes[-1])} of {size}")

    keys = np.empty(count, dtype=np.uint64)
    for start in range(0, count, _CHUNK):
        at = offsets[start : start + _CHUNK]
        lv = levels[start : start + _CHUNK]
        node = _rows(data, at, base_bytes)  # key, level, base neighbour list
        keys[start : start + _CHUNK] = np.ascontiguousarray(node[:, :8]).view("<u8")[:, 0]
        if not np.array_equal(np.ascontiguousarray(node[:, 8:10]).view("<i2")[:, 0], lv):
            raise _corrupt("a node's level differs from the level table")
        _check_lists(np.ascontiguousarray(node[:, 10:]).view("<u4"), conn0, count, levels, 0)
        for level in range(1, max_level + 1):
            upper = at[lv >= level] + base_bytes + (level - 1) * upper_bytes
            if len(upper):
                _check_lists(_rows(data, upper, upper_bytes).view("<u4"), conn, count, levels, level)
    if int(keys.min()) < first_id or int(keys.max()) > last_id:
        raise _corrupt(f"keys outside the segment's frame ids {first_id}..{last_id}")
    if len(np.unique(keys)) != count:
        raise _corrupt("a key names two nodes")
    return count


def _check_lists(lists: npt.NDArray[np.uint32], capacity: int, count: int, levels: _I64, level: int) -> None:
    """Neighbour lists, one a row (``count`` then ``capacity`` slots): counts within
    ``capacity``, used slots naming nodes whose level is at least ``level``."""
    counts = lists[:, 0].astype(np.int64)
    if int(counts.max()) > capacity:
        raise _corrupt(f"a level-{level} neighbour list of {int(counts.max())} over its {capacity} slots")
    slots = lists[:, 1:][np.arange(capacity) < counts[:, None]].astype(np.int64)
    if len(slots) and int(slots.max()) >= count:
        raise _corrupt(f"a level-{level} neighbour slot {int(slots.max())} outside {count} nodes")
    if level and len(slots) and int(levels[slots].min()) < level:
        raise _corrupt(f"a level-{level} neighbour below that level")
