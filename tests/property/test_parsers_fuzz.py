"""Hostile bytes reach the decoders: only MemvidError may come out."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from memvid.engine.manifest import decode_manifest, decode_segment_dir
from memvid.engine.rows import decode_batch
from memvid.errors import MemvidError
from memvid.format.block import BlockKind, BlockRef, decode_block
from memvid.format.header import decode_header

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=12), children, max_size=8),
    max_leaves=40,
)
manifest_keys = st.sampled_from(
    [
        "v",
        "seq",
        "time_us",
        "parent",
        "segments",
        "tombstones",
        "next_frame_id",
        "frames_total",
        "frames_dead",
        "added",
        "removed",
        "added_range",
        "message",
        "embedding_dim",
        "embedder",
        "refs",
        "branch",
        "batches",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(manifest_keys, json_values, max_size=18), st.integers(4096, 10**9))
def test_manifest_and_directory_decoders(doc: dict[str, object], offset: int) -> None:
    doc.setdefault("v", 1)
    payload = json.dumps(doc).encode()
    for decode in (decode_manifest, decode_segment_dir):
        with contextlib.suppress(MemvidError):
            decode(payload, offset)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_raw_bytes_into_every_decoder(data: bytes) -> None:
    for call in (
        lambda: decode_header(data),
        lambda: decode_manifest(data, 4096),
        lambda: decode_segment_dir(data, 4096),
        lambda: decode_block(data, BlockRef(4096, max(64, len(data)), data[48:64].ljust(16, b"\0")), BlockKind.FRAMES),
        lambda: decode_batch(data, offset=4096, rows=1, first_id=0, last_id=0),
    ):
        with contextlib.suppress(MemvidError):
            call()
