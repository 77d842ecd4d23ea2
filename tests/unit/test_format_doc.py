"""An independent reader of the ``.mv2`` format, written only from ``docs/explanation/format.md``.

Nothing here imports ``memvid.format`` or ``memvid.engine``: the reader below knows the file only through the
document, and the tests check it against what the public API (``from memvid import Memvid``) says about the same
capsules. If the document is incomplete or wrong, this reader fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import math
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import zstandard

from memvid import CorruptCapsuleError, Memvid, PutOptions

# --- constants, as the document states them ------------------------------------------------------------------------

MAGIC = b"\x89MV2\r\n\x1a\n"
HEADER_SIZE = 4096
SLOT_OFFSETS = (1024, 2048)
SLOT_SIZE = 80
BLOCK_HEADER = 64
TRAILER_SIZE = 80
TRAILER_MAGIC = b"MV2TRAIL"
BLOCK_MAGIC = b"MVBK"
KIND_FRAMES, KIND_SEGMENT, KIND_TOMBSTONES, KIND_MANIFEST = 1, 2, 3, 4
KIND_LEX_FILE, KIND_VEC_INDEX = 5, 6
CODEC_NONE, CODEC_ZSTD = 0, 1
MAX_RAW = 256 * 1024 * 1024
MAX_STORED = 512 * 1024 * 1024
DELETED = 2**64 - 1
ARROW_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
FULL_BATCH_ROWS = 512
FULL_BATCH_BYTES = 512 * 1024

FRAME_COLUMNS = [
    ("frame_id", pa.uint64(), False),
    ("created_at", pa.timestamp("us", tz="UTC"), False),
    ("timestamp", pa.timestamp("us", tz="UTC"), True),
    ("uri", pa.utf8(), True),
    ("title", pa.utf8(), True),
    ("kind", pa.utf8(), True),
    ("tags", pa.map_(pa.utf8(), pa.utf8()), True),
    ("metadata", pa.utf8(), True),
    ("text", pa.utf8(), False),
    ("payload", pa.binary(), True),
    ("checksum", pa.binary(16), False),
    ("supersedes", pa.uint64(), True),
]


class FormatError(Exception):
    """The bytes do not follow the document."""


def blake128(person: bytes, *parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=16, person=person)
    for part in parts:
        h.update(part)
    return h.digest()


def commit_hash(manifest_payload: bytes) -> bytes:
    return hashlib.blake2b(manifest_payload, digest_size=32, person=b"memvid-commit").digest()


def frame_checksum(text: str, payload: bytes | None) -> bytes:
    raw = text.encode("utf-8")
    return blake128(b"memvid-frame", struct.pack("<Q", len(raw)), raw, payload or b"")


def level_of(n: int) -> int:
    return math.floor(math.log2(n) / 3)


def us_to_dt(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


# --- the reader ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    offset: int
    kind: int
    codec: int
    stored: bytes
    raw: bytes
    digest: bytes

    @property
    def end(self) -> int:
        return self.offset + BLOCK_HEADER + len(self.stored)


@dataclass(frozen=True)
class Slot:
    index: int
    generation: int
    trailer_offset: int
    seq: int
    hash: bytes


@dataclass
class Commit:
    seq: int
    hash: bytes
    manifest_offset: int
    manifest_length: int
    trailer_offset: int
    manifest: dict[str, Any]
    frames: dict[int, dict[str, Any]] = field(default_factory=dict)  # live frames, filled by live_frames()
    dead: dict[int, int] = field(default_factory=dict)  # tombstoned id -> cause, filled by live_frames()


class DocReader:
    """Reads a capsule's bytes exactly as ``format.md`` describes them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.header = self._read_header()
        self.nbytes_mismatches: list[tuple[int, int, int]] = []
        self.frames_codecs: list[int] = []
        self.frames_with_embedding: dict[int, bool] = {}

    # header and slots

    def _read_header(self) -> dict[str, Any]:
        d = self.data
        if len(d) < HEADER_SIZE or d[:8] != MAGIC:
            raise FormatError("bad magic")
        version, header_size, flags = struct.unpack_from("<HHI", d, 8)
        if version != 1 or header_size != HEADER_SIZE:
            raise FormatError(f"version {version}, header size {header_size}")
        if flags != 0:
            raise FormatError("flags must be 0 in version 1")
        if blake128(b"memvid-block", d[:512]) != d[512:528]:
            raise FormatError("header checksum")
        (created_at,) = struct.unpack_from("<q", d, 32)
        zero_ranges = [(40, 64), (64, 512), (528, 1024), (1104, 2048), (2128, 4096)]
        for lo, hi in zero_ranges:
            if any(d[lo:hi]):
                raise FormatError(f"header bytes {lo}..{hi} are not zero")
        return {"uuid": d[16:32], "created_at_us": created_at}

    def slots(self) -> list[Slot]:
        found = []
        for index, at in enumerate(SLOT_OFFSETS):
            raw = self.data[at : at + SLOT_SIZE]
            if not any(raw):
                continue
            if blake128(b"memvid-block", raw[:64]) != raw[64:80]:
                continue
            if any(raw[56:64]):
                raise FormatError("slot reserved bytes not zero")
            generation, trailer_offset, seq = struct.unpack_from("<QQQ", raw, 0)
            found.append(Slot(index, generation, trailer_offset, seq, raw[24:56]))
        return found

    def best_slot(self) -> Slot | None:
        slots = self.slots()
        return max(slots, key=lambda s: s.generation) if slots else None

    # blocks

    def read_block(self, offset: int, kind: int | None = None) -> Block:
        d = self.data
        if offset % 64:
            raise FormatError(f"block at {offset} not 64-aligned")
        if offset < HEADER_SIZE or offset + BLOCK_HEADER > len(d):
            raise FormatError(f"block at {offset} outside the file")
        head = d[offset : offset + BLOCK_HEADER]
        if head[:4] != BLOCK_MAGIC:
            raise FormatError(f"no block magic at {offset}")
        stored_len, raw_len = struct.unpack_from("<QQ", head, 8)
        if stored_len > MAX_STORED or raw_len > MAX_RAW:
            raise FormatError("block too large")
        if offset + BLOCK_HEADER + stored_len > len(d):
            raise FormatError("block runs past the end of the file")
        stored = d[offset + BLOCK_HEADER : offset + BLOCK_HEADER + stored_len]
        digest = head[48:64]
        if blake128(b"memvid-block", head[:48], struct.pack("<Q", offset), stored) != digest:
            raise FormatError(f"block digest at {offset}")
        # only now is anything in the block interpreted
        block_kind, codec = head[4], head[5]
        if any(head[6:8]) or any(head[24:48]):
            raise FormatError("block reserved bytes not zero")
        if kind is not None and block_kind != kind:
            raise FormatError(f"block at {offset} is kind {block_kind}, expected {kind}")
        if codec == CODEC_NONE:
            raw = stored
        elif codec == CODEC_ZSTD:
            dctx = zstandard.ZstdDecompressor()
            params = zstandard.get_frame_parameters(stored)
            if params.content_size not in (raw_len, zstandard.CONTENTSIZE_UNKNOWN):
                raise FormatError("zstd frame content size disagrees with the raw length")
            raw = dctx.decompress(stored, max_output_size=raw_len)
            # "a single zstd frame": nothing may follow it
            obj = dctx.decompressobj()
            obj.decompress(stored)
            if obj.unused_data:
                raise FormatError("more than one zstd frame")
        else:
            raise FormatError(f"unknown codec {codec}")
        if len(raw) != raw_len:
            raise FormatError("raw length mismatch")
        return Block(offset, block_kind, codec, stored, raw, digest)

    def read_ref(self, ref: list[Any], kind: int, before: int) -> Block:
        offset, length, digest_hex = ref[0], ref[1], ref[2]
        if offset + length > before:
            raise FormatError(f"reference {ref} does not lie wholly before {before}")
        block = self.read_block(offset, kind)
        if BLOCK_HEADER + len(block.stored) != length:
            raise FormatError(f"reference length {length} != block length {BLOCK_HEADER + len(block.stored)}")
        if block.digest.hex() != digest_hex:
            raise FormatError("reference digest mismatch")
        return block

    # trailers and commits

    def trailer_at(self, at: int) -> tuple[int, int, int, bytes] | None:
        raw = self.data[at : at + TRAILER_SIZE]
        if len(raw) != TRAILER_SIZE or raw[:8] != TRAILER_MAGIC:
            return None
        if blake128(b"memvid-block", raw[:64]) != raw[64:80]:
            return None
        seq, m_off, m_len = struct.unpack_from("<QQQ", raw, 8)
        if m_off + m_len != at:
            return None
        return seq, m_off, m_len, raw[32:64]

    def _candidates(self) -> Iterator[int]:
        size = len(self.data)
        first = size - TRAILER_SIZE
        if first >= HEADER_SIZE:
            yield first
        end = size
        while True:
            at = self.data.rfind(TRAILER_MAGIC, HEADER_SIZE, end)
            if at < 0:
                return
            if at != first:
                yield at
            end = at + len(TRAILER_MAGIC) - 1

    def load_commit(self, m_off: int, m_len: int, trailer_offset: int) -> Commit:
        block = self.read_block(m_off, KIND_MANIFEST)
        if BLOCK_HEADER + len(block.stored) != m_len:
            raise FormatError("manifest length disagrees with the trailer")
        manifest = json.loads(block.raw.decode("utf-8"))
        # DOC GAP: "the payload's BLAKE2b-256" does not say stored or decoded; the bytes say decoded (the JSON).
        return Commit(manifest["seq"], commit_hash(block.raw), m_off, m_len, trailer_offset, manifest)

    def latest(self) -> Commit:
        best = self.best_slot()
        for at in self._candidates():
            trailer = self.trailer_at(at)
            if trailer is None:
                continue
            seq, m_off, m_len, chash = trailer
            try:
                commit = self.load_commit(m_off, m_len, at)
                if commit.hash != chash or commit.seq != seq:
                    raise FormatError("commit hash or seq disagrees with the trailer")
            except (FormatError, ValueError, zstandard.ZstdError) as exc:
                if best is not None and best.trailer_offset == at:
                    raise FormatError(f"durable commit at {at} is damaged: {exc}") from exc
                continue  # a torn write
            if best is not None and best.seq > commit.seq and best.trailer_offset + 80 <= len(self.data):
                raise FormatError("the durable commit named by the header slot is damaged")
            return commit
        raise FormatError("no valid trailer")

    def parent(self, commit: Commit) -> Commit | None:
        parent = commit.manifest["parent"]
        if parent is None:
            if commit.seq != 0:
                raise FormatError("only commit 0 has no parent")
            return None
        ref = parent["ref"]
        if ref[0] + ref[1] > commit.manifest_offset:
            raise FormatError("parent reference does not lie before the manifest")
        self.read_ref(ref, KIND_MANIFEST, commit.manifest_offset)
        p = self.load_commit(ref[0], ref[1], ref[0] + ref[1])
        if p.hash.hex() != parent["hash"]:
            raise FormatError("parent hash mismatch")
        trailer = self.trailer_at(p.trailer_offset)
        if trailer is None or trailer[3] != p.hash or trailer[0] != p.seq:
            raise FormatError("parent's trailer does not follow its manifest")
        if p.seq != commit.seq - 1:
            raise FormatError("parent seq is not seq - 1")
        if commit.manifest["time_us"] < p.manifest["time_us"]:
            raise FormatError("time_us went backwards")
        return p

    def chain(self, latest: Commit | None = None) -> list[Commit]:
        """Every commit from 0 to the latest, oldest first, each parent hash verified."""
        commits = []
        c: Commit | None = latest or self.latest()
        while c is not None:
            commits.append(c)
            c = self.parent(c)
        commits.reverse()
        if commits[0].seq != 0:
            raise FormatError("chain does not reach commit 0")
        return commits

    # manifest contents

    def segment(self, entry: list[Any], before: int) -> list[list[Any]]:
        offset, length, digest_hex, first_id, last_id, rows, level = entry
        block = self.read_ref([offset, length, digest_hex], KIND_SEGMENT, before)
        directory = json.loads(block.raw.decode("utf-8"))
        batches: list[list[Any]] = directory["batches"]
        if not batches:
            raise FormatError("empty segment")
        if batches[0][3] != first_id or batches[-1][4] != last_id or sum(b[5] for b in batches) != rows:
            raise FormatError("segment entry disagrees with its directory")
        if level != level_of(rows):
            raise FormatError(f"segment level {level} != floor(log2({rows}) / 3)")
        for prev, nxt in itertools.pairwise(batches):
            if prev[4] >= nxt[3]:
                raise FormatError("batches not in frame-id order")
        return batches

    def frames_block(self, batch: list[Any], before: int, embedding_dim: int | None) -> list[dict[str, Any]]:
        offset, length, digest_hex, first_id, last_id, rows, nbytes = batch
        block = self.read_ref([offset, length, digest_hex], KIND_FRAMES, before)
        # DOC GAP: "the block codec (zstd) compresses the whole stream" reads as always-zstd, but blocks whose
        # stream does not compress are stored with codec 0; the generic block rule (codec 0 or 1) is what holds.
        self.frames_codecs.append(block.codec)
        (stream_len,) = struct.unpack_from("<Q", block.raw)
        arrow = block.raw[8 : 8 + stream_len]
        section = block.raw[8 + stream_len :]
        if len(arrow) != stream_len or not arrow.endswith(ARROW_EOS):
            raise FormatError("Arrow stream cut short or without its end-of-stream marker")
        with pa.ipc.open_stream(arrow) as stream:
            schema = stream.schema
            batches = list(stream)
        if len(batches) != 1:
            raise FormatError(f"{len(batches)} record batches, expected one")
        self.frames_with_embedding[offset] = bool(section)
        vectors: list[list[float] | None] | None = None
        if section:
            if embedding_dim is None:
                raise FormatError("vector section without embedding_dim")
            (dim,) = struct.unpack_from("<I", section)
            n = batches[0].num_rows
            if dim != embedding_dim or len(section) != 4 + n + 4 * n * dim:
                raise FormatError(f"vector section of {len(section)} bytes for {n} rows of dim {dim}")
            present = section[4 : 4 + n]
            planes = section[4 + n :]
            vectors = []
            for i in range(n):
                if present[i] not in (0, 1):
                    raise FormatError("presence byte not 0 or 1")
                if not present[i]:
                    vectors.append(None)
                    continue
                row = []
                for j in range(dim):
                    v = i * dim + j  # the value's index; plane k holds its byte k at position v
                    raw = bytes(planes[k * n * dim + v] for k in range(4))
                    row.append(struct.unpack("<f", raw)[0])
                vectors.append(row)
        expected = list(FRAME_COLUMNS)
        got = [(f.name, f.type, f.nullable) for f in schema]
        if [(n, t) for n, t, _ in got] != [(n, t) for n, t, _ in expected]:
            raise FormatError(f"schema {got} != {expected}")
        for (name, _, nullable), (_, _, want_nullable) in zip(got, expected, strict=True):
            if not want_nullable and nullable:
                raise FormatError(f"column {name} should be not null")
        table = batches[0].to_pylist()
        ids = [r["frame_id"] for r in table]
        if ids != sorted(set(ids)):
            raise FormatError("frame ids not strictly increasing")
        if (ids[0], ids[-1], len(ids)) != (first_id, last_id, rows):
            raise FormatError("batch entry disagrees with its rows")
        size = 0
        for r in table:
            text_bytes = r["text"].encode("utf-8")
            size += len(text_bytes) + len(r["payload"] or b"")
            if text_bytes and text_bytes not in block.raw:
                raise FormatError("Arrow buffers are compressed")  # the text must sit verbatim in the stream
            if frame_checksum(r["text"], r["payload"]) != r["checksum"]:
                raise FormatError(f"frame {r['frame_id']} content checksum mismatch")
        for i, r in enumerate(table):
            r["embedding"] = None if vectors is None else vectors[i]
        if size != nbytes:
            # Kept aside rather than raised: see test_batch_nbytes_counts_utf8_bytes (a doc/code mismatch).
            self.nbytes_mismatches.append((offset, nbytes, size))
        return table

    def tombstones(self, entry: list[Any], before: int) -> dict[int, int]:
        offset, length, digest_hex, count, level = entry
        block = self.read_ref([offset, length, digest_hex], KIND_TOMBSTONES, before)
        if len(block.raw) != 16 * count:
            raise FormatError(f"tombstone payload is {len(block.raw)} bytes for count {count}")
        ids = struct.unpack_from(f"<{count}Q", block.raw, 0)
        causes = struct.unpack_from(f"<{count}Q", block.raw, 8 * count)
        if list(ids) != sorted(set(ids)):
            raise FormatError("tombstone ids not ascending")
        if level != level_of(count):
            raise FormatError(f"tombstone level {level} != floor(log2({count}) / 3)")
        return dict(zip(ids, causes, strict=True))

    def live_frames(self, commit: Commit) -> dict[int, dict[str, Any]]:
        m = commit.manifest
        before = commit.manifest_offset
        rows: dict[int, dict[str, Any]] = {}
        prev_last = -1
        for entry in m["segments"]:
            if entry[3] <= prev_last:
                raise FormatError("segments not in frame-id order or overlapping")
            prev_last = entry[4]
            for batch in self.segment(entry, before):
                for r in self.frames_block(batch, before, m["embedding_dim"]):
                    if r["frame_id"] in rows:
                        raise FormatError("frame id in two segments")
                    rows[r["frame_id"]] = r
        dead: dict[int, int] = {}
        for entry in m["tombstones"]:
            t = self.tombstones(entry, before)
            if dead.keys() & t.keys():
                raise FormatError("frame id in two tombstone entries")
            dead.update(t)
        if m["frames_total"] != sum(e[5] for e in m["segments"]) or m["frames_total"] != len(rows):
            raise FormatError("frames_total")
        if m["frames_dead"] != sum(e[3] for e in m["tombstones"]):
            raise FormatError("frames_dead")
        if rows and m["next_frame_id"] <= max(rows):
            raise FormatError("next_frame_id")
        commit.frames = {i: r for i, r in rows.items() if i not in dead}
        commit.dead = dead
        return commit.frames

    def walk(self) -> Iterator[tuple[str, int, int]]:
        """Every item from the header on, in file order: ("block", offset, kind) or ("trailer", offset, 0)."""
        at = HEADER_SIZE
        end = self.latest().trailer_offset + TRAILER_SIZE
        while at < end:
            if self.data[at : at + 8] == TRAILER_MAGIC and self.trailer_at(at) is not None:
                yield "trailer", at, 0
                item_end = at + TRAILER_SIZE
            else:
                block = self.read_block(at)
                yield "block", at, block.kind
                item_end = block.end
            nxt = item_end if self.data[item_end : item_end + 8] == TRAILER_MAGIC else -(-item_end // 64) * 64
            if any(self.data[item_end:nxt]):
                raise FormatError(f"padding after {item_end} is not zero")
            at = nxt


def check_manifest_keys(commit: Commit, parent: Commit | None) -> None:
    """The manifest's counters, checked against the frames and tombstones themselves (after ``live_frames``)."""
    m = commit.manifest
    assert m["v"] == 1
    assert m["embedder"] is None and m["refs"] == {} and m["branch"] == "main"
    dead = commit.dead
    ids = set(commit.frames) | set(dead)
    if parent is None:
        assert m["parent"] is None and commit.seq == 0
        old_ids: set[int] = set()
        old_dead: dict[int, int] = {}
        old_next = 0
    else:
        assert m["parent"]["ref"][:2] == [parent.manifest_offset, parent.manifest_length]
        assert m["time_us"] >= parent.manifest["time_us"]
        old_dead = parent.dead
        old_ids = set(parent.frames) | set(old_dead)
        old_next = parent.manifest["next_frame_id"]
    added = sorted(ids - old_ids)
    assert m["added"] == len(added)
    assert m["added_range"] == ([added[0], added[-1]] if added else None)
    assert m["removed"] == len(dead.keys() - old_dead.keys())
    assert dead.items() >= old_dead.items()  # tombstones are never undone
    assert m["next_frame_id"] == (added[-1] + 1 if added else old_next)
    assert all(i >= old_next for i in added)


# --- helpers to compare with the library ---------------------------------------------------------------------------


def library_frame(f: Any) -> dict[str, Any]:
    return {
        "id": f.id,
        "created_at": f.created_at,
        "timestamp": f.timestamp,
        "uri": f.uri,
        "title": f.title,
        "kind": f.kind,
        "tags": dict(f.tags),
        "metadata": dict(f.metadata),
        "text": f.text,
        "payload": f.payload,
        "checksum": f.checksum,
        "supersedes": f.supersedes,
        "embedding": None if f.embedding is None else np.asarray(f.embedding, dtype=np.float32).tolist(),
    }


def doc_frame(r: dict[str, Any]) -> dict[str, Any]:
    emb = r["embedding"]
    return {
        "id": r["frame_id"],
        "created_at": r["created_at"],
        "timestamp": r["timestamp"],
        "uri": r["uri"],
        "title": r["title"],
        "kind": r["kind"],
        "tags": dict(r["tags"] or []),
        "metadata": {} if r["metadata"] is None else json.loads(r["metadata"]),
        "text": r["text"],
        "payload": r["payload"],
        "checksum": r["checksum"].hex(),
        "supersedes": r["supersedes"],
        "embedding": None if emb is None else np.asarray(emb, dtype=np.float32).tolist(),
    }


def compare_with_library(path: Path) -> list[Commit]:
    """Read ``path`` with the doc reader and check every commit against ``Memvid.at(commit=seq)``."""
    reader = DocReader(path.read_bytes())
    commits = reader.chain()
    for prev, c in zip([None, *commits], commits, strict=False):
        reader.live_frames(c)
        check_manifest_keys(c, prev)
    with Memvid.open(path, read_only=True) as mem:
        assert mem.uuid is not None
        timeline = mem.timeline()
        assert [(ci.seq, ci.id) for ci in timeline] == [(c.seq, c.hash.hex()) for c in commits]
        for ci, c in zip(timeline, commits, strict=True):
            m = c.manifest
            assert (ci.message, ci.added, ci.removed, ci.frames) == (
                m["message"],
                m["added"],
                m["removed"],
                len(c.frames),
            )
            assert ci.time == us_to_dt(m["time_us"])
            assert ci.parent == (None if m["parent"] is None else m["parent"]["hash"])
            view = mem.at(commit=c.seq)
            lib = [library_frame(f) for f in view.frames()]
            doc = [doc_frame(c.frames[i]) for i in sorted(c.frames)]
            assert doc == lib, f"commit {c.seq}"
    return commits


# --- tests ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def capsule(tmp_path: Path) -> Path:
    """A small capsule with metadata, tags, unicode, binary payloads, updates, deletes and embeddings."""
    path = tmp_path / "c.mv2"
    t0 = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    with Memvid.create(path) as mem:
        a = mem.put("plain text", title="A", uri="mv2://a", tags={"k": "v", "x": "y"}, kind="note", timestamp=t0)
        mem.put("日本語のテキスト — ünïcödé 🚀", metadata={"n": 1, "nested": {"l": [1, 2]}}, tags={"ключ": "значение"})
        mem.commit("first")
        mem.put_bytes(b"\x00\xff\x10binary\x00", PutOptions(title="bin", kind="blob", uri="mv2://bin"))
        mem.put_bytes(bytes(range(256)) * 4, PutOptions(text="described bytes", tags={"t": "1"}))
        mem.commit("bytes")
        mem.update(a, "plain text, edited", title="A2")
        mem.commit("update")
        mem.put("with vector", embedding=[0.5, -1.0, 2.0, 0.25])
        mem.put("no vector after vectors")
        mem.commit(None)
        mem.delete("mv2://bin")
        mem.put("last", embedding=np.array([1, 2, 3, 4], dtype=np.float64), timestamp=t0 + dt.timedelta(days=1))
        mem.commit("delete and add")
    return path


def test_header_and_slots(capsule: Path) -> None:
    data = capsule.read_bytes()
    reader = DocReader(data)
    latest = reader.latest()
    with Memvid.open(capsule, read_only=True) as mem:
        stats = mem.stats()
        head_id = mem.timeline()[-1].id
    assert reader.header["uuid"].hex() == stats.uuid.replace("-", "")
    assert reader.header["uuid"][8] & 0xC0 == 0x80  # RFC 4122 variant
    assert us_to_dt(reader.header["created_at_us"]) == stats.created_at
    assert latest.hash.hex() == head_id == stats.commit_id
    best = reader.best_slot()
    assert best is not None
    assert (best.seq, best.hash, best.trailer_offset) == (latest.seq, latest.hash, latest.trailer_offset)
    for slot in reader.slots():
        assert slot.index == slot.generation % 2  # A for even generations, B for odd
    assert latest.trailer_offset + TRAILER_SIZE == len(data)  # the latest trailer ends the file


def test_every_commit_matches_the_library(capsule: Path) -> None:
    commits = compare_with_library(capsule)
    assert [c.manifest["message"] for c in commits] == ["create", "first", "bytes", "update", None, "delete and add"]
    last = commits[-1]
    assert last.manifest["embedding_dim"] == 4
    assert commits[3].manifest["embedding_dim"] is None
    # an update tombstones the old frame with the new one as cause; a delete with 2^64-1
    dead = last.dead
    edited = next(r for r in last.frames.values() if r["text"] == "plain text, edited")
    assert dead[edited["supersedes"]] == edited["frame_id"]
    assert DELETED in dead.values()
    assert commits[1].manifest["added_range"] == [0, 1] and commits[0].manifest["added_range"] is None
    # the embedding column appears in a commit's new frames blocks exactly when the capsule has embeddings
    reader = DocReader(capsule.read_bytes())
    for parent, c in itertools.pairwise(commits):
        reader.live_frames(c)
        new = [b for b in reader.frames_with_embedding if parent.trailer_offset < b < c.manifest_offset]
        assert new
        for b in new:
            assert reader.frames_with_embedding[b] == (c.manifest["embedding_dim"] is not None), f"commit {c.seq}"


def test_file_layout_is_blocks_and_trailers(capsule: Path) -> None:
    reader = DocReader(capsule.read_bytes())
    items = list(reader.walk())
    commits = reader.chain()
    trailers = [at for what, at, _ in items if what == "trailer"]
    assert trailers == [c.trailer_offset for c in commits]
    for what, at, kind in items:
        if what == "block":
            assert at % 64 == 0 and kind in (1, 2, 3, 4, 5, 6)
    # every manifest is immediately followed by its trailer
    for (_, _, kind), (next_what, _, _) in itertools.pairwise(items):
        if kind == KIND_MANIFEST:
            assert next_what == "trailer"
    assert items[0][1] == HEADER_SIZE


def test_append_only_and_slots_alternate(tmp_path: Path) -> None:
    path = tmp_path / "a.mv2"
    snapshots = []
    with Memvid.create(path) as mem:
        for i in range(5):
            mem.put(f"frame {i}")
            mem.commit(f"c{i}")
            snapshots.append(path.read_bytes())
    final = path.read_bytes()

    def masked(b: bytes) -> bytes:
        m = bytearray(b)
        for at in SLOT_OFFSETS:
            m[at : at + SLOT_SIZE] = bytes(SLOT_SIZE)
        return bytes(m)

    for snap in snapshots:
        assert masked(final).startswith(masked(snap))  # nothing but the two slots is ever rewritten
        reader = DocReader(snap)
        latest = reader.latest()
        slots = sorted(reader.slots(), key=lambda s: s.generation)
        best = slots[-1]
        assert (best.seq, best.hash, best.trailer_offset) == (latest.seq, latest.hash, latest.trailer_offset)
        assert best.index == best.generation % 2
        # the other slot holds the previous generation, naming the parent commit
        other = slots[-2]
        parent = reader.parent(latest)
        assert parent is not None
        assert other.index != best.index and other.generation == best.generation - 1
        assert (other.seq, other.hash, other.trailer_offset) == (parent.seq, parent.hash, parent.trailer_offset)


def _simulate_tiers(levels: list[int], new_rows: int, sizes: list[int]) -> None:
    """The doc's two rules: the newest segment takes in the lower levels just before it;
    eight of one level merge."""
    sizes.append(new_rows)
    levels.append(level_of(new_rows))
    while True:
        width = 1
        while width < len(levels) and levels[-width - 1] < levels[-1]:
            width += 1
        if width < 2:
            width = 8 if len(levels) >= 8 and len(set(levels[-8:])) == 1 else 0
        if not width:
            return
        merged = sum(sizes[-width:])
        del sizes[-width:], levels[-width:]
        sizes.append(merged)
        levels.append(level_of(merged))


def test_many_small_commits_compact(tmp_path: Path) -> None:
    path = tmp_path / "many.mv2"
    n = 300
    with Memvid.create(path) as mem:
        for i in range(n):
            vector = [float(i), 1.0, -0.5] if i >= 150 and i % 3 else None  # embeddings arrive mid-way
            mem.put(f"note {i} " + "x" * (i % 7), uri=f"mv2://n/{i}", tags={"i": str(i)}, embedding=vector)
            mem.commit()
    reader = DocReader(path.read_bytes())
    latest = reader.latest()
    commits = reader.chain(latest)
    assert len(commits) == n + 1
    # the doc's size-tiered rule, simulated
    levels: list[int] = []
    sizes: list[int] = []
    for c in commits[1:]:
        _simulate_tiers(levels, 1, sizes)
        assert [e[5] for e in c.manifest["segments"]] == sizes, f"commit {c.seq}"
        assert [e[6] for e in c.manifest["segments"]] == levels
    assert len(latest.manifest["segments"]) <= 16
    frames = reader.live_frames(latest)
    assert sorted(frames) == list(range(n))
    # a merged segment reuses only full batches; older commits still read from the replaced blocks
    seen: set[int] = set()
    for c in commits[1:]:
        for entry in c.manifest["segments"]:
            for batch in reader.segment(entry, c.manifest_offset):
                if batch[0] in seen and entry[5] > batch[5]:
                    assert batch[5] >= FULL_BATCH_ROWS or batch[6] >= FULL_BATCH_BYTES
                seen.add(batch[0])
    with Memvid.open(path, read_only=True) as mem:
        timeline = mem.timeline()
        assert [ci.id for ci in timeline] == [c.hash.hex() for c in commits]
        for seq in (1, 8, 9, 64, 65, 150, 152, 200, 256, n):
            reader.live_frames(commits[seq])
            lib = [library_frame(f) for f in mem.at(commit=seq).frames()]
            doc = [doc_frame(commits[seq].frames[i]) for i in sorted(commits[seq].frames)]
            assert doc == lib


def test_many_deletes_merge_tombstones(tmp_path: Path) -> None:
    path = tmp_path / "del.mv2"
    with Memvid.create(path) as mem:
        ids = [mem.put(f"doomed {i}") for i in range(40)]
        mem.commit("bulk")
        for i in ids[:20]:
            mem.delete(i)
            mem.commit()
    commits = compare_with_library(path)
    levels: list[int] = []
    sizes: list[int] = []
    for c in commits[2:]:
        _simulate_tiers(levels, 1, sizes)
        assert [e[3] for e in c.manifest["tombstones"]] == sizes, f"commit {c.seq}"
    assert len(commits[-1].frames) == 20


def test_commits_of_mixed_sizes_compact_by_the_docs_rules(tmp_path: Path) -> None:
    """Commits of 1 and 9 frames in turn (levels 0 and 1): the lower level before a newer,
    higher one is merged into it (eight of one level alone never meet here); deletes of 1 and
    9 frames in turn, the same for tombstone blocks."""
    path = tmp_path / "mixed.mv2"
    sizes_in = [1 if i % 2 else 9 for i in range(40)]
    with Memvid.create(path) as mem:
        ids = []
        for n in sizes_in:
            ids += [mem.put(f"note {len(ids) + k}") for k in range(n)]
            mem.commit()
        at = 0
        for n in sizes_in[:20]:
            for fid in ids[at : at + n]:
                mem.delete(fid)
            at += n
            mem.commit()
    commits = compare_with_library(path)
    levels: list[int] = []
    sizes: list[int] = []
    for c, n in zip(commits[1:41], sizes_in, strict=True):
        _simulate_tiers(levels, n, sizes)
        assert [e[5] for e in c.manifest["segments"]] == sizes, f"commit {c.seq}"
    assert len(sizes) < 8  # one segment per commit before the first rule
    levels, sizes = [], []
    for c, n in zip(commits[41:], sizes_in[:20], strict=True):
        _simulate_tiers(levels, n, sizes)
        assert [e[3] for e in c.manifest["tombstones"]] == sizes, f"commit {c.seq}"


def test_torn_tail_is_ignored(capsule: Path, tmp_path: Path) -> None:
    latest = DocReader(capsule.read_bytes()).latest()
    torn = tmp_path / "torn.mv2"
    shutil.copyfile(capsule, torn)
    fake_trailer = TRAILER_MAGIC + struct.pack("<QQQ", latest.seq + 1, 4096, 100) + bytes(48)
    with torn.open("ab") as fh:
        fh.write(b"\x00" * 13 + b"MVBK garbage" + fake_trailer + bytes(range(256)) * 3 + TRAILER_MAGIC + b"junk")
    reader = DocReader(torn.read_bytes())
    again = reader.latest()
    assert (again.seq, again.hash, again.trailer_offset) == (latest.seq, latest.hash, latest.trailer_offset)
    commits = compare_with_library(torn)
    assert commits[-1].hash == latest.hash


@pytest.mark.parametrize(
    "where",
    [
        "first block",
        "manifest header",
        "manifest payload",
        "trailer start",
        "trailer middle",
        "trailer last byte",
    ],
)
def test_truncated_last_commit(capsule: Path, tmp_path: Path, where: str) -> None:
    data = capsule.read_bytes()
    reader = DocReader(data)
    commits = reader.chain()
    last, previous = commits[-1], commits[-2]
    cut = {
        "first block": previous.trailer_offset + TRAILER_SIZE + 100,
        "manifest header": last.manifest_offset + 20,
        "manifest payload": last.manifest_offset + BLOCK_HEADER + 5,
        "trailer start": last.trailer_offset,
        "trailer middle": last.trailer_offset + 40,
        "trailer last byte": len(data) - 1,
    }[where]
    assert previous.trailer_offset + TRAILER_SIZE < cut < len(data)
    short = tmp_path / "short.mv2"
    short.write_bytes(data[:cut])
    with Memvid.open(short, read_only=True) as mem:  # the library finds the previous commit ...
        assert mem.timeline()[-1].id == previous.hash.hex()
    short_reader = DocReader(short.read_bytes())
    slot = short_reader.best_slot()
    assert slot is not None and slot.seq == last.seq  # ... although the header slot names the lost one
    found = short_reader.latest()  # ... and so must a reader of the document
    assert (found.seq, found.hash) == (previous.seq, previous.hash)
    compare_with_library(short)


def test_damaged_durable_commit_fails(capsule: Path, tmp_path: Path) -> None:
    data = bytearray(capsule.read_bytes())
    latest = DocReader(bytes(data)).latest()
    data[latest.manifest_offset + BLOCK_HEADER + 3] ^= 0x40
    bad = tmp_path / "bad.mv2"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="durable"):
        DocReader(bytes(data)).latest()
    with pytest.raises(CorruptCapsuleError, match="damaged"), Memvid.open(bad, read_only=True):
        pass


def test_damaged_last_trailer_inside_the_file_fails(capsule: Path, tmp_path: Path) -> None:
    data = bytearray(capsule.read_bytes())
    latest = DocReader(bytes(data)).latest()
    data[latest.trailer_offset + 70] ^= 0x01  # the trailer's own digest
    bad = tmp_path / "bad.mv2"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="durable"):
        DocReader(bytes(data)).latest()
    with pytest.raises(CorruptCapsuleError, match="damaged"), Memvid.open(bad, read_only=True):
        pass


def test_torn_manifest_without_slot_falls_back(capsule: Path, tmp_path: Path) -> None:
    """A manifest that does not verify, not named by the best slot, is a torn write: the previous commit wins."""
    data = bytearray(capsule.read_bytes())
    reader = DocReader(bytes(data))
    commits = reader.chain()
    best = reader.best_slot()
    assert best is not None
    data[SLOT_OFFSETS[best.index] : SLOT_OFFSETS[best.index] + SLOT_SIZE] = bytes(SLOT_SIZE)
    data[commits[-1].manifest_offset + BLOCK_HEADER + 3] ^= 0x40
    torn = tmp_path / "torn.mv2"
    torn.write_bytes(bytes(data))
    found = DocReader(bytes(data)).latest()
    assert found.hash == commits[-2].hash
    with Memvid.open(torn, read_only=True) as mem:
        assert mem.timeline()[-1].id == commits[-2].hash.hex()


def test_block_digest_binds_offset(capsule: Path) -> None:
    data = capsule.read_bytes()
    reader = DocReader(data)
    latest = reader.latest()
    block = reader.read_block(latest.manifest_offset, KIND_MANIFEST)
    moved = bytearray(data)
    length = BLOCK_HEADER + len(block.stored)
    moved_at = len(data) + (-len(data) % 64)
    moved.extend(bytes(moved_at - len(data)))
    moved.extend(data[latest.manifest_offset : latest.manifest_offset + length])
    with pytest.raises(FormatError, match="digest"):
        DocReader(bytes(moved)).read_block(moved_at)


def test_batch_nbytes_for_ascii(tmp_path: Path) -> None:
    path = tmp_path / "ascii.mv2"
    with Memvid.create(path) as mem:
        mem.put("plain ascii text")
        mem.put_bytes(bytes(range(256)), PutOptions(text="about the bytes"))
        mem.commit()
    reader = DocReader(path.read_bytes())
    reader.live_frames(reader.latest())
    assert reader.nbytes_mismatches == []


def test_batch_nbytes_counts_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "utf8.mv2"
    with Memvid.create(path) as mem:
        mem.put("ünïcödé 🚀 日本語")
        mem.commit()
    reader = DocReader(path.read_bytes())
    reader.live_frames(reader.latest())
    assert reader.nbytes_mismatches == []


def test_every_block_is_reachable_and_each_commit_appends(capsule: Path) -> None:
    """Each commit's new blocks lie between its parent's trailer and its own manifest, and all blocks are used."""
    reader = DocReader(capsule.read_bytes())
    commits = reader.chain()
    blocks = {at: kind for what, at, kind in reader.walk() if what == "block"}
    reachable: dict[int, int] = {}
    start = HEADER_SIZE
    for c in commits:
        mine = {c.manifest_offset: KIND_MANIFEST}
        for entry in c.manifest["segments"]:
            mine[entry[0]] = KIND_SEGMENT
            for batch in reader.segment(entry, c.manifest_offset):
                mine[batch[0]] = KIND_FRAMES
        for entry in c.manifest["tombstones"]:
            mine[entry[0]] = KIND_TOMBSTONES
        indexes = c.manifest.get("indexes", {})
        for name, entry in indexes.get("lex", {}).get("files", {}).items():
            for ref in entry if isinstance(entry[0], list) else [entry]:  # one block, or its parts
                reader.read_ref(ref, KIND_LEX_FILE, c.manifest_offset)
                mine[ref[0]] = KIND_LEX_FILE
            assert name == "meta.json" or name.split(".")[0].isalnum()
        for ref in indexes.get("vec", {}).get("segments", {}).values():
            reader.read_ref(ref, KIND_VEC_INDEX, c.manifest_offset)
            mine[ref[0]] = KIND_VEC_INDEX
        for at in mine.keys() - reachable.keys():
            assert start <= at <= c.manifest_offset, f"commit {c.seq} references a block outside its own bytes"
        reachable.update(mine)
        start = c.trailer_offset + TRAILER_SIZE
    assert reachable == blocks


def test_compaction_reuses_full_batches(tmp_path: Path) -> None:
    """Eight one-segment commits merge; batches of 512 KiB or more are reused, runs of smaller ones rewritten."""
    path = tmp_path / "big.mv2"
    rng = np.random.default_rng(7)
    plan = ["small", "small", "big", "small", "small", "small", "big", "small"]
    with Memvid.create(path) as mem:
        for i, size in enumerate(plan):
            if size == "big":
                mem.put_bytes(rng.bytes(FULL_BATCH_BYTES + 1000), PutOptions(text=f"big {i}"))
            else:
                mem.put(f"small {i}")
            mem.commit(size)
    reader = DocReader(path.read_bytes())
    commits = reader.chain()
    before = commits[-2]
    old = {}
    for entry in before.manifest["segments"]:
        for batch in reader.segment(entry, before.manifest_offset):
            old[batch[0]] = batch
    merged = commits[-1].manifest["segments"]
    assert len(merged) == 1 and merged[0][5] == 8
    batches = reader.segment(merged[0], commits[-1].manifest_offset)
    assert [b[5] for b in batches] == [2, 1, 3, 1, 1]
    for b in batches:
        assert (b[0] in old) == (b[6] >= FULL_BATCH_BYTES)  # full batches reused, every run of small ones rewritten
    compare_with_library(path)
    reader.live_frames(commits[-1])
    assert sorted(set(reader.frames_codecs)) == [CODEC_NONE, CODEC_ZSTD]  # incompressible streams are stored raw


def test_writer_truncates_a_torn_tail(capsule: Path, tmp_path: Path) -> None:
    torn = tmp_path / "torn.mv2"
    shutil.copyfile(capsule, torn)
    with torn.open("ab") as fh:
        fh.write(b"garbage" * 50)
    with Memvid.open(torn) as mem:
        mem.put("after the tear")
        mem.commit("after")
    reader = DocReader(torn.read_bytes())
    list(reader.walk())  # would fail on the garbage, had it stayed
    assert reader.latest().manifest["message"] == "after"
    compare_with_library(torn)


def test_segments_hold_one_rewritten_batch_after_small_merges(tmp_path: Path) -> None:
    path = tmp_path / "m.mv2"
    with Memvid.create(path) as mem:
        for i in range(72):
            mem.put(f"n{i}")
            mem.commit()
    reader = DocReader(path.read_bytes())
    latest = reader.latest()
    rows = [e[5] for e in latest.manifest["segments"]]
    assert rows == [64, 8]
    for entry in latest.manifest["segments"]:
        assert len(reader.segment(entry, latest.manifest_offset)) == 1


def _doc_calibration(frames: dict[int, dict[str, Any]]) -> tuple[int, list[float], float | None]:
    """``sampled``, ``mean`` and ``gap`` of a commit's live frames, as the document defines them (exactly)."""
    ids = [i for i in sorted(frames) if frames[i]["embedding"] is not None]
    unit = np.array([frames[i]["embedding"] for i in ids], dtype=np.float64).reshape(len(ids), -1)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-30)
    n = len(ids)
    positions = (
        list(range(n))
        if n <= 256
        else sorted({s + j for i in range(8) for s in [i * (n - 32) // 7] for j in range(32)})
    )
    sample = unit[positions]
    mean = sample.mean(axis=0)
    if n < 2:
        return len(positions), list(mean), None
    sims = sample @ unit.T
    sims[np.arange(len(positions)), positions] = -np.inf  # not itself
    return len(positions), list(mean), float(np.median(sims.max(axis=1) - sample @ mean))


def test_fusion_calibration_entry_follows_the_document(tmp_path: Path) -> None:
    """``indexes.fusion``: computed as the document says, repeated byte for byte unless the live frames moved by
    more than a tenth, and absent while the capsule has no vectors."""
    path = tmp_path / "fusion.mv2"
    rng = np.random.default_rng(11)
    plan = [("text", 3), ("vec", 1), ("vec", 1), ("vec", 40), ("vec", 2), ("vec", 250), ("text", 10), ("vec", 1)]
    with Memvid.create(path) as mem:
        for kind, count in plan:
            for _ in range(count):
                mem.put(f"frame {rng.integers(1 << 30)}", embedding=rng.standard_normal(8) if kind == "vec" else None)
            mem.commit(kind)
        mem.delete(0)
        mem.commit("delete")
        ids = [f.id for f in mem.frames()][:40]
        for fid in ids:
            mem.delete(fid)
        mem.commit("delete many")
    reader = DocReader(path.read_bytes())
    commits = reader.chain()
    recomputed = []
    for parent, c in itertools.pairwise(commits):
        frames = reader.live_frames(c)
        entry = c.manifest["indexes"].get("fusion")
        if c.manifest["embedding_dim"] is None:
            assert entry is None
            continue
        before = parent.manifest["indexes"].get("fusion")
        live = c.manifest["frames_total"] - c.manifest["frames_dead"]
        if before is not None and 10 * abs(live - before["frames"]) <= before["frames"]:
            assert entry == before, f"commit {c.seq} should repeat its parent's entry"
            continue
        recomputed.append(c.seq)
        assert set(entry) == {"v", "frames", "sampled", "gap", "mean"} and entry["v"] == 1
        assert entry["frames"] == live
        sampled, mean, gap = _doc_calibration(frames)
        stored = np.frombuffer(base64.b64decode(entry["mean"], validate=True), dtype="<f4")
        assert entry["sampled"] == sampled and len(stored) == c.manifest["embedding_dim"]
        assert np.allclose(stored, mean, atol=1e-5)
        assert (entry["gap"] is None) == (gap is None)
        if gap is not None:
            assert entry["gap"] == pytest.approx(gap, abs=1e-5)
    # live frames 3 (no vectors: none), 4, 5, 45, 47 (repeated), 297, 307, 308, 307 (repeated), 267
    assert recomputed == [2, 3, 4, 6, 10]
