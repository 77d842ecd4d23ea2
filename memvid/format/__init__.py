"""The byte layout of a capsule: header, blocks, trailers, checksums, limits. No I/O."""
