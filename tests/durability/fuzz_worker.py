"""Child process of the fuzz test: hypothesis alters one structure of a capsule and
the whole read API runs on the result. Run with ``sys.executable``::

    python fuzz_worker.py CAPSULE TARGET MODE EXAMPLES
    python fuzz_worker.py read IMAGE          # every read on one file, once

TARGET is one of ``TARGETS``; MODE is ``stale`` (bytes changed in place, checksums
left as they were) or ``recomputed`` (the altered structure is written as new
blocks under a new commit, every digest, the commit hash and the trailer
recomputed, so it reaches the parser behind the checksum). Prints ``case N``
before each example (so a segfault names its case), and a JSON summary last. Exit
status 0 when only ``MemvidError`` came out, no call on an example took over 1 s, and the
process stayed under 512 MiB.
"""

from __future__ import annotations

import json
import resource
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from forge import Forge, read_everything
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memvid.format.checksum import commit_digest
from memvid.format.trailer import Trailer

TARGETS = ("header", "block_header", "manifest", "segment", "frames", "tombstones", "lex", "vec")
MAX_RSS = 512 * 1024 * 1024


def _peak_rss() -> int:
    """This process's peak resident set, in bytes. ``VmHWM`` belongs to the process image, so
    it starts afresh at exec; ``ru_maxrss`` does not (Linux carries it over from the forked
    parent), so under a large pytest process it reports the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, 1, -1, 2**63, 2**64 - 1, 2**64, 4096, 10**9])
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=12,
)
byte_edits = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
        st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
        st.tuples(st.just("cut"), st.floats(0, 1), st.just(0)),
        st.tuples(st.just("insert"), st.floats(0, 1), st.integers(0, 255)),
        st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    ),
    min_size=1,
    max_size=6,
)


def edit_bytes(data: bytes, edits: list[tuple[str, float, int]], *, keep_length: bool = False) -> bytes:
    out = bytearray(data)
    for op, where, arg in edits:
        if keep_length and op in ("cut", "insert", "delete"):
            op = "set"
        if op in ("set", "flip", "delete") and not out:
            continue
        pos = min(int(where * len(out)), max(0, len(out) - 1))
        if op == "set":
            out[pos] = arg
        elif op == "flip":
            out[pos] ^= 1 << arg
        elif op == "cut":
            del out[int(where * len(out)) :]
        elif op == "insert":
            out[pos:pos] = bytes([arg]) * (1 + arg % 9)
        elif op == "delete":
            del out[pos : pos + arg]
    return bytes(out)


def json_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths += json_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            paths += json_paths(value, (*prefix, i))
    return paths


def set_path(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    elif delete and isinstance(parent, list):
        parent.pop(path[-1])
    else:
        parent[path[-1]] = value
    return doc


def mutate(base: Forge, target: str, mode: str, data: Any) -> bytes:
    forge = Forge(bytes(base.data))
    if target == "header":
        edits = data.draw(byte_edits)
        forge.poke(0, edit_bytes(bytes(forge.data[:512]), edits, keep_length=True))
        if mode == "recomputed":
            forge.fix_header_checksum()
        return bytes(forge.data)
    refs = forge.refs()
    if target == "block_header":
        _, ref, kind = data.draw(st.sampled_from(refs))
        raw = bytes(forge.data[ref[0] : ref[0] + ref[1]])
        header = edit_bytes(raw[:48], data.draw(byte_edits), keep_length=True)
        if mode == "stale":
            forge.poke(ref[0], header)
            return bytes(forge.data)
        new = forge.append_raw_block(header, raw[64:])
        if kind == 4:  # the head manifest: re-point its trailer at the forged block
            return _retrailer(forge, new, forge.payload(ref, 4))
        return forge.commit(forge.replace_ref(ref, new))
    candidates = [(role, ref, kind) for role, ref, kind in refs if role == target]
    if not candidates:
        raise AssertionError(f"the capsule has no {target} block")
    _, ref, kind = data.draw(st.sampled_from(candidates))
    if mode == "stale":
        start = ref[0] + 64
        stored = bytes(forge.data[start : ref[0] + ref[1]])
        forge.poke(start, edit_bytes(stored, data.draw(byte_edits), keep_length=True))
        return bytes(forge.data)
    payload = forge.payload(ref, kind)
    if target in ("manifest", "segment") and data.draw(st.booleans()):
        doc = json.loads(payload) if target == "segment" else forge.next_manifest()
        paths = json_paths(doc)
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(paths))
            doc = set_path(doc, path, data.draw(json_values), delete=data.draw(st.booleans()) and bool(path))
            paths = json_paths(doc)
        altered = json.dumps(doc, ensure_ascii=data.draw(st.booleans())).encode()
    else:
        altered = edit_bytes(payload, data.draw(byte_edits))
    if target == "manifest":
        return forge.commit(payload=altered)
    new = forge.append_block(kind, altered, compress=data.draw(st.booleans()))
    return forge.commit(forge.replace_ref(ref, new))


def _retrailer(forge: Forge, new_ref: list[Any], manifest_payload: bytes) -> bytes:
    """Append a trailer naming a forged manifest block whose decoded payload is ``manifest_payload``."""
    trailer = Trailer(forge.manifest["seq"], new_ref[0], new_ref[1], commit_digest(manifest_payload))
    forge.data += trailer.encode()
    return bytes(forge.data)


def read_one(path: Path) -> None:
    """``python fuzz_worker.py read IMAGE``: every read on one file; prints a JSON summary."""
    stats: Counter[str] = Counter()
    slowest = [0.0]
    read_everything(path.read_bytes(), stats, slowest)
    rss = _peak_rss()
    sys.stdout.write(json.dumps({**stats, "slowest_s": round(slowest[0], 3), "max_rss_mib": rss >> 20}) + "\n")


def main() -> None:
    if sys.argv[1] == "read":
        read_one(Path(sys.argv[2]))
        return
    path, target, mode, examples = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    base = Forge(path.read_bytes())
    stats: Counter[str] = Counter()
    slowest = [0.0]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: Any) -> None:
        image = mutate(base, target, mode, data)
        stats["cases"] += 1
        sys.stdout.write(f"case {stats['cases']}\n")
        sys.stdout.flush()
        read_everything(image, stats, slowest)

    run()
    rss = _peak_rss()
    summary = {"target": target, "mode": mode, **stats, "slowest_s": round(slowest[0], 3), "max_rss_mib": rss >> 20}
    sys.stdout.write(json.dumps(summary) + "\n")
    if rss > MAX_RSS:
        raise SystemExit(f"peak memory {rss >> 20} MiB is over {MAX_RSS >> 20} MiB")


if __name__ == "__main__":
    main()
