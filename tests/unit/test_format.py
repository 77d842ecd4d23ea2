"""The byte layer: header, blocks, trailers and their checks."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import zstandard

from memvid.engine.rows import Row, decode_batch, encode_rows
from memvid.errors import (
    ChecksumError,
    CorruptCapsuleError,
    LimitExceededError,
    NotACapsuleError,
    UnsupportedVersionError,
)
from memvid.format.block import BLOCK_HEADER_SIZE, BlockKind, BlockRef, align, decode_block, encode_block
from memvid.format.checksum import block_digest
from memvid.format.header import HEADER_SIZE, MAGIC, SLOT_OFFSETS, Header, Slot, best_slot, decode_header
from memvid.format.limits import MAX_BLOCK_RAW
from memvid.format.trailer import TRAILER_SIZE, Trailer, decode_trailer


def _ref(block: bytes, offset: int) -> BlockRef:
    return BlockRef(offset, len(block), block[48:64])


def test_header_round_trip_and_checks() -> None:
    header = Header(uuid=bytes(range(16)), created_at_us=1_700_000_000_000_000)
    data = header.encode()
    assert len(data) == HEADER_SIZE and data.startswith(MAGIC)
    assert decode_header(data) == header
    with pytest.raises(NotACapsuleError):
        decode_header(b"PK\x03\x04" + data[4:])
    with pytest.raises(NotACapsuleError):
        decode_header(data[:100])
    flipped = bytearray(data)
    flipped[40] ^= 1
    with pytest.raises(ChecksumError):
        decode_header(bytes(flipped))
    newer = bytearray(data)
    newer[8:10] = struct.pack("<H", 99)
    newer[512:528] = block_digest(bytes(newer[:512]))
    with pytest.raises(UnsupportedVersionError):
        decode_header(bytes(newer))


def test_slots_pick_the_newest_valid_generation() -> None:
    data = bytearray(Header(uuid=b"\x01" * 16, created_at_us=0).encode())
    assert best_slot(bytes(data)) is None
    a = Slot(generation=4, trailer_offset=5000, seq=3, commit_hash=b"\xaa" * 32)
    b = Slot(generation=5, trailer_offset=6000, seq=4, commit_hash=b"\xbb" * 32)
    data[SLOT_OFFSETS[0] : SLOT_OFFSETS[0] + 80] = a.encode()
    data[SLOT_OFFSETS[1] : SLOT_OFFSETS[1] + 80] = b.encode()
    assert best_slot(bytes(data)) == b
    data[SLOT_OFFSETS[1] + 3] ^= 0x10  # a damaged slot is ignored, never trusted
    assert best_slot(bytes(data)) == a


@pytest.mark.parametrize("compress", [False, True])
def test_block_round_trip(compress: bool) -> None:
    payload = b"frames " * 1000
    block = encode_block(BlockKind.FRAMES, payload, 4096, compress=compress)
    assert (len(block) < len(payload)) is compress
    assert decode_block(block, _ref(block, 4096), BlockKind.FRAMES) == payload


def test_block_checks() -> None:
    block = encode_block(BlockKind.SEGMENT, b"x" * 300, 8192, compress=True)
    ref = _ref(block, 8192)
    for i in range(len(block)):  # every byte of header and payload is covered
        damaged = bytearray(block)
        damaged[i] ^= 0x01
        with pytest.raises(CorruptCapsuleError):
            decode_block(bytes(damaged), ref, BlockKind.SEGMENT)
    with pytest.raises(ChecksumError):  # the same bytes elsewhere in the file do not verify
        decode_block(block, BlockRef(8192 + 64, len(block), ref.digest), BlockKind.SEGMENT)
    with pytest.raises(CorruptCapsuleError, match="expected manifest"):
        decode_block(block, ref, BlockKind.MANIFEST)
    with pytest.raises(ValueError, match="aligned"):
        encode_block(BlockKind.SEGMENT, b"x", 100, compress=False)


def _forged(payload: bytes, raw_len: int, offset: int = 4096) -> tuple[bytes, BlockRef]:
    head = struct.pack("<4sBBHQQ24s", b"MVBK", BlockKind.FRAMES, 1, 0, len(payload), raw_len, b"\x00" * 24)
    digest = block_digest(head, offset.to_bytes(8, "little"), payload)
    block = head + digest + payload
    return block, BlockRef(offset, len(block), digest)


def test_a_zstd_bomb_is_refused_before_it_expands() -> None:
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\x00" * (MAX_BLOCK_RAW + 1024))
    assert len(bomb) < 64 * 1024
    block, ref = _forged(bomb, MAX_BLOCK_RAW + 1024)
    with pytest.raises(LimitExceededError):
        decode_block(block, ref, BlockKind.FRAMES)
    # A bomb that lies about its size (checksum recomputed) stops at the declared size.
    small_claim = zstandard.ZstdCompressor(level=19, write_content_size=False).compress(b"\x00" * (1 << 24))
    block, ref = _forged(small_claim, 1000)
    with pytest.raises(CorruptCapsuleError):
        decode_block(block, ref, BlockKind.FRAMES)


def test_trailer_round_trip_and_position_check() -> None:
    trailer = Trailer(seq=7, manifest_offset=4096, manifest_length=200, commit_hash=b"\x07" * 32)
    data = trailer.encode()
    assert len(data) == TRAILER_SIZE
    assert decode_trailer(data, 4296) == trailer
    assert decode_trailer(data, 4300) is None  # must sit right after its manifest
    assert decode_trailer(data[:-1] + bytes([data[-1] ^ 1]), 4296) is None


def test_align() -> None:
    assert [align(x) for x in (0, 1, 63, 64, 65)] == [0, 64, 64, 64, 128]
    assert BLOCK_HEADER_SIZE == 64


# -- frames blocks: the Arrow stream and the vector section ---------------------------------


def _rows(vectors: list[list[float] | None]) -> list[Row]:
    return [
        Row(
            frame_id=i,
            created_at_us=1_700_000_000_000_000 + i,
            timestamp_us=None,
            uri=f"u/{i}",
            title=None,
            kind=None,
            tags={},
            metadata=None,
            text=f"text {i}",
            payload=None,
            checksum=bytes(16),
            supersedes=None,
            embedding=None if v is None else np.asarray(v, dtype=np.float32),
        )
        for i, v in enumerate(vectors)
    ]


def test_vector_section_round_trips_bit_exact_with_missing_rows() -> None:
    rng = np.random.default_rng(3)
    vectors: list[list[float] | None] = [
        None if i % 3 == 1 else rng.standard_normal(5).astype(np.float32).tolist() for i in range(10)
    ]
    vectors[4] = [float("-0.0"), 1e-45, -3.4e38, 1.0, 0.5]  # signed zero, a subnormal, an extreme
    (encoded,) = encode_rows(_rows(vectors), 5)
    batch = decode_batch(encoded.payload, offset=0, rows=10, first_id=0, last_id=9)
    got = batch.column("embedding").to_pylist()
    for want, have in zip(vectors, got, strict=True):
        if want is None:
            assert have is None
        else:
            assert np.asarray(have, np.float32).tobytes() == np.asarray(want, np.float32).tobytes()


def test_no_vector_section_without_embeddings() -> None:
    (encoded,) = encode_rows(_rows([None, None]), None)
    batch = decode_batch(encoded.payload, offset=0, rows=2, first_id=0, last_id=1)
    assert "embedding" not in batch.schema.names
    (stream_len,) = struct.unpack_from("<Q", encoded.payload)
    assert len(encoded.payload) == 8 + stream_len


def test_shuffled_vectors_compress_better_than_plain_float32() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (encoded,) = encode_rows(_rows(vectors.tolist()), 64)
    (stream_len,) = struct.unpack_from("<Q", encoded.payload)
    section = encoded.payload[8 + stream_len :]
    plain = zstandard.ZstdCompressor(level=3).compress(vectors.tobytes())
    shuffled = zstandard.ZstdCompressor(level=3).compress(section)
    assert len(shuffled) < 0.95 * len(plain)


@pytest.mark.parametrize(
    "damage",
    ["stream_len_too_big", "dim_zero", "section_short", "presence_two", "section_long"],
)
def test_malformed_vector_sections_are_refused(damage: str) -> None:
    (encoded,) = encode_rows(_rows([[1.0, 2.0], None, [3.0, 4.0]]), 2)
    payload = bytearray(encoded.payload)
    (stream_len,) = struct.unpack_from("<Q", payload)
    section = 8 + stream_len
    if damage == "stream_len_too_big":
        struct.pack_into("<Q", payload, 0, len(payload))
    elif damage == "dim_zero":
        struct.pack_into("<I", payload, section, 0)
    elif damage == "section_short":
        del payload[-1]
    elif damage == "presence_two":
        payload[section + 4] = 2
    else:
        payload += b"\x00"
    with pytest.raises(CorruptCapsuleError):
        decode_batch(bytes(payload), offset=0, rows=3, first_id=0, last_id=2)


def test_a_field_name_that_is_not_utf8_is_corrupt() -> None:
    (encoded,) = encode_rows(_rows([None]), None)
    payload = bytearray(encoded.payload)
    at = payload.index(b"frame_id")
    payload[at] = 0x80  # a forged schema: the name no longer decodes
    with pytest.raises(CorruptCapsuleError):
        decode_batch(bytes(payload), offset=0, rows=1, first_id=0, last_id=0)


def test_a_stored_time_out_of_range_is_corrupt() -> None:
    from memvid._time import from_us

    assert from_us(0).year == 1970
    with pytest.raises(CorruptCapsuleError, match="out of range"):
        from_us(2**62)
