"""Forging capsules for the fuzz and malicious-input tests.

:class:`Forge` holds a capsule's bytes and knows its head commit. It can damage
bytes in place (checksums left *stale*), or append new blocks and a new commit
whose manifest, block digests, commit hash and trailer are all *recomputed*, so
that altered content passes every checksum and reaches the parsers behind them
(JSON, Arrow IPC, tombstone arrays, tantivy files, usearch blobs). This is what a
hostile file can do: BLAKE2b without a key protects against damage, not forgery.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from typing import Any

from memvid import Memvid, MemvidError
from memvid.engine.snapshot import BlockReader, find_head
from memvid.format.block import BLOCK_HEADER_SIZE, BlockKind, BlockRef, align, encode_block
from memvid.format.checksum import block_digest, commit_digest
from memvid.format.header import STATIC_SIZE
from memvid.format.trailer import Trailer
from memvid.storage import MemoryStorage

KINDS = {1: "frames", 2: "segment", 3: "tombstones", 4: "manifest", 5: "lex", 6: "vec"}


class Forge:
    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        storage = MemoryStorage(bytes(data), writable=False)
        self.reader = BlockReader(storage)
        head, _ = find_head(storage, self.reader)
        self.end = head.end
        del self.data[self.end :]
        self.head_ref = head.manifest_ref
        self.head_hash = head.trailer.commit_hash
        self.manifest: dict[str, Any] = json.loads(self.reader.raw(head.manifest_ref, BlockKind.MANIFEST, head.end))

    # -- reading ----------------------------------------------------------------------------

    def payload(self, ref: list[Any], kind: int) -> bytes:
        """The decoded payload of a referenced block (``[offset, length, digest_hex]``)."""
        return self.reader.raw(BlockRef(ref[0], ref[1], bytes.fromhex(ref[2])), BlockKind(kind), self.end)

    def refs(self) -> list[tuple[str, list[Any], int]]:
        """Every block the head commit references directly or through its segment
        directories: ``(role, ref, kind)``, the manifest itself included."""
        m = self.manifest
        out: list[tuple[str, list[Any], int]] = [("manifest", [*self.head_ref.to_json()], 4)]
        for seg in m["segments"]:
            out.append(("segment", seg[:3], 2))
            for batch in json.loads(self.payload(seg[:3], 2))["batches"]:
                out.append(("frames", batch[:3], 1))
        out += [("tombstones", t[:3], 3) for t in m["tombstones"]]
        lex = (m.get("indexes") or {}).get("lex")
        if lex:
            out += [
                ("lex", ref, 5)
                for entry in lex["files"].values()
                for ref in (entry if isinstance(entry[0], list) else [entry])
            ]
        vec = (m.get("indexes") or {}).get("vec")
        if vec:
            out += [("vec", ref, 6) for ref in vec["segments"].values()]
        return out

    # -- stale damage -----------------------------------------------------------------------

    def poke(self, offset: int, data: bytes) -> None:
        """Overwrite bytes in place; no checksum is fixed."""
        self.data[offset : offset + len(data)] = data

    def fix_header_checksum(self) -> None:
        self.data[STATIC_SIZE : STATIC_SIZE + 16] = block_digest(bytes(self.data[:STATIC_SIZE]))

    def fix_block_digest(self, offset: int) -> None:
        """Recompute the digest of the block at ``offset`` over its (possibly altered) header and payload."""
        stored = int.from_bytes(self.data[offset + 8 : offset + 16], "little")
        payload = bytes(self.data[offset + BLOCK_HEADER_SIZE : offset + BLOCK_HEADER_SIZE + stored])
        self.data[offset + 48 : offset + 64] = block_digest(
            bytes(self.data[offset : offset + 48]), offset.to_bytes(8, "little"), payload
        )

    # -- recomputed forgery -----------------------------------------------------------------

    def append_block(self, kind: int, payload: bytes, *, compress: bool = True) -> list[Any]:
        """Append a block with a correct digest; returns its reference."""
        offset = align(len(self.data))
        block = encode_block(BlockKind(kind), payload, offset, compress=compress)
        self.data += bytes(offset - len(self.data)) + block
        return [offset, len(block), block[48:64].hex()]

    def append_raw_block(self, header48: bytes, payload: bytes) -> list[Any]:
        """Append a block with any header fields (digest computed over them as written)."""
        offset = align(len(self.data))
        digest = block_digest(header48, offset.to_bytes(8, "little"), payload)
        self.data += bytes(offset - len(self.data)) + header48 + digest + payload
        return [offset, BLOCK_HEADER_SIZE + len(payload), digest.hex()]

    def commit(self, manifest: dict[str, Any] | None = None, *, payload: bytes | None = None) -> bytes:
        """Append a new commit on top of the head: ``manifest`` (default: ``next_manifest()``)
        or, verbatim, the manifest bytes ``payload``; then its trailer. Returns the capsule's bytes."""
        doc: Any = None
        if payload is None:
            doc = self.next_manifest() if manifest is None else manifest
            payload = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        ref = self.append_block(4, payload)
        self.last_ref, self.last_hash = ref, commit_digest(payload)
        seq = doc.get("seq") if isinstance(doc, dict) else None
        trailer = Trailer(
            seq=seq if isinstance(seq, int) and 0 <= seq < 2**64 else self.manifest["seq"] + 1,
            manifest_offset=ref[0],
            manifest_length=ref[1],
            commit_hash=commit_digest(payload),
        )
        self.data += trailer.encode()
        return bytes(self.data)

    def next_manifest(self) -> dict[str, Any]:
        """A copy of the head's manifest as the next commit's, ready to alter."""
        doc = json.loads(json.dumps(self.manifest))
        doc["seq"] = self.manifest["seq"] + 1
        doc["parent"] = {"ref": [*self.head_ref.to_json()], "hash": self.head_hash.hex()}
        return doc

    def replace_ref(self, old: list[Any], new: list[Any]) -> dict[str, Any]:
        """The next manifest, with every reference to block ``old`` pointing to ``new`` instead
        (a frames block is referenced from a segment directory: that directory is re-forged)."""
        doc = self.next_manifest()
        text = json.dumps(doc)
        key = json.dumps(old[:3])[1:-1]
        if key in text:
            return dict(json.loads(text.replace(key, json.dumps(new[:3])[1:-1])))
        for i, seg in enumerate(doc["segments"]):
            directory = json.loads(self.payload(seg[:3], 2))
            dir_text = json.dumps(directory)
            if key in dir_text:
                new_dir = self.append_block(
                    2, json.dumps(json.loads(dir_text.replace(key, json.dumps(new[:3])[1:-1]))).encode()
                )
                doc["segments"][i] = [*new_dir, *seg[3:]]
                return dict(doc)
        raise KeyError(f"no reference to {old}")


MAX_SECONDS = 1.0
"""No single read of a hostile input may take longer (RELIABILITY.md), in CPU seconds of
this process and the children it waited for: wall time on a shared two-core machine
running other batteries varies several-fold (a 500-frame listing once took 1.04 s of wall
time and did not again), while the work a hostile input can cause is CPU."""


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def read_everything(data: bytes, stats: Counter[str], slowest: list[float]) -> None:
    """Every read of the public API, each timed; a MemvidError ends it (and is counted).
    ``slowest[0]`` becomes the most CPU seconds one call took."""

    def timed(call: Any) -> Any:
        started = _cpu()
        result = call()
        took = _cpu() - started
        slowest[0] = max(slowest[0], took)
        assert took < MAX_SECONDS, f"one call took {took:.2f} CPU seconds"
        return result

    try:
        mem = timed(lambda: Memvid.from_storage(MemoryStorage(data, writable=False), read_only=True))
        with mem:
            frames = timed(lambda: list(itertools.islice(mem.frames(), 500)))
            timed(lambda: (len(mem), mem.stats()))
            for commit in timed(lambda: mem.timeline()[-3:]):
                timed(lambda seq=commit.seq: list(itertools.islice(mem.at(commit=seq).frames(), 500)))
            for frame in frames[:3]:
                timed(lambda fid=frame.id: mem.get(fid))
            timed(lambda: mem.search("alice coffee tea frame alpha", mode="lex"))
            dim = mem.stats().embedding_dim
            if dim:
                timed(lambda: mem.search(vector=[0.5] * dim, mode="vec", limit=5))
                # hybrid: adaptive fusion reads the manifest's calibration entry
                timed(lambda: mem.search("alice coffee tea", vector=[0.5] * dim, mode="hybrid", limit=5))
            report = timed(mem.verify)
            stats["opened_ok" if report.ok else "verify_findings"] += 1
    except MemvidError as exc:
        stats[type(exc).__name__] += 1
