"""Damage to the on-disk index cache is detected (or repaired from the capsule), never
handed to tantivy.

A reader writes the lexical index files out of the capsule, after their checksums
pass, into a view directory ``MEMVID_CACHE_DIR/<uuid>/views/<key>/`` that tantivy
opens, with the digests of its files. The cache is disposable, but it is persistent disk like
the capsule, so a damaged cache file must not reach tantivy (RELIABILITY promises 2
and 3): a search must return the same hits as before, from the capsule, or raise a
``MemvidError``. The search runs in a child process, since tantivy can abort the
process on damaged input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from durability_support import HERE, SEARCHES, build_capsule, canon_search

from memvid import Memvid


def test_damaged_index_cache_is_detected_or_rebuilt(tmp_path: Path) -> None:
    capsule = tmp_path / "c.mv2"
    build_capsule(capsule, steps=2)
    with Memvid.open(capsule, read_only=True) as mem:
        want = [canon_search(mem, request) for request in SEARCHES]
    assert want[0], "the lexical search found nothing: the test would prove nothing"
    blobs = sorted(
        p for p in Path(os.environ["MEMVID_CACHE_DIR"]).rglob("views/*/*") if p.is_file() and not p.name.startswith(".")
    )
    assert blobs, "the search did not populate the index cache"
    for blob in blobs:  # flip one bit of the last byte of every cached index file
        data = bytearray(blob.read_bytes())
        data[-1] ^= 0x01
        os.chmod(blob, 0o600)
        blob.write_bytes(bytes(data))
    child = subprocess.run(
        [sys.executable, str(HERE / "search_child.py"), str(capsule)], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, f"the search raised or crashed ({child.returncode}): {child.stderr[-2000:]}"
    got = json.loads(child.stdout)
    detected = all(isinstance(g, dict) and g.get("error") in ("ChecksumError", "CorruptCapsuleError") for g in got)
    assert got == want or detected, f"silently different search results: {got} != {want}"
