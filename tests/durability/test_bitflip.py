"""Every single-bit flip of a small capsule is detected, and no read returns wrong content.

The capsule (``durability_support.build_capsule``: genesis plus two commits with
tags, metadata, a payload, embeddings, an update and a delete, the lexical index
the first commit writes, and an HNSW block for each segment of two frames or more,
the threshold lowered from 8,192 for this test; about 12 KB, 4 KB of it the fixed header) has its
bits flipped one at a time by ``bitflip_worker.py`` processes that share them out:
every bit of every byte, except that in the header's zero-filled reserved ranges
(3.4 KB, all checked by one comparison) the fast run takes every bit of one byte
in eight. A flip counts as detected when opening raises a ``MemvidError``, or a
read of some commit raises one, or ``verify()`` reports a finding. Any read that
succeeds must return exactly the original content (a silent wrong read fails the
test, detected or not), and any exception that is not a ``MemvidError`` fails the
test. For one in eight flips that land in an index block the worker also runs
lexical and vector searches on every commit, from an empty index cache, and
compares them with the original results.

Under ``MEMVID_SOAK=1`` every bit is flipped, of a capsule with eight commits after
genesis, enough for the writer to compact its segments (about 25 KB); every flip
in an index block also searches, and ``verify()`` runs on every flip that opens,
to count what it alone would miss. The counts go to ``REPORT_DIR/bitflip.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from durability_support import (
    HERE,
    SEARCHES,
    SOAK,
    build_capsule,
    canon_search,
    offsets_to_flip,
    vec_blocks,
    write_report,
)

from memvid import Memvid

SEARCH_EVERY = 8
HEADER_STRIDE = 1 if SOAK else 8


@pytest.mark.slow
@pytest.mark.timeout(7200 if SOAK else 600)
def test_every_bit_flip_is_detected(tmp_path: Path) -> None:
    capsule = tmp_path / "flip.mv2"
    expected = build_capsule(capsule, steps=5 if SOAK else 2, extra=3 if SOAK else 0, hnsw_min_rows=2)
    assert vec_blocks(capsule), "the capsule has no vector index block: the test would not flip one"
    with Memvid.open(capsule, read_only=True) as mem:
        for commit in expected["commits"]:
            view = mem.at(commit=commit["seq"])
            commit["searches"] = [canon_search(view, request) for request in SEARCHES]
    expected_path = tmp_path / "expected.json"
    expected_path.write_text(json.dumps(expected))
    size = capsule.stat().st_size
    workers = max(2, os.cpu_count() or 2)
    started = time.monotonic()
    procs = []
    for w in range(workers):
        out = tmp_path / f"result{w}.json"
        err = (tmp_path / f"stderr{w}.txt").open("wb")
        args = [str(capsule), str(expected_path), str(tmp_path), str(w), str(workers), str(out)]
        args += ["--search-every", "1" if SOAK else str(SEARCH_EVERY), "--header-stride", str(HEADER_STRIDE)]
        if SOAK:
            args.append("--verify-all")
        procs.append((subprocess.Popen([sys.executable, str(HERE / "bitflip_worker.py"), *args], stderr=err), out, err))
    results: list[dict[str, Any]] = []
    for proc, out, err in procs:
        try:
            rc = proc.wait(timeout=7000 if SOAK else 540)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err.close()
        stderr = Path(err.name).read_text(errors="replace")
        assert rc == 0, f"bit-flip worker exited with {rc}: {stderr[-3000:]}"
        results.append(json.loads(out.read_text()))

    counts: dict[str, int] = {}
    by_region: dict[str, dict[str, int]] = {}
    failures: list[dict[str, Any]] = []
    for r in results:
        for k, v in r["counts"].items():
            counts[k] = counts.get(k, 0) + v
        for region, cats in r["by_region"].items():
            for k, v in cats.items():
                by_region.setdefault(region, {})[k] = by_region.get(region, {}).get(k, 0) + v
        failures.extend(r["failures"])
    flipped = sum(r["flipped"] for r in results)
    searched = sum(r["searched"] for r in results)
    detected = counts.get("open", 0) + counts.get("read", 0) + counts.get("verify", 0)
    summary = {
        "file_bytes": size,
        "commits": len(expected["commits"]),
        "bits_in_file": size * 8,
        "bits_flipped": flipped,
        "detected": detected,
        "detected_at_open": counts.get("open", 0),
        "detected_at_read": counts.get("read", 0),
        "detected_by_verify_only": counts.get("verify", 0),
        "undetected": counts.get("undetected", 0),
        "silent_wrong_reads": counts.get("silent", 0),
        "other_exceptions": counts.get("crash", 0),
        "flips_with_searches": searched,
        "verify_missed": sum(r["verify_missed"] for r in results) if SOAK else None,
        "by_region": by_region,
        "workers": workers,
        "seconds": round(time.monotonic() - started, 1),
    }
    write_report("bitflip", summary)
    assert flipped == 8 * len(offsets_to_flip(size, HEADER_STRIDE))
    assert not failures, json.dumps(failures[:10], indent=1)
    assert detected == flipped, summary
    assert searched > 0, "the capsule has no index block: the search reads went untested"
    if SOAK:
        assert summary["verify_missed"] == 0, summary
