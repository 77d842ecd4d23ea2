"""The memvid demo: build a capsule from the sample notes, then look around it.

Run with ``make demo`` (or ``python examples/demo.py [PATH]``). No server, no network.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from memvid import Memvid, MissingDependencyError
from memvid.embed import default_embedder

DATA = Path(__file__).parent / "data" / "notes.jsonl"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "atlas.mv2"
    notes = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]

    try:
        embedder = default_embedder()  # all-MiniLM-L6-v2, local and offline (the embed extra)
        print(f"Building {path} from {len(notes)} sample notes, embedded with {embedder.name}")
    except MissingDependencyError as exc:
        embedder = None
        print(f"Building {path} from {len(notes)} sample notes, without vectors ({exc})")
    with Memvid.create(path, overwrite=True, embedder=embedder) as mem:
        mem.put_many(notes[:6])
        first = mem.commit("import the first notes")
        mem.put_many(notes[6:])
        mem.commit("import the rest")
        # Knowledge changes: a bug gets fixed (the old note stays in history), a note is retracted.
        mem.update(
            "mv2://notes/bug-412",
            "Thumbnails on high-density screens were blurry; fixed by exporting 2x and 3x variants.",
            tags={"project": "atlas", "type": "bug", "status": "fixed"},
        )
        mem.delete("mv2://notes/bob-travel")
        mem.commit("bug 412 fixed; Bob's trip cancelled")

    with Memvid.open(path, read_only=True, embedder=embedder) as mem:
        stats = mem.stats()
        print(f"\n{stats.frames} live frames, {stats.commit_seq} commits, {stats.size_bytes:,} bytes\n")

        print("Search (BM25, English stemming): 'offline storage'")
        for hit in mem.search("offline storage", mode="lex", limit=3):
            print(f"  {hit.score:5.2f}  #{hit.frame_id} {hit.title}: {_marked(hit.snippet, hit.highlights)[:90]}")

        question = "how fast is the import of herbarium data"
        if embedder is not None:
            print(f"\nOne question, three ways: {question!r}")
            for mode in ("lex", "vec", "hybrid"):
                hits = mem.search(question, mode=mode, limit=2)
                found = "; ".join(f"#{h.frame_id} {h.title} ({h.score:.3f})" for h in hits) or "nothing"
                print(f"  {mode:6}  {found}")

        print("\nSearch with filters: 'design' in notes tagged project=atlas, type=meeting")
        for hit in mem.search("design", mode="lex", tags={"project": "atlas", "type": "meeting"}):
            print(f"  {hit.score:5.2f}  #{hit.frame_id} {hit.title}")

        print("\nDecisions on project atlas:")
        for frame in mem.frames(tags={"project": "atlas", "type": "decision"}):
            print(f"  #{frame.id} {frame.time:%Y-%m-%d} {frame.title}")

        print("\nWhat we know about bug 412 now:")
        print("  " + mem.get_by_uri("mv2://notes/bug-412").text)

        print("\nTimeline:")
        for commit in mem.timeline():
            print(f"  {commit.seq}  {commit.id[:12]}  +{commit.added} -{commit.removed}  {commit.message}")

        past = mem.at(commit=first.seq)
        print(f"\nAs of commit {first.seq} ({first.id[:12]}), bug 412 read:")
        print("  " + past.get_by_uri("mv2://notes/bug-412").text)
        print(f"  and Bob's trip was still on: {past.get_by_uri('mv2://notes/bob-travel').text[:60]}...")

        print(
            "  and a search of that commit finds it: "
            + ", ".join(h.title or "" for h in past.search("Bob Lisbon", mode="lex"))
        )

        report = mem.verify()
        print(f"\nverify: {'ok' if report.ok else report.findings} ({report.commits} commits, {report.blocks} blocks)")


def _marked(snippet: str, highlights: tuple[tuple[int, int], ...]) -> str:
    out, last = [], 0
    for start, end in highlights:
        out += [snippet[last:start], "[", snippet[start:end], "]"]
        last = end
    return "".join(out) + snippet[last:]


if __name__ == "__main__":
    main()
