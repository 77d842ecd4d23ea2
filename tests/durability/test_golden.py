"""Backward compatibility: every golden capsule of every format version reads back the same.

``tests/data/golden/v<N>/<name>.mv2`` was written by the release that introduced
format version N (``python tests/data/make_golden.py``), with ``<name>.json``
beside it: what that release read from it. On every run, a copy of each is
opened and must give the same head, timeline, frames of every commit (every
field), and search hits (same frames in the same order, scores within 1e-4);
``verify()`` must be clean; and a writer of this version must be able to append
a commit to it that reopens with the old commits intact.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from durability_support import canon_frames, canon_search, write_report

from memvid import Memvid
from memvid.fusion import calibration
from memvid.index import lex_state
from memvid.index.lex import SCHEMA_VERSION

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
CAPSULES = sorted(GOLDEN.glob("v*/*.mv2"))


def test_there_are_golden_capsules() -> None:
    assert CAPSULES, f"no golden capsules under {GOLDEN}: run python tests/data/make_golden.py"
    write_report("golden", {"capsules": [str(p.relative_to(GOLDEN)) for p in CAPSULES]})


def _same_hits(got: Any, want: Any, *, scores: bool = True) -> bool:
    """The same hits in the same order with the same content; and the same scores, unless
    ``scores`` is false (BM25 scores belong to the lexical index's schema, which a newer
    library may change: it then indexes an older capsule's frames again)."""
    if isinstance(want, dict) or isinstance(got, dict):
        return bool(got == want)
    if [h[0] for h in got] != [h[0] for h in want]:
        return False
    return all(
        (not scores or math.isclose(g[1], w[1], rel_tol=1e-4, abs_tol=1e-4)) and g[2:] == w[2:]
        for g, w in zip(got, want, strict=True)
    )


@pytest.mark.parametrize("golden", CAPSULES, ids=[f"{p.parent.name}/{p.stem}" for p in CAPSULES])
def test_golden_capsule_reads_back_the_same(golden: Path, tmp_path: Path) -> None:
    want = json.loads(golden.with_suffix(".json").read_text())
    path = tmp_path / golden.name
    shutil.copyfile(golden, path)  # never open the golden file itself: a writer would change it
    with Memvid.open(path, read_only=True) as mem:
        assert mem.stats().format_version == want["format_version"]
        assert mem.uuid == want["uuid"]
        assert {"seq": mem.head.seq, "id": mem.head.id} == want["head"]
        timeline = [
            {
                "seq": c.seq,
                "id": c.id,
                "parent": c.parent,
                "time": c.time.isoformat(),
                "message": c.message,
                "added": c.added,
                "removed": c.removed,
                "frames": c.frames,
            }
            for c in mem.timeline()
        ]
        assert timeline == want["timeline"]
        for seq, frames in want["commits"].items():
            assert canon_frames(mem.at(commit=int(seq)).frames()) == frames, f"commit {seq}"
        lex_schema = _lex_schema(path)  # 1 for capsules written before schema 2: indexed again
        for search in want["searches"]:
            got = canon_search(mem, search["request"])
            exact = search["request"].get("mode") != "lex" or lex_schema == SCHEMA_VERSION
            assert _same_hits(got, search["hits"], scores=exact), (search["request"], got, search["hits"])
        report = mem.verify()
        assert report.ok, report.findings
    with Memvid.open(path) as mem:
        mem.put("written by this version", tags={"golden": "append"})
        mem.commit("append")
    assert _lex_schema(path) == SCHEMA_VERSION  # the writer's commit wrote a current lexical checkpoint
    with Memvid.open(path, read_only=True) as mem:
        assert mem.head.seq == want["head"]["seq"] + 1
        assert canon_frames(mem.at(commit=want["head"]["seq"]).frames()) == want["commits"][str(want["head"]["seq"])]
        assert mem.verify().ok
    assert golden.read_bytes()[:8] == b"\x89MV2\r\n\x1a\n"


def _lex_schema(path: Path) -> int | None:
    """The schema version of the lexical checkpoint the capsule's head records."""
    with Memvid.open(path, read_only=True) as mem:
        state = lex_state(mem._snapshot, current=False)
        return None if state is None else state.version


@pytest.mark.parametrize("golden", CAPSULES, ids=[f"{p.parent.name}/{p.stem}" for p in CAPSULES])
def test_golden_capsule_searches_with_adaptive_fusion(golden: Path, tmp_path: Path) -> None:
    """Capsules written before commits recorded a fusion calibration are calibrated when
    searched; the next commit of this version records one."""
    path = tmp_path / golden.name
    shutil.copyfile(golden, path)
    with Memvid.open(path, read_only=True) as mem:
        dim = mem.stats().embedding_dim
        assert dim and "fusion" not in mem._snapshot.manifest.indexes
        vector = [0.5, -0.25, 0.75, 0.0][:dim] + [0.0] * (dim - 4)
        default = mem.search("alice coffee tea", vector=vector, mode="hybrid", limit=10)
        assert default.mode == "hybrid" and len(default) > 0
        assert [(h.frame_id, h.score) for h in default] == [
            (h.frame_id, h.score)
            for h in mem.search("alice coffee tea", vector=vector, mode="hybrid", fusion="adaptive", limit=10)
        ]
        assert all(0.0 <= h.score <= 1.0 for h in default)
        lazy = calibration(mem._snapshot)
        assert lazy.sampled > 0 and lazy.seconds > 0  # computed here, not read
    with Memvid.open(path) as mem:
        mem.put("written by this version", embedding=vector)
        mem.commit("append")
        entry = mem._snapshot.manifest.indexes["fusion"]
        assert entry["v"] == 1 and entry["sampled"] == lazy.sampled + 1
        assert mem.search("alice coffee tea", vector=vector, mode="hybrid")
