"""The checksums of the format: BLAKE2b, from the standard library."""

from __future__ import annotations

import hashlib
from typing import Final

BLOCK_DIGEST_SIZE: Final = 16
COMMIT_DIGEST_SIZE: Final = 32


def block_digest(*parts: bytes | memoryview) -> bytes:
    """16-byte BLAKE2b over the concatenation of ``parts`` (blocks, trailers, header)."""
    h = hashlib.blake2b(digest_size=BLOCK_DIGEST_SIZE, person=b"memvid-block")
    for part in parts:
        h.update(part)
    return h.digest()


def commit_digest(manifest_payload: bytes | memoryview) -> bytes:
    """32-byte BLAKE2b of a commit manifest's payload: the commit's id."""
    return hashlib.blake2b(manifest_payload, digest_size=COMMIT_DIGEST_SIZE, person=b"memvid-commit").digest()


def content_digest(text: bytes, payload: bytes | None) -> bytes:
    """16-byte BLAKE2b of a frame's content, stored in the frame as ``checksum``."""
    h = hashlib.blake2b(digest_size=BLOCK_DIGEST_SIZE, person=b"memvid-frame")
    h.update(len(text).to_bytes(8, "little"))
    h.update(text)
    if payload is not None:
        h.update(payload)
    return h.digest()
