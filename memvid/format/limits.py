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

MAX_JSON_ITEMS: Final = 1_000_000
"""Most commas, brackets and braces one manifest or segment directory may hold, counted
before it is parsed: parsing time and memory grow with them, not with bytes (a 20 KiB
zstd block decoding to 3.7 million tiny entries took 12 s and 745 MiB to parse). A
segment directory of 100 GB of frames holds about 800,000."""

MAX_MESSAGE_BYTES: Final = 65_536
"""Longest commit message (UTF-8 bytes): it is stored in the manifest."""

MAX_FRAME_BYTES: Final = 128 * 1024 * 1024
"""Largest text plus payload of one frame."""

MAX_EMBEDDING_DIM: Final = 65_536
"""Largest embedding dimension."""

MAX_SEGMENTS: Final = 100_000
"""Most segments one manifest may list."""

MAX_COMMIT_CHAIN: Final = 1 << 40
"""Most commits a chain walk will follow before declaring a cycle."""
