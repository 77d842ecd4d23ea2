"""Malicious inputs as named cases: each forged capsule (``forge.Forge``: every digest,
commit hash and trailer recomputed, as an attacker would) must give a clean
``MemvidError`` on some read, or read consistently, and never another exception, a
crash, more than 1 s per call or 512 MiB.

* huge length fields: block references, block header lengths, trailer lengths,
  row counts, tombstone counts, frame totals, ids and dimensions near 2**64;
* commit chains that loop: a parent reference to the commit itself or to a later
  commit;
* a zstd bomb (256 MiB of zeros in a few KiB) declared small, at the 256 MiB limit,
  and over it;
* declared sizes that disagree with the data: a directory's rows, a batch's rows, a
  tombstones count, a block's raw length, a reference's length;
* metadata with NUL and lone surrogates (escaped in the stored JSON, where an
  attacker can put them), and the same through the API.

The export-path cases of RELIABILITY.md (traversal, absolute paths, symlinks) live
with the export code's tests.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from durability_support import HERE, build_capsule, write_report
from forge import MAX_SECONDS, Forge, read_everything

from memvid import CorruptCapsuleError, InvalidInputError, Memvid, MemvidError
from memvid.engine.rows import Row, encode_rows
from memvid.format.block import align
from memvid.format.checksum import content_digest
from memvid.format.limits import MAX_BLOCK_RAW
from memvid.index import lex_vet
from memvid.index.lex_vet import mark_vetted, vet_key

_HEAD = struct.Struct("<4sBBHQQ24s")
BIG = (2**31, 2**40, 2**63, 2**64 - 1)
_FIGURES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    write_report("malicious", dict(_FIGURES))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("malicious") / "c.mv2"
    build_capsule(path, steps=3)
    return path.read_bytes()


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("malicious") / "e.mv2"
    Memvid.create(path).close()
    return path.read_bytes()


def _read(image: bytes, forged_seq: int | None = None) -> Counter[str]:
    """Every read; only MemvidError may come out (counted), each call under MAX_SECONDS.
    Counts the case as refused (a MemvidError or a verify finding), ignored (the capsule
    opens at a commit before ``forged_seq``: the forged commit is a torn tail) or read."""
    stats: Counter[str] = Counter()
    slowest = [0.0]
    read_everything(image, stats, slowest)
    assert slowest[0] < MAX_SECONDS
    _FIGURES["cases"] += 1
    if any(k.endswith("Error") for k in stats) or stats["verify_findings"]:
        _FIGURES["refused"] += 1
    elif forged_seq is not None and _head(image) < forged_seq:
        _FIGURES["ignored_as_torn"] += 1
    else:
        _FIGURES["read"] += 1
    return stats


def _read_in_child(image: bytes, path: Path) -> dict[str, Any]:
    """Every read of ``image`` in a child process, so that its peak memory is this input's
    alone; returns the child's summary after checking its time and memory bars."""
    path.write_bytes(image)
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_worker.py"), "read", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    assert summary["max_rss_mib"] < 512, summary
    assert summary["slowest_s"] < MAX_SECONDS, summary
    return summary


def _head(image: bytes) -> int:
    with Memvid.from_storage(_storage(image), read_only=True) as mem:
        return mem.head.seq


def _refused(image: bytes) -> str:
    stats = _read(image)
    errors = [k for k in stats if k.endswith("Error")]
    assert errors or stats["verify_findings"], f"a forged capsule was read without complaint: {stats}"
    return errors[0] if errors else "verify"


def _refused_or_ignored(image: bytes, forged_seq: int) -> bool:
    """True when reading ``image`` raised a MemvidError or verify() found damage, or when it
    opened at a commit before ``forged_seq`` (the forged commit was ignored as a torn tail)."""
    stats = _read(image, forged_seq)
    return any(k.endswith("Error") for k in stats) or bool(stats["verify_findings"]) or _head(image) < forged_seq


def _row(fid: int, text: str = "x", metadata: str | None = None) -> Row:
    return Row(
        frame_id=fid,
        created_at_us=1_700_000_000_000_000,
        timestamp_us=None,
        uri=None,
        title=None,
        kind=None,
        tags={},
        metadata=metadata,
        text=text,
        payload=None,
        checksum=content_digest(text.encode("utf-8", "surrogatepass"), None),
        supersedes=None,
        embedding=None,
    )


def _with_segment(forge: Forge, batches: list[list[Any]], entry_tail: list[Any] | None = None) -> dict[str, Any]:
    """The next manifest with one more segment made of ``batches`` (directory entries)."""
    directory = forge.append_block(2, json.dumps({"batches": batches}).encode())
    doc = forge.next_manifest()
    first, last = batches[0][3], batches[-1][4]
    rows = sum(b[5] for b in batches)
    doc["segments"].append([*directory, *(entry_tail or [first, last, rows, 0])])
    doc["frames_total"] += rows
    doc["next_frame_id"] = max(doc["next_frame_id"], last + 1)
    return doc


def _frames_commit(base_image: bytes, rows: list[Row]) -> bytes:
    forge = Forge(base_image)
    entries = []
    for encoded in encode_rows(rows, None):
        ref = forge.append_block(1, encoded.payload)
        entries.append([*ref, encoded.first_id, encoded.last_id, encoded.rows, encoded.nbytes])
    return forge.commit(_with_segment(forge, entries))


# -- huge length fields -----------------------------------------------------------------


def _huge_cases() -> dict[str, Callable[[Forge], bytes]]:
    def manifest_field(key: str, value: Any) -> Callable[[Forge], bytes]:
        def make(forge: Forge) -> bytes:
            doc = forge.next_manifest()
            doc[key] = value
            return forge.commit(doc)

        return make

    def ref_length(value: int) -> Callable[[Forge], bytes]:
        def make(forge: Forge) -> bytes:
            doc = forge.next_manifest()
            doc["segments"][0][1] = value
            return forge.commit(doc)

        return make

    def block_lengths(stored: int, raw: int) -> Callable[[Forge], bytes]:
        def make(forge: Forge) -> bytes:
            header = _HEAD.pack(b"MVBK", 1, 1, 0, stored, raw, bytes(24))
            ref = forge.append_raw_block(header, b"\x28\xb5\x2f\xfd" + bytes(60))
            return forge.commit(_with_segment(forge, [[*ref, 10**6, 10**6, 1, 1]]))

        return make

    def batch_rows(value: int) -> Callable[[Forge], bytes]:
        def make(forge: Forge) -> bytes:
            seg = forge.manifest["segments"][0]
            directory = json.loads(forge.payload(seg[:3], 2))
            directory["batches"][0][5] = value
            ref = forge.append_block(2, json.dumps(directory).encode())
            doc = forge.next_manifest()
            doc["segments"][0] = [*ref, seg[3], seg[4], value, seg[6]]
            return forge.commit(doc)

        return make

    def tombstone_count(value: int) -> Callable[[Forge], bytes]:
        def make(forge: Forge) -> bytes:
            doc = forge.next_manifest()
            doc["tombstones"][0][3] = value
            return forge.commit(doc)

        return make

    def trailer_length(value: int) -> Callable[[Forge], bytes]:
        def make(forge: Forge) -> bytes:
            forge.commit()
            trailer = forge.data[-80:]
            forge.poke(len(forge.data) - 80 + 24, value.to_bytes(8, "little"))
            del trailer
            return bytes(forge.data)

        return make

    cases: dict[str, Callable[[Forge], bytes]] = {}
    for big in BIG:
        cases[f"segment reference length {big}"] = ref_length(big)
        cases[f"batch rows {big}"] = batch_rows(big)
        cases[f"tombstones count {big}"] = tombstone_count(big)
        cases[f"frames_total {big}"] = manifest_field("frames_total", big)
        cases[f"next_frame_id {big}"] = manifest_field("next_frame_id", big)
        cases[f"embedding_dim {big}"] = manifest_field("embedding_dim", big)
        cases[f"seq {big}"] = manifest_field("seq", big)
        cases[f"time_us {big}"] = manifest_field("time_us", big)
    cases["segments: 200,000 entries"] = lambda f: f.commit(
        {**f.next_manifest(), "segments": [[0, 0, "", 0, 0, 0, 0]] * 200_000}
    )
    cases["block stored length 2**63"] = block_lengths(2**63, 100)
    cases["block raw length 2**63"] = block_lengths(64, 2**63)
    for value in (2**32, 2**64 - 1):
        cases[f"trailer manifest length {value}"] = trailer_length(value)
    return cases


HUGE = _huge_cases()


@pytest.mark.parametrize("case", sorted(HUGE))
def test_huge_length_fields(base: bytes, case: str) -> None:
    forge = Forge(base)
    image = HUGE[case](forge)
    _read(image, forge.manifest["seq"] + 1)  # refused, ignored, or read consistently (a huge time_us is a time)


# -- commit chains that loop --------------------------------------------------------------


@pytest.mark.parametrize("where", ["itself", "later", "garbage hash"])
def test_commit_chain_cycles(base: bytes, where: str) -> None:
    """A forged commit whose parent reference loops (to itself, to a later commit) or names a
    parent by a wrong hash, with a valid commit on top of it: the chain is never followed
    into the loop. Opening refuses, or ignores the forged commits as a torn tail."""
    forge = Forge(base)
    bad = forge.next_manifest()
    offset = align(len(forge.data))  # where the forged manifest block will be written
    if where == "garbage hash":
        bad["parent"]["hash"] = "00" * 32
    else:
        bad["parent"]["ref"] = [offset + (4096 if where == "later" else 0), 4096, "00" * 16]
    forge.commit(bad)
    top = {**bad, "seq": bad["seq"] + 1, "parent": {"ref": forge.last_ref, "hash": forge.last_hash.hex()}}
    image = forge.commit(top)
    assert _refused_or_ignored(image, bad["seq"]), "a commit chain through a forged parent was read"


def test_long_chain_is_walked_without_recursion(empty: bytes) -> None:
    """3,000 forged empty commits: the timeline walks them all, iteratively."""
    forge = Forge(empty)
    for _ in range(3000):
        forge = Forge(forge.commit())
    with Memvid.from_storage(_storage(bytes(forge.data)), read_only=True) as mem:
        assert len(mem.timeline()) == 3001
        assert mem.verify().ok
    _FIGURES["cases"] += 1


def _storage(data: bytes) -> Any:
    from memvid.storage import MemoryStorage

    return MemoryStorage(data, writable=False)


# -- zstd bombs -------------------------------------------------------------------------------


def _bomb() -> bytes:
    compressor = zstandard.ZstdCompressor(level=19).compressobj()
    chunk = bytes(1 << 20)
    out = b"".join(compressor.compress(chunk) for _ in range(256)) + compressor.flush()
    return out


@pytest.mark.parametrize("declared", ["8 KiB", "the 256 MiB limit", "over the limit"])
def test_zstd_bomb(empty: bytes, tmp_path: Path, declared: str) -> None:
    bomb = _bomb()
    assert len(bomb) < 64 * 1024  # 256 MiB in a few KiB
    raw = {"8 KiB": 8192, "the 256 MiB limit": MAX_BLOCK_RAW, "over the limit": MAX_BLOCK_RAW + 1}[declared]
    forge = Forge(empty)
    ref = forge.append_raw_block(_HEAD.pack(b"MVBK", 1, 1, 0, len(bomb), raw, bytes(24)), bomb)
    image = forge.commit(_with_segment(forge, [[*ref, 0, 0, 1, 1]]))
    summary = _read_in_child(image, tmp_path / "bomb.mv2")
    assert any(k.endswith("Error") for k in summary), summary
    _FIGURES["cases"] += 1
    _FIGURES[f"bomb_rss_mib_{declared.replace(' ', '_')}"] = summary["max_rss_mib"]


@pytest.mark.parametrize("where", ["manifest", "segment directory"])
def test_json_nested_too_deeply(base: bytes, where: str) -> None:
    """200,000 open brackets: Python's JSON parser gives up with RecursionError, which is
    not a ValueError; it must come out as a MemvidError."""
    forge = Forge(base)
    if where == "manifest":
        image = forge.commit(payload=b"[" * 200_000)
    else:
        _, seg, kind = next(r for r in forge.refs() if r[0] == "segment")
        image = forge.commit(forge.replace_ref(seg, forge.append_block(kind, b'{"batches":' + b"[" * 200_000)))
    stats = _read(image, forge.manifest["seq"] + 1)
    if where == "manifest":  # the forged commit is not whole: the capsule opens at the one before
        assert _head(image) == forge.manifest["seq"], stats
    else:
        assert stats["CorruptCapsuleError"] == 1, stats


def test_dense_manifest_is_refused_before_parsing(base: bytes, tmp_path: Path) -> None:
    """3.7 million tiny segment entries (about 60 MiB of JSON) in a zstd block of about
    20 KiB: parsing them took 12 s and 745 MiB. The manifest is refused by counting its
    JSON items first; the commit is not whole, so the capsule opens at the one before."""
    forge = Forge(base)
    image = forge.commit({**forge.next_manifest(), "segments": [[0, 0, "", 0, 0, 0, 0]] * 3_700_000})
    assert len(image) < len(base) + 64 * 1024
    summary = _read_in_child(image, tmp_path / "dense.mv2")
    assert summary.get("opened_ok") == 1, summary  # at the commit before the forged one
    assert _head(image) == forge.manifest["seq"]
    _FIGURES["cases"] += 1
    _FIGURES["ignored_as_torn"] += 1
    _FIGURES["dense_manifest_rss_mib"] = summary["max_rss_mib"]


def test_manifest_bomb(empty: bytes, tmp_path: Path) -> None:
    """A manifest that decodes to 256 MiB of zeros: refused from its declared size, before
    anything is decompressed (a manifest is at most 64 MiB), so the reader stays small."""
    forge = Forge(empty)
    bomb = _bomb()
    header = _HEAD.pack(b"MVBK", 4, 1, 0, len(bomb), MAX_BLOCK_RAW, bytes(24))
    ref = forge.append_raw_block(header, bomb)
    from memvid.format.checksum import commit_digest
    from memvid.format.trailer import Trailer

    forge.data += Trailer(1, ref[0], ref[1], commit_digest(bytes(MAX_BLOCK_RAW))).encode()
    summary = _read_in_child(bytes(forge.data), tmp_path / "manifest-bomb.mv2")
    assert summary.get("opened_ok") == 1, summary  # the forged commit is not whole: the capsule opens at genesis
    assert summary["max_rss_mib"] < 200, summary  # 256 MiB were never decompressed
    _FIGURES["cases"] += 1
    _FIGURES["ignored_as_torn"] += 1
    _FIGURES["manifest_bomb_rss_mib"] = summary["max_rss_mib"]


# -- declared sizes that disagree with the data ----------------------------------------------


def test_declared_size_mismatches(base: bytes) -> None:
    forge = Forge(base)
    seg = forge.manifest["segments"][0]
    directory = json.loads(forge.payload(seg[:3], 2))
    batch = directory["batches"][0]
    cases: dict[str, bytes] = {}

    f = Forge(base)
    doc = f.next_manifest()
    doc["segments"][0][5] += 1  # the manifest says one more row than the directory holds
    cases["segment rows"] = f.commit(doc)

    f = Forge(base)
    altered = json.loads(json.dumps(directory))
    altered["batches"][0][5] = batch[5] + 1  # the directory says one more row than the batch holds
    ref = f.append_block(2, json.dumps(altered).encode())
    doc = f.next_manifest()
    doc["segments"][0] = [*ref, seg[3], seg[4], seg[5] + 1, seg[6]]
    cases["batch rows"] = f.commit(doc)

    f = Forge(base)
    doc = f.next_manifest()
    doc["tombstones"][0][3] += 1
    cases["tombstones count"] = f.commit(doc)

    f = Forge(base)
    payload = f.payload(batch[:3], 1)
    ref = f.append_raw_block(_HEAD.pack(b"MVBK", 1, 0, 0, len(payload), len(payload) + 5, bytes(24)), payload)
    cases["codec none with raw length != stored"] = f.commit(f.replace_ref(batch[:3], ref))

    f = Forge(base)
    packed = zstandard.ZstdCompressor().compress(payload)
    ref = f.append_raw_block(_HEAD.pack(b"MVBK", 1, 1, 0, len(packed), len(payload) - 1, bytes(24)), packed)
    cases["zstd raw length one short"] = f.commit(f.replace_ref(batch[:3], ref))

    f = Forge(base)
    doc = f.next_manifest()
    doc["segments"][0][1] += 64  # the reference claims 64 more bytes than the block has
    cases["reference length"] = f.commit(doc)

    f = Forge(base)
    doc = f.next_manifest()
    doc["frames_total"] += 5
    cases["frames_total"] = f.commit(doc)

    forged_seq = forge.manifest["seq"] + 1
    quiet = [name for name, image in cases.items() if not _refused_or_ignored(image, forged_seq)]
    assert not quiet, f"forged sizes read as if they were true: {quiet}"


# -- NUL and lone surrogates --------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    ['{"a":"x\\u0000y"}', '{"a":"\\ud800"}', '{"\\udfff":1}', '{"a":"\\ud800\\udc00"}', "not json", "[1,2]", '"str"'],
)
def test_forged_metadata(empty: bytes, stored: str) -> None:
    image = _frames_commit(empty, [_row(0, metadata=stored)])
    _read(image)
    with Memvid.from_storage(_storage(image), read_only=True) as mem:
        try:
            frame = mem.get(0)
        except MemvidError:
            return
        metadata = dict(frame.metadata)
        # What comes back is what the JSON says, and it survives a round trip through JSON.
        assert json.loads(json.dumps(metadata)) == json.loads(stored)


def test_nul_and_lone_surrogates_through_the_api(tmp_path: Path) -> None:
    with Memvid.create(tmp_path / "c.mv2") as mem:
        fid = mem.put("a\x00b", metadata={"k": "x\x00y", "\x00": 1}, tags={"t": "v\x00"}, title="t\x00")
        for bad in ({"text": "\ud800"}, {"metadata": {"k": "\udfff"}}, {"tags": {"k": "\ud800"}}, {"title": "\ud800"}):
            text = bad.pop("text", "ok")
            with pytest.raises(InvalidInputError):
                mem.put(text, **bad)
        mem.commit()
    with Memvid.open(tmp_path / "c.mv2", read_only=True) as mem:
        frame = mem.get(fid)
        assert (frame.text, dict(frame.metadata), dict(frame.tags), frame.title) == (
            "a\x00b",
            {"k": "x\x00y", "\x00": 1},
            {"t": "v\x00"},
            "t\x00",
        )
        assert mem.verify().ok
    _FIGURES["cases"] += 1


# -- a forged HNSW blob -------------------------------------------------------------------------
# usearch's Index.restore(view=True) reads the caller's buffer in place; a forged graph must
# not crash the reader (run in a child process, so a crash fails this test instead of the run).


def test_forged_hnsw_blob_does_not_crash(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "vec.mv2"
    vectors = np.random.default_rng(1).standard_normal((8200, 4)).astype(np.float32)
    with Memvid.create(path) as mem:
        mem.put_many([{"text": f"frame {i}", "embedding": vectors[i]} for i in range(8200)])
    forge = Forge(path.read_bytes())
    _, ref, kind = next(r for r in forge.refs() if r[0] == "vec")
    blob = bytearray(forge.payload(ref, kind))
    for i in range(200, len(blob), 997):  # scatter changes over the graph, keep the length
        blob[i] ^= 0x5A
    image = forge.commit(forge.replace_ref(ref, forge.append_block(kind, bytes(blob))))
    forged = tmp_path / "forged.mv2"
    forged.write_bytes(image)
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_worker.py"), "read", str(forged)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"reading a forged HNSW blob killed the process (exit {proc.returncode})"


# -- a forged tantivy file --------------------------------------------------------------------
# tantivy can abort the process on a forged file (an allocation of petabytes, seen in fuzzing),
# so a checkpoint this machine did not build is first opened and read in a separate process
# (memvid/index/lex_vet.py). Behind that, an in-process panic is still a CorruptCapsuleError.


def _forged_fast_files(base: bytes) -> Iterator[tuple[bytes, dict[str, str]]]:
    """The base capsule with one byte of a fast-field file set to 0xFF, at each of the first
    64 positions: ``(image, the forged checkpoint's file digests)``."""
    forge = Forge(base)
    ref = next(r for n, r in sorted(forge.manifest["indexes"]["lex"]["files"].items()) if n.endswith(".fast"))
    payload = forge.payload(ref, 5)
    for pos in range(64):
        altered = bytearray(payload)
        altered[pos] = 0xFF
        f = Forge(base)
        manifest = f.replace_ref(ref, f.append_block(5, bytes(altered)))
        digests = {name: r[2] for name, r in manifest["indexes"]["lex"]["files"].items()}
        yield f.commit(manifest), digests


def test_forged_tantivy_files_are_refused_by_the_vet(base: bytes) -> None:
    refused = panics = 0
    for image, _ in _forged_fast_files(base):
        with Memvid.from_storage(_storage(image), read_only=True) as mem:
            try:
                mem.search("alice coffee tea", mode="lex")
            except MemvidError as exc:
                assert isinstance(exc, CorruptCapsuleError) and exc.kind == "lex", exc
                assert "fails its check" in str(exc), exc
                refused += 1
                panics += "PanicException" in str(exc)
    _FIGURES["tantivy_forgeries_refused_by_vet"] += refused
    assert refused and panics, f"{refused} refusals, {panics} panics: the case no longer tests what it says"


def test_tantivy_panic_behind_the_vet_is_a_corrupt_capsule(base: bytes) -> None:
    """The same forgeries marked as vetted (as if the vet had missed them): tantivy's panic
    (pyo3's ``PanicException``, a ``BaseException``) must come out as ``CorruptCapsuleError``."""
    panics = 0
    for image, digests in _forged_fast_files(base):
        with Memvid.from_storage(_storage(image), read_only=True) as mem:
            mark_vetted(mem.uuid, vet_key(digests))
            try:
                mem.search("alice coffee tea", mode="lex")
            except MemvidError as exc:
                panics += type(exc.__cause__).__name__ == "PanicException"
    _FIGURES["tantivy_panics_caught"] += panics
    assert panics, "no forged byte made tantivy panic: the case no longer tests what it says"


def test_a_vet_that_dies_is_a_corrupt_capsule(base: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vetting process dying of a signal (here: its allocations fail under a 16 MiB
    address-space limit, as a forged length makes them fail, and Rust aborts or Python
    gives up) is a clean error in this process, and nothing is marked vetted."""
    monkeypatch.setattr(lex_vet, "_BASE_MEMORY", 16 << 20)
    monkeypatch.setattr(lex_vet, "_SECONDS_PER_MIB", 0.0)
    with Memvid.from_storage(_storage(base), read_only=True) as mem:
        with pytest.raises(CorruptCapsuleError, match="fails its check") as info:
            mem.search("alice coffee tea", mode="lex")
        assert info.value.kind == "lex"
        monkeypatch.undo()
        assert mem.search("alice coffee tea", mode="lex")  # the real vet passes the genuine index


# -- a forged fusion calibration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "calibration",
        [1, 2],
        {"v": "1"},
        {"v": 1},
        {"v": 1, "frames": 2**64, "sampled": 2, "gap": 0.1, "mean": ""},
        {"v": 1, "frames": 10, "sampled": 10, "gap": 1e308 * 10, "mean": "AAAA"},
        {"v": 1, "frames": 10, "sampled": 10, "gap": 0.1, "mean": "////"},
        {"v": 1, "frames": 10, "sampled": 10, "gap": 0.1, "mean": "A" * 4_000_000},
        {"v": 1, "frames": 10, "sampled": 10, "gap": None, "mean": "%%%%"},
    ],
)
def test_forged_fusion_calibration_is_a_corrupt_capsule(base: bytes, entry: Any) -> None:
    forge = Forge(base)
    doc = forge.next_manifest()
    dim = doc["embedding_dim"]
    assert dim and "fusion" in doc["indexes"]
    doc["indexes"]["fusion"] = entry
    image = forge.commit(doc)
    _refused(image)
    with Memvid.from_storage(_storage(image), read_only=True) as mem:
        assert mem.head.seq == doc["seq"]
        assert mem.search("alice", mode="lex")  # the lexical search does not need it
        with pytest.raises(CorruptCapsuleError, match="fusion calibration"):
            mem.search("alice coffee tea", vector=[0.5] * dim, mode="hybrid")
        # rrf needs no calibration
        assert mem.search("alice coffee tea", vector=[0.5] * dim, mode="hybrid", fusion="rrf") is not None


def test_a_commit_without_its_calibration_is_calibrated_when_searched(base: bytes) -> None:
    forge = Forge(base)
    doc = forge.next_manifest()
    del doc["indexes"]["fusion"]  # as a writer before calibrations were recorded
    image = forge.commit(doc)
    _read(image)
    with Memvid.from_storage(_storage(image), read_only=True) as mem:
        assert mem.search("alice coffee tea", vector=[0.5] * doc["embedding_dim"], mode="hybrid")
