"""The structural check of usearch HNSW blobs (memvid/index/hnsw_check.py).

Each case alters one field of a real blob the way a forger would (the block digest
is recomputed elsewhere; here only the blob matters) and expects a refusal that
names the problem. Offsets are computed from the layout the module documents, so a
usearch release that changed it would fail the valid-blob test first.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from memvid import CorruptCapsuleError
from memvid.index.hnsw_check import check_hnsw
from memvid.index.vec import build_hnsw

FIRST = 1000
N = 600
DIM = 8


@dataclass
class Layout:
    blob: bytes
    graph: int  # offset of the graph header
    levels: list[int]
    offsets: list[int]  # node offsets
    conn: int
    conn0: int

    def node_list(self, slot: int, level: int) -> int:
        """Offset of node ``slot``'s neighbour list at ``level`` (its count field)."""
        base = self.offsets[slot] + 10
        return base if level == 0 else base + 4 + 4 * self.conn0 + (level - 1) * (4 + 4 * self.conn)


@pytest.fixture(scope="module")
def layout() -> Layout:
    vectors = np.random.default_rng(3).standard_normal((N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    blob = build_hnsw(np.arange(FIRST, FIRST + N, dtype=np.uint64), vectors, "f16")
    rows, cols = struct.unpack_from("<II", blob)
    graph = 8 + rows * cols + 64
    size, conn, conn0, max_level, _entry = struct.unpack_from("<5Q", blob, graph)
    levels = list(struct.unpack_from(f"<{size}h", blob, graph + 40))
    offsets, at = [], graph + 40 + 2 * size
    for level in levels:
        offsets.append(at)
        at += 10 + 4 + 4 * conn0 + level * (4 + 4 * conn)
    assert at == len(blob) and max(levels) == max_level >= 1
    return Layout(blob, graph, levels, offsets, conn, conn0)


def check(blob: bytes, **overrides: object) -> int:
    kwargs: dict[str, object] = {"dtype": "f16", "dim": DIM, "first_id": FIRST, "last_id": FIRST + N - 1, "rows": N}
    kwargs.update(overrides)
    return check_hnsw(blob, **kwargs)  # type: ignore[arg-type]


def edit(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_a_blob_build_hnsw_wrote_passes(layout: Layout) -> None:
    assert check(layout.blob) == N
    assert layout.blob[layout.graph - 64 + 13] == ord("i")  # f16 is built with inner product
    for dtype in ("f32", "i8"):
        vectors = np.eye(DIM, dtype=np.float32).repeat(4, axis=0)
        blob = build_hnsw(np.arange(len(vectors), dtype=np.uint64), vectors, dtype)
        assert check_hnsw(blob, dtype=dtype, dim=DIM, first_id=0, last_id=len(vectors), rows=len(vectors)) == 32


def _first_upper(layout: Layout) -> int:
    return next(i for i, level in enumerate(layout.levels) if level >= 1)


CASES: dict[str, tuple[Callable[[Layout], bytes], str]] = {
    "entry slot past the nodes": (lambda L: edit(L.blob, L.graph + 32, "<Q", N), "entry slot"),
    "top level raised": (lambda L: edit(L.blob, L.graph + 24, "<Q", max(L.levels) + 1), "level"),
    "connectivity zero": (lambda L: edit(L.blob, L.graph + 8, "<Q", 0), "connectivity"),
    "node count over the vectors": (lambda L: edit(L.blob, L.graph, "<Q", N + 1), "graph nodes"),
    "negative level": (lambda L: edit(L.blob, L.graph + 40 + 2 * 5, "<h", -1), "level"),
    "node level differs from the table": (
        lambda L: edit(L.blob, L.offsets[_first_upper(L)] + 8, "<h", 0),
        "level",
    ),
    "neighbour count over the list": (lambda L: edit(L.blob, L.node_list(7, 0), "<I", L.conn0 + 1), "neighbour list"),
    "neighbour slot past the nodes": (lambda L: edit(L.blob, L.node_list(7, 0) + 4, "<I", N), "neighbour slot"),
    "upper neighbour without that level": (
        lambda L: edit(
            L.blob,
            L.node_list(_first_upper(L), 1) + 4,
            "<I",
            next(i for i, level in enumerate(L.levels) if level == 0),
        ),
        "below that level",
    ),
    "key outside the segment": (lambda L: edit(L.blob, L.offsets[9], "<Q", FIRST + N + 5), "keys outside"),
    "two nodes with one key": (lambda L: edit(L.blob, L.offsets[9], "<Q", FIRST + 10), "two nodes"),
    "one byte short": (lambda L: L.blob[:-1], "nodes end"),
    "one byte over": (lambda L: L.blob + b"\0", "nodes end"),
    "empty": (lambda L: b"", "shorter"),
    "no usearch head": (lambda L: edit(L.blob, L.graph - 64, "<B", ord("x")), "no usearch head"),
    "deleted entries": (lambda L: edit(L.blob, L.graph - 64 + 25, "<Q", 1), "deleted"),
    "another metric": (lambda L: edit(L.blob, L.graph - 64 + 13, "<B", ord("l")), "kinds"),
    "more vectors than the segment has frames": (lambda L: edit(L.blob, 0, "<I", N + 1), "vectors for a segment"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forged_fields_are_refused(layout: Layout, case: str) -> None:
    make, words = CASES[case]
    with pytest.raises(CorruptCapsuleError, match=words) as info:
        check(make(layout))
    assert info.value.kind == "vec"


def test_older_cos_blobs_pass_and_i8_inner_product_is_refused(layout: Layout) -> None:
    """Blobs written before f16/f32 indexes moved to inner product are cos: still valid.
    usearch's i8 inner product is not rescaled, so an i8 blob must be cos."""
    assert check(edit(layout.blob, layout.graph - 64 + 13, "<B", ord("c"))) == N
    vectors = np.eye(DIM, dtype=np.float32).repeat(4, axis=0)
    blob = build_hnsw(np.arange(32, dtype=np.uint64), vectors, "i8")
    rows, cols = struct.unpack_from("<II", blob)
    metric_at = 8 + rows * cols + 13
    assert blob[metric_at] == ord("c")
    with pytest.raises(CorruptCapsuleError, match="kinds"):
        check_hnsw(edit(blob, metric_at, "<B", ord("i")), dtype="i8", dim=DIM, first_id=0, last_id=32, rows=32)


def test_the_capsule_must_agree(layout: Layout) -> None:
    with pytest.raises(CorruptCapsuleError, match="vectors of"):
        check(layout.blob, dim=DIM * 2)
    with pytest.raises(CorruptCapsuleError, match="kinds"):
        check(layout.blob, dtype="f32", dim=DIM // 2)  # same bytes per row, another scalar kind
    with pytest.raises(CorruptCapsuleError, match="keys outside"):
        check(layout.blob, first_id=FIRST + 1)
    with pytest.raises(CorruptCapsuleError, match="vectors for a segment"):
        check(layout.blob, rows=N - 1)
