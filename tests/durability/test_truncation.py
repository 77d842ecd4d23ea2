"""Truncation at every byte offset of a small multi-commit capsule.

The capsule (``durability_support.build_capsule``) has a genesis commit and five
more, with titles, uris, kinds, timestamps, tags, nested metadata, a binary
payload, embeddings, two updates and three deletes (about 14 KB). Under
``MEMVID_SOAK=1`` three more commits make the writer compact its segments (21 KB).
For every ``n`` from 0 to its size, a copy of its first ``n`` bytes must either

* raise a ``MemvidError`` subclass, and only when ``n`` is before the end of the
  genesis commit (no complete commit in the file), or
* open read-only at exactly the longest commit that ends at or before ``n``: the
  same commit id and the same frames (every field) as recorded while building.

For a sample of offsets (every one under ``MEMVID_SOAK=1``) the copy is then opened
as a writer, which must cut the torn tail, commit one more frame, and leave a
capsule that reopens with the old frames plus the new one, the old commit intact
through ``at()``, the old timeline as its prefix, and a clean ``verify()`` (which
checks every block and the hash chain). Where no commit is complete,
the writer must refuse with a ``MemvidError`` and leave the bytes unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from durability_support import SOAK, build_capsule, canon_frames, vec_blocks, write_report

from memvid import Memvid, MemvidError

WRITER_EVERY = 1 if SOAK else 97


def _check_reader(path: Path, commits: list[dict[str, Any]], want: dict[str, Any] | None) -> str | None:
    """None when the read-only open behaves; else what went wrong."""
    try:
        mem = Memvid.open(path, read_only=True)
    except MemvidError as exc:
        if want is not None:
            return f"raised {exc!r} although commit {want['seq']} is complete"
        return None
    except Exception as exc:
        return f"raised a non-memvid {exc!r}"
    with mem:
        if want is None:
            return f"opened at commit {mem.head.seq} although no commit is complete"
        try:
            if (mem.head.seq, mem.head.id) != (want["seq"], want["id"]):
                return f"opened at commit {mem.head.seq}, expected {want['seq']}"
            if canon_frames(mem.frames()) != want["frames"]:
                return f"commit {want['seq']}: the frames differ from the ones committed"
            if len(mem) != len(want["frames"]):
                return f"len() is {len(mem)}, expected {len(want['frames'])}"
        except Exception as exc:
            return f"reading raised {exc!r}"
    return None


def _check_writer(path: Path, commits: list[dict[str, Any]], want: dict[str, Any] | None) -> str | None:
    before = path.read_bytes()
    if want is None:
        try:
            mem = Memvid.open(path)
        except MemvidError:
            return None if path.read_bytes() == before else "a refused writer open changed the file"
        mem.close(commit=False)
        return "a writer opened a capsule with no complete commit"
    try:
        with Memvid.open(path) as mem:
            if path.stat().st_size != want["end"]:
                return f"the writer left {path.stat().st_size} bytes, the commit ends at {want['end']}"
            new_id = mem.put("written after the cut", tags={"cut": "yes"}, metadata={"after": want["seq"]})
            result = mem.commit("after the cut")
            if result.seq != want["seq"] + 1 or result.frame_ids != (new_id,):
                return f"the new commit is {result}"
        with Memvid.open(path, read_only=True) as mem:
            frames = canon_frames(mem.frames())
            if frames[:-1] != want["frames"] or (frames[-1]["id"], frames[-1]["text"]) != (
                new_id,
                "written after the cut",
            ):
                return "after the new commit, the frames differ"
            if any(f["id"] >= new_id for f in want["frames"]):
                return f"the new frame reused id {new_id}"
            view = mem.at(commit=want["seq"])
            if view.head.id != want["id"] or canon_frames(view.frames()) != want["frames"]:
                return f"after the new commit, commit {want['seq']} differs"
            if [c.id for c in mem.timeline()][:-1] != [c["id"] for c in commits[: want["seq"] + 1]]:
                return "after the new commit, the timeline differs"
            report = mem.verify()
            if not report.ok:
                return f"verify() after the new commit: {report.findings}"
    except Exception as exc:
        return f"writer step raised {exc!r}"
    return None


@pytest.mark.slow
@pytest.mark.timeout(7200 if SOAK else 600)
def test_truncation_at_every_offset(tmp_path: Path) -> None:
    source = tmp_path / "full.mv2"
    commits: list[dict[str, Any]] = build_capsule(source, steps=5, extra=3 if SOAK else 0, hnsw_min_rows=2)["commits"]
    assert vec_blocks(source), "the capsule has no vector index block"
    data = source.read_bytes()
    cut = tmp_path / "cut.mv2"
    failures: list[str] = []
    outcomes: dict[str, int] = {}
    writer_steps = 0
    started = time.monotonic()
    for offset in range(len(data) + 1):
        complete = [c for c in commits if c["end"] <= offset]
        want = complete[-1] if complete else None
        cut.write_bytes(data[:offset])
        problem = _check_reader(cut, commits, want)
        if problem is None and offset % WRITER_EVERY == 0:
            writer_steps += 1
            problem = _check_writer(cut, commits, want)
        if problem is not None:
            failures.append(f"offset {offset}: {problem}")
        key = "error" if want is None else f"commit {want['seq']}"
        outcomes[key] = outcomes.get(key, 0) + 1
        if len(failures) >= 20:
            break
    write_report(
        "truncation",
        {
            "file_bytes": len(data),
            "commit_ends": [c["end"] for c in commits],
            "offsets": len(data) + 1,
            "outcomes": outcomes,
            "writer_steps": writer_steps,
            "failures": len(failures),
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    assert not failures, "\n".join(failures)
    assert sum(outcomes.values()) == len(data) + 1
