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

import pytest
from durability_support import HERE, SEARCHES, build_capsule, canon_search

from memvid import Memvid
from memvid.storage import cache


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


def test_views_share_checkpoint_files_and_unused_ones_are_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader of each commit gets a view (the checkpoint plus the frames after it): its
    checkpoint files are hard links to the checkpoint's own view, and views unused for
    VIEW_TTL_S are removed when the next one is built, while a reader that opened one
    before keeps searching it."""
    capsule = tmp_path / "c.mv2"
    views = Path(os.environ["MEMVID_CACHE_DIR"])
    with Memvid.create(capsule) as mem:
        mem.put_many([{"text": f"note {i} about coffee"} for i in range(50)])
        mem.commit()  # the first commit writes a checkpoint
        mem.put("tea after the checkpoint")
        mem.commit()
    first = Memvid.open(capsule, read_only=True)
    want = [h.frame_id for h in first.search("coffee tea", mode="lex")]
    made = {p.parent for p in views.rglob(".memvid-sums.json")}
    assert len(made) == 2  # the checkpoint's view and this commit's
    tail = next(v for v in made if "-" in v.name)
    checkpoint = next(v for v in made if v != tail)
    shared = [p.name for p in checkpoint.iterdir() if not p.name.startswith(".") and p.name != "meta.json"]
    assert shared and all(os.stat(checkpoint / n).st_ino == os.stat(tail / n).st_ino for n in shared)

    monkeypatch.setattr(cache, "VIEW_TTL_S", 0.0)  # every view not in use is now stale
    with Memvid.open(capsule) as mem:
        mem.put("more tea")
        mem.commit()
    with Memvid.open(capsule, read_only=True) as second:
        assert second.search("more tea", mode="lex")
    assert not tail.exists()  # swept: the first reader's view is gone...
    assert checkpoint.exists()  # ...but not the checkpoint the new view was built on
    assert [h.frame_id for h in first.search("coffee tea", mode="lex")] == want  # ...and it still reads
    first.close()
    assert len({p.parent for p in views.rglob(".memvid-sums.json")}) == 2
