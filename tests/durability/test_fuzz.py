"""Fuzzing every structure of a capsule with hypothesis, checksums stale and recomputed.

For each target (the header, block headers, the manifest, segment directories,
frames blocks, tombstones, lexical index files, vector index blobs) and each mode
(``stale``: bytes changed in place, digests left as they were; ``recomputed``: the
altered structure written as new blocks under a new commit with every digest,
the commit hash and the trailer recomputed, as a forger would), a child process
(``fuzz_worker.py``) runs hypothesis: it alters the structure, opens the result,
and runs every read (frames, get, at, timeline, lexical and vector search,
verify). The bar: only ``MemvidError`` subclasses come out, the process does not
die (a segfault or an abort), no input takes over 1 s, and the child stays under
512 MiB.

A child process, because a native library (usearch, tantivy) that crashes on a
forged input would take the test runner with it. Vector index blobs exist only
for segments of 8,192 frames or more, so that target runs on a capsule of 8,200
frames with vectors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from durability_support import HERE, SOAK, build_capsule, write_report
from forge import Forge

from memvid import Memvid
from memvid.storage import MemoryStorage

TARGETS = ("header", "block_header", "manifest", "segment", "frames", "tombstones", "lex", "vec")
EXAMPLES = 2000 if SOAK else 40
VEC_EXAMPLES = 2000 if SOAK else 12

_FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    write_report("fuzz", _FIGURES)


@pytest.fixture(scope="module")
def capsules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    small = folder / "small.mv2"
    build_capsule(small)
    large = folder / "vec.mv2"
    vectors = np.random.default_rng(7).standard_normal((8200, 4)).astype(np.float32)
    with Memvid.create(large) as mem:
        mem.put_many([{"text": f"frame {i} alpha coffee", "embedding": vectors[i]} for i in range(8200)])
        mem.commit()
        mem.put("alice tea", embedding=[1.0, 0.0, 0.0, 0.0])
    return {"small": small, "vec": large}


CASES = [(target, mode) for target in TARGETS for mode in ("stale", "recomputed")]


@pytest.mark.slow
@pytest.mark.parametrize(("target", "mode"), CASES)
def test_fuzz_structure(capsules: dict[str, Path], target: str, mode: str) -> None:
    capsule = capsules["vec" if target == "vec" else "small"]
    examples = VEC_EXAMPLES if target == "vec" else EXAMPLES
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_worker.py"), str(capsule), target, mode, str(examples)],
        capture_output=True,
        text=True,
        timeout=3600 if SOAK else 300,
    )
    lines = proc.stdout.splitlines()
    last_case = next((line for line in reversed(lines) if line.startswith("case ")), "before any case")
    assert proc.returncode == 0, (
        f"the fuzz child failed (exit {proc.returncode}) at {last_case}:\n{proc.stderr[-4000:]}"
    )
    summary = json.loads(lines[-1])
    _FIGURES[f"{target}/{mode}"] = summary
    assert summary["cases"] == examples
    # The fuzzer reached the parsers: some inputs were refused with a MemvidError.
    assert sum(v for k, v in summary.items() if k.endswith("Error")) > 0, summary


def test_forged_commit_without_changes_opens(capsules: dict[str, Path]) -> None:
    """The forger is faithful: re-writing a block unchanged under a new commit gives a
    capsule that opens and verifies, so refusals in the fuzz test are the parsers' doing."""
    data = capsules["small"].read_bytes()
    for role in ("segment", "frames", "tombstones", "lex"):
        forge = Forge(data)
        _, ref, kind = next(r for r in forge.refs() if r[0] == role)
        image = forge.commit(forge.replace_ref(ref, forge.append_block(kind, forge.payload(ref, kind))))
        with Memvid.from_storage(MemoryStorage(image, writable=False), read_only=True) as mem:
            assert mem.head.seq == forge.manifest["seq"] + 1
            assert len(list(mem.frames())) == forge.manifest["frames_total"] - forge.manifest["frames_dead"]
            assert mem.verify().ok
