"""The 80-byte trailer written right after each commit's manifest block::

    offset  size  field
    0       8     magic b"MV2TRAIL"
    8       8     commit sequence number (u64; the genesis commit is 0)
    16      8     manifest block offset (u64)
    24      8     manifest block length, header included (u64)
    32      32    commit hash: BLAKE2b-256 of the manifest payload (person "memvid-commit")
    64      16    BLAKE2b-128 of bytes 0..64 (person "memvid-block")

A trailer is valid when its digest matches and the manifest block it names ends
exactly where the trailer starts. The last valid trailer in the file is the
capsule's latest commit; anything after it is a torn tail.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from memvid.format.checksum import block_digest

TRAILER_MAGIC: Final = b"MV2TRAIL"
TRAILER_SIZE: Final = 80
_BODY = struct.Struct("<8sQQQ32s")
assert _BODY.size + 16 == TRAILER_SIZE


@dataclass(frozen=True, slots=True)
class Trailer:
    seq: int
    manifest_offset: int
    manifest_length: int
    commit_hash: bytes

    def encode(self) -> bytes:
        body = _BODY.pack(TRAILER_MAGIC, self.seq, self.manifest_offset, self.manifest_length, self.commit_hash)
        return body + block_digest(body)


def decode_trailer(data: bytes | memoryview, trailer_offset: int) -> Trailer | None:
    """The trailer in ``data`` (80 bytes read at ``trailer_offset``), or ``None`` if invalid."""
    if len(data) != TRAILER_SIZE or bytes(data[:8]) != TRAILER_MAGIC:
        return None
    body = bytes(data[: _BODY.size])
    if block_digest(body) != bytes(data[_BODY.size :]):
        return None
    _, seq, manifest_offset, manifest_length, commit_hash = _BODY.unpack(body)
    if manifest_offset + manifest_length != trailer_offset:
        return None
    return Trailer(seq=seq, manifest_offset=manifest_offset, manifest_length=manifest_length, commit_hash=commit_hash)
