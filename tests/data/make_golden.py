"""Write the golden capsules of the current format version, and what they must read back as.

    python tests/data/make_golden.py            # writes tests/data/golden/v<N>/ if it is not there
    python tests/data/make_golden.py --force    # rewrites it (only while format v<N> is unreleased)
    python tests/data/make_golden.py --add NAME # writes one golden capsule that is not there yet

Each golden capsule ``<name>.mv2`` comes with ``<name>.json``: its head, its timeline,
every frame of every commit (all fields), and the results of a few lexical and vector
searches at the head, as the library that wrote it read them. ``tests/durability/test_golden.py``
opens every golden capsule of every version on every run and compares: a capsule written
by an older release must read back the same forever.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "durability"))

from durability_support import canon_frames, canon_search, hnsw_threshold  # noqa: E402

import memvid  # noqa: E402
from memvid import Memvid, PutOptions  # noqa: E402
from memvid.format.header import FORMAT_VERSION  # noqa: E402

SEARCHES: tuple[dict[str, Any], ...] = (
    {"query": "alice coffee tea", "mode": "lex"},
    {"query": "deploy window", "mode": "lex", "limit": 3},
    {"query": "team", "mode": "lex", "tags": {"person": "carol"}},
    {"vector": [0.5, -0.25, 0.75, 0.0], "mode": "vec", "limit": 4},
)


def _emb(seed: int) -> list[float]:
    return [((seed * 31 + k * 7) % 17) / 8.0 - 1.0 for k in range(4)]


def build_timeline(path: Path) -> None:
    """Five commits with every field a frame has, updates, deletes and a compaction."""
    with Memvid.create(path) as mem:
        mem.put(
            "Alice prefers green tea in the morning.",
            title="preference",
            uri="mv2://people/alice",
            tags={"person": "alice", "topic": "drinks"},
            kind="text/plain",
            timestamp="2024-05-01T08:30:00+00:00",
            metadata={"source": "chat", "turn": 3, "nested": {"ok": True, "list": [1, 2.5, "x", None]}},
            embedding=_emb(1),
        )
        mem.put("Bob works on the billing service.", tags={"person": "bob"}, metadata={"confidence": 0.75})
        mem.put_bytes(b"\x00\x01binary payload\xff", PutOptions(text="a binary note", uri="mv2://blobs/1"))
        mem.commit("first")
        mem.update("mv2://people/alice", "Alice now prefers coffee.", tags={"person": "alice", "topic": "coffee"})
        mem.delete(next(f.id for f in mem.frames(tags={"person": "bob"})))
        mem.put("Carol joined the team on Monday.", tags={"person": "carol"}, embedding=_emb(2))
        mem.put("Héllo wörld ✓ — unicode, 日本語, a NUL \x00 inside.", title="unicode", metadata={"k": "\x00"})
        mem.commit("second: an update, a delete")
        for i in range(10):  # enough one-frame commits for the writer to merge segments
            mem.put(f"note {i}: the deploy window is Thursday.", tags={"n": str(i)}, embedding=_emb(10 + i))
            mem.commit(f"note {i}")
        mem.delete("mv2://blobs/1")
        mem.commit(None)


def build_hnsw(path: Path) -> None:
    """Segments with HNSW blocks (the threshold lowered from 8,192 to 4 while writing), one
    merged by compaction, which extends its largest input's index: the vector index format."""
    with hnsw_threshold(4), Memvid.create(path) as mem:
        for c in range(3):
            for i in range(6):
                n = 6 * c + i
                mem.put(f"vector note {n}: topic {n % 3}", tags={"n": str(n)}, embedding=_emb(100 + n))
            mem.put(f"a note without a vector, commit {c}")
            mem.commit(f"vectors {c}")
        for i in range(9):  # one-frame commits: the writer merges segments
            mem.put(f"late note {i}", embedding=_emb(200 + i))
            mem.commit(f"late {i}")


GOLDEN = {"timeline": build_timeline, "hnsw": build_hnsw}


def expectation(path: Path) -> dict[str, Any]:
    with Memvid.open(path, read_only=True) as mem:
        timeline = mem.timeline()
        return {
            "written_by": memvid.__version__,
            "format_version": mem.stats().format_version,
            "uuid": mem.uuid,
            "size_bytes": path.stat().st_size,
            "head": {"seq": mem.head.seq, "id": mem.head.id},
            "timeline": [
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
                for c in timeline
            ],
            "commits": {str(c.seq): canon_frames(mem.at(commit=c.seq).frames()) for c in timeline},
            "searches": [{"request": r, "hits": canon_search(mem, r)} for r in SEARCHES],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rewrite this version's golden capsules")
    parser.add_argument("--add", metavar="NAME", choices=sorted(GOLDEN), help="write one that is not there yet")
    args = parser.parse_args()
    out = HERE / "golden" / f"v{FORMAT_VERSION}"
    if args.add:
        if (out / f"{args.add}.mv2").exists():
            raise SystemExit(f"{out / args.add}.mv2 exists; golden capsules are never rewritten")
        out.mkdir(parents=True, exist_ok=True)
        GOLDEN[args.add](out / f"{args.add}.mv2")
        doc = expectation(out / f"{args.add}.mv2")
        (out / f"{args.add}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {args.add}.mv2 and {args.add}.json to {out}")
        return
    if out.exists() and not args.force:
        raise SystemExit(f"{out} exists; golden capsules of a released format are never rewritten (--force)")
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / out.name
        staged.mkdir()
        for name, build in GOLDEN.items():
            build(staged / f"{name}.mv2")
            doc = expectation(staged / f"{name}.mv2")
            (staged / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(staged, out)
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")


if __name__ == "__main__":
    main()
