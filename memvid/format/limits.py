"""Hard limits checked before any allocation driven by bytes read from a file.

A damaged or hostile capsule can declare any length it likes; every such number
is compared with these bounds first, and going over one raises
:class:`~memvid.errors.LimitExceededError`.
"""

from __future__ import annotations

from typing import Final

MAX_BLOCK_STORED: Final = 512 * 1024 * 1024
"""Largest block payload as stored on disk (after compression)."""

MAX_BLOCK_RAW: Final = 256 * 1024 * 1024
"""Largest block payload once decompressed (a zstd bomb stops here)."""

MAX_MANIFEST_RAW: Final = 64 * 1024 * 1024
"""Largest commit manifest or segment directory once decompressed."""

MAX_FRAME_BYTES: Final = 128 * 1024 * 1024
"""Largest text plus payload of one frame."""

MAX_EMBEDDING_DIM: Final = 65_536
"""Largest embedding dimension."""

MAX_SEGMENTS: Final = 100_000
"""Most segments one manifest may list."""

MAX_COMMIT_CHAIN: Final = 1 << 40
"""Most commits a chain walk will follow before declaring a cycle."""
