"""Block framing: every piece of committed data is a checksummed block.

A block is a 64-byte header followed by its payload; blocks start at offsets
that are multiples of 64, the gap before one (if any) is zero bytes::

    offset  size  field
    0       4     magic b"MVBK"
    4       1     kind (see :class:`BlockKind`)
    5       1     codec: 0 none, 1 zstd
    6       2     reserved, zero
    8       8     stored length of the payload (u64)
    16      8     raw length of the payload once decoded (u64)
    24      24    reserved, zero
    48      16    BLAKE2b-128 over bytes 0..48 of this header, the block's own
                  file offset as u64, and the stored payload

Including the offset in the digest binds each block to its position, so a
block copied or moved elsewhere in the file does not verify.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

import zstandard

from memvid.errors import ChecksumError, CorruptCapsuleError, LimitExceededError
from memvid.format.checksum import block_digest
from memvid.format.limits import MAX_BLOCK_RAW, MAX_BLOCK_STORED, MAX_MANIFEST_RAW

BLOCK_MAGIC: Final = b"MVBK"
BLOCK_HEADER_SIZE: Final = 64
BLOCK_ALIGN: Final = 64
_HEAD = struct.Struct("<4sBBHQQ24s")
assert _HEAD.size == 48


class BlockKind(enum.IntEnum):
    FRAMES = 1
    """One Arrow IPC stream holding one record batch of frames."""
    SEGMENT = 2
    """A segment directory (JSON): its frame batches and tombstones."""
    TOMBSTONES = 3
    """Frame ids removed by deletes and updates, with what removed them."""
    MANIFEST = 4
    """A commit manifest (JSON)."""
    LEX_FILE = 5
    """One file of the lexical (tantivy) index."""
    VEC_INDEX = 6
    """A serialised vector (usearch HNSW) index of one segment."""


class Codec(enum.IntEnum):
    NONE = 0
    ZSTD = 1


@dataclass(frozen=True, slots=True)
class BlockRef:
    """Where a block lives: its offset, total length (header included) and digest."""

    offset: int
    length: int
    digest: bytes

    def to_json(self) -> list[object]:
        return [self.offset, self.length, self.digest.hex()]

    @classmethod
    def from_json(cls, value: object) -> BlockRef:
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], int)
            or not isinstance(value[1], int)
            or not isinstance(value[2], str)
            or value[0] < 0
            or value[1] < BLOCK_HEADER_SIZE
        ):
            raise CorruptCapsuleError(f"malformed block reference {value!r:.80}")
        try:
            digest = bytes.fromhex(value[2])
        except ValueError:
            raise CorruptCapsuleError(f"malformed block digest {value[2]!r:.80}") from None
        return cls(value[0], value[1], digest)


@dataclass(frozen=True, slots=True)
class BlockHeader:
    kind: int
    codec: int
    stored_len: int
    raw_len: int
    digest: bytes


_ZSTD_LEVEL = 3


def align(offset: int) -> int:
    """The first block boundary at or after ``offset``."""
    return -(-offset // BLOCK_ALIGN) * BLOCK_ALIGN


@dataclass(frozen=True, slots=True)
class Packed:
    """A payload coded for storage, not yet placed: what :func:`pack` returns."""

    kind: BlockKind
    codec: Codec
    stored: bytes
    raw_len: int

    @property
    def length(self) -> int:
        """The block's length, header included."""
        return BLOCK_HEADER_SIZE + len(self.stored)


def pack(kind: BlockKind, payload: bytes, *, compress: bool) -> Packed:
    """Code ``payload`` (zstd when asked and when it makes it smaller). Independent of
    where the block will go, so many payloads can be packed in parallel."""
    raw_len = len(payload)
    if raw_len > MAX_BLOCK_RAW:
        raise LimitExceededError(f"block of {raw_len} bytes is over the {MAX_BLOCK_RAW}-byte limit")
    if compress and raw_len > 64:
        packed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_content_size=True).compress(payload)
        if len(packed) < raw_len:
            return Packed(kind, Codec.ZSTD, packed, raw_len)
    return Packed(kind, Codec.NONE, payload, raw_len)


def place(packed: Packed, offset: int) -> bytes:
    """The whole block for ``packed`` written at ``offset`` (a multiple of 64)."""
    if offset % BLOCK_ALIGN:
        raise ValueError(f"block offset {offset} is not {BLOCK_ALIGN}-aligned")
    stored = packed.stored
    head = _HEAD.pack(BLOCK_MAGIC, int(packed.kind), int(packed.codec), 0, len(stored), packed.raw_len, b"\x00" * 24)
    digest = block_digest(head, offset.to_bytes(8, "little"), stored)
    return head + digest + stored


def encode_block(kind: BlockKind, payload: bytes, offset: int, *, compress: bool) -> bytes:
    """Frame ``payload`` as a block to be written at ``offset`` (a multiple of 64)."""
    if offset % BLOCK_ALIGN:
        raise ValueError(f"block offset {offset} is not {BLOCK_ALIGN}-aligned")
    return place(pack(kind, payload, compress=compress), offset)


def decode_block_header(data: bytes, offset: int) -> BlockHeader:
    """Parse a block header (lengths checked against the limits, digest not yet)."""
    if len(data) < BLOCK_HEADER_SIZE:
        raise CorruptCapsuleError(f"block at offset {offset} is cut short", offset=offset)
    magic, kind, codec, _, stored_len, raw_len, _ = _HEAD.unpack(data[:48])
    if magic != BLOCK_MAGIC:
        raise CorruptCapsuleError(f"no block at offset {offset} (bad block magic)", offset=offset)
    if stored_len > MAX_BLOCK_STORED or raw_len > MAX_BLOCK_RAW:
        raise LimitExceededError(
            f"block at offset {offset} declares {stored_len} stored / {raw_len} raw bytes, over the limits"
        )
    if codec not in (Codec.NONE, Codec.ZSTD) or (codec == Codec.NONE and raw_len != stored_len):
        raise CorruptCapsuleError(f"block at offset {offset} has an invalid codec {codec}", offset=offset)
    return BlockHeader(kind=kind, codec=codec, stored_len=stored_len, raw_len=raw_len, digest=bytes(data[48:64]))


def kind_name(kind: int) -> str:
    try:
        return BlockKind(kind).name.lower()
    except ValueError:
        return f"kind {kind}"


_JSON_KINDS: Final = (BlockKind.MANIFEST, BlockKind.SEGMENT)  # bounded by MAX_MANIFEST_RAW


def decode_block(data: bytes, ref: BlockRef, expected_kind: BlockKind) -> bytes:
    """Check a whole block (header + payload, as read at ``ref``) and return its raw payload.

    The digest is checked before anything interprets the payload; decompression
    is bounded by the declared raw length, itself bounded by the limits.
    """
    offset = ref.offset
    what = kind_name(expected_kind)
    if len(data) != ref.length or ref.length < BLOCK_HEADER_SIZE:
        raise CorruptCapsuleError(
            f"{what} block at offset {offset}: {len(data)} bytes where its reference says {ref.length}",
            offset=offset,
            kind=what,
        )
    view = memoryview(data)
    digest = block_digest(view[:48], offset.to_bytes(8, "little"), view[BLOCK_HEADER_SIZE:])
    if digest != bytes(view[48:64]) or digest != ref.digest:
        raise ChecksumError(f"checksum mismatch in {what} block at offset {offset}", offset=offset, kind=what)
    # From here on the header is the one that was written; its limits still hold.
    header = decode_block_header(data, offset)
    if BLOCK_HEADER_SIZE + header.stored_len != ref.length:
        raise CorruptCapsuleError(f"{what} block at offset {offset} has an inconsistent length", offset=offset)
    if header.kind != expected_kind:
        raise CorruptCapsuleError(
            f"block at offset {offset} is a {kind_name(header.kind)} block, expected {what}", offset=offset, kind=what
        )
    if expected_kind in _JSON_KINDS and header.raw_len > MAX_MANIFEST_RAW:  # refused before decompressing
        raise LimitExceededError(
            f"{what} block at offset {offset} declares {header.raw_len} bytes, over {MAX_MANIFEST_RAW}"
        )
    stored = view[BLOCK_HEADER_SIZE:]
    if header.codec == Codec.NONE:
        return bytes(stored)
    try:
        raw = zstandard.ZstdDecompressor().decompress(stored, max_output_size=header.raw_len)
    except zstandard.ZstdError as exc:
        raise CorruptCapsuleError(
            f"{what} block at offset {offset} does not decompress: {exc}", offset=offset
        ) from None
    if len(raw) != header.raw_len:
        raise CorruptCapsuleError(
            f"{what} block at offset {offset} decompressed to {len(raw)} bytes, declared {header.raw_len}",
            offset=offset,
            kind=what,
        )
    return raw
