"""The fixed 4096-byte header at offset 0.

Layout (all integers little-endian; ``docs/explanation/format.md`` is the
normative description and a test reads a capsule using only that page)::

    offset  size  field
    0       8     magic  b"\\x89MV2\\r\\n\\x1a\\n"
    8       2     format version (u16)
    10      2     header size (u16) = 4096
    12      4     flags (u32); bit 0: encrypted (reserved, always 0 in version 1)
    16      16    capsule uuid
    32      8     created_at, microseconds since the Unix epoch, UTC (i64)
    40      24    reserved, zero
    64      448   crypto area: KDF id, parameters, salt, wrapped data key (zero when plain)
    512     16    BLAKE2b-128 of bytes 0..512 (person "memvid-block")
    528     496   reserved, zero
    1024    80    slot A \\ each: generation u64, trailer offset u64, commit seq u64,
    2048    80    slot B /  commit hash 32 bytes, 8 reserved, BLAKE2b-128 of the first 64 bytes
    ...           zero to 4096

The slots are a hint that makes open O(1); the trailers at the end of each
commit are the truth, and a slot that disagrees with them is ignored.
"""

from __future__ import annotations

import functools
import struct
import uuid as uuid_mod
from dataclasses import dataclass
from typing import Final

from memvid.errors import ChecksumError, NotACapsuleError, UnsupportedVersionError
from memvid.format.checksum import block_digest

MAGIC: Final = b"\x89MV2\r\n\x1a\n"
FORMAT_VERSION: Final = 1
HEADER_SIZE: Final = 4096
STATIC_SIZE: Final = 512
SLOT_OFFSETS: Final = (1024, 2048)
SLOT_SIZE: Final = 80
FLAG_ENCRYPTED: Final = 1

_STATIC = struct.Struct("<8sHHI16sq24s448s")
_SLOT = struct.Struct("<QQQ32s8s")
assert _STATIC.size == STATIC_SIZE
assert _SLOT.size + 16 == SLOT_SIZE


@dataclass(frozen=True, slots=True)
class Header:
    """The static part of the header, written once when the capsule is created."""

    uuid: bytes
    created_at_us: int
    flags: int = 0
    version: int = FORMAT_VERSION
    crypto: bytes = b"\x00" * 448

    def encode(self) -> bytes:
        static = _STATIC.pack(
            MAGIC, self.version, HEADER_SIZE, self.flags, self.uuid, self.created_at_us, b"\x00" * 24, self.crypto
        )
        head = static + block_digest(static)
        return head + b"\x00" * (HEADER_SIZE - len(head))

    @property
    def uuid_str(self) -> str:
        return _uuid_text(self.uuid)


@dataclass(frozen=True, slots=True)
class Slot:
    """A pointer to the latest commit's trailer, written after each commit."""

    generation: int
    trailer_offset: int
    seq: int
    commit_hash: bytes

    def encode(self) -> bytes:
        body = _SLOT.pack(self.generation, self.trailer_offset, self.seq, self.commit_hash, b"\x00" * 8)
        return body + block_digest(body)


def decode_header(data: bytes) -> Header:
    """Parse and check the static header. Raises a :class:`~memvid.errors.MemvidError`."""
    if len(data) < 8 or data[:8] != MAGIC:
        raise NotACapsuleError("not a memvid capsule: the file does not start with the .mv2 magic bytes")
    if len(data) < HEADER_SIZE:
        raise NotACapsuleError(f"not a memvid capsule: the header is {len(data)} bytes, expected {HEADER_SIZE}")
    static = data[:STATIC_SIZE]
    if block_digest(static) != data[STATIC_SIZE : STATIC_SIZE + 16]:
        raise ChecksumError("the capsule header checksum does not match (header damaged)", offset=0, kind="header")
    _, version, header_size, flags, uuid, created_at_us, _, crypto = _STATIC.unpack(static)
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"capsule format version {version} is newer than this library reads ({FORMAT_VERSION}); upgrade memvid"
        )
    if version < 1 or header_size != HEADER_SIZE:
        raise NotACapsuleError(f"not a memvid capsule: version {version}, header size {header_size}")
    if flags & FLAG_ENCRYPTED:
        raise UnsupportedVersionError("this capsule is encrypted; encrypted capsules are not supported by this version")
    return Header(uuid=uuid, created_at_us=created_at_us, flags=flags, version=version, crypto=crypto)


def decode_slot(data: bytes) -> Slot | None:
    """Parse one slot; ``None`` when empty or damaged (slots are only hints)."""
    if len(data) != SLOT_SIZE or data == b"\x00" * SLOT_SIZE:
        return None
    body = data[: _SLOT.size]
    if block_digest(body) != data[_SLOT.size :]:
        return None
    generation, trailer_offset, seq, commit_hash, _ = _SLOT.unpack(body)
    return Slot(generation=generation, trailer_offset=trailer_offset, seq=seq, commit_hash=commit_hash)


def best_slot(header_bytes: bytes) -> Slot | None:
    """The valid slot with the highest generation, if any."""
    slots = [decode_slot(header_bytes[o : o + SLOT_SIZE]) for o in SLOT_OFFSETS]
    valid = [s for s in slots if s is not None]
    return max(valid, key=lambda s: s.generation) if valid else None


def slot_offset_for(generation: int) -> int:
    """Slots alternate: generation g is written to slot g % 2."""
    return SLOT_OFFSETS[generation % 2]


@functools.lru_cache(maxsize=64)
def _uuid_text(raw: bytes) -> str:
    """The uuid's canonical text, remembered: every search of a handle names its capsule's
    cache entries by it, and formatting it took ~1.4 us of a ~170 us lexical search."""
    return str(uuid_mod.UUID(bytes=raw))
