"""What a capsule holds, as an ingest run needs to know it: which files are in (to skip them
or replace them when they changed) and which contents (to find duplicates).

Kept compact, because a writer keeps it for the whole run: files and contents the capsule
held when the run began are sorted numpy arrays keyed by 16-byte digests, and a run adds
only a digest and a frame id per document it writes. Imported by the writer only (helper
processes import no numpy).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from memvid.ingest.pipeline import DOCUMENT, NO_RECORD, path_uri
from memvid.ingest.sources import STDIN, key_digest

if TYPE_CHECKING:
    from memvid.api import Memvid

__all__ = ["Ledger"]


@dataclass(slots=True)
class _Files:
    """Files the capsule held when the run began, in arrays sorted by path digest: 72 bytes a
    file and 24 a document, however long the paths (dicts of strings and tuples took ~800
    bytes a file). ``doc_start[i]:doc_start[i + 1]`` are file ``i``'s documents."""

    keys: npt.NDArray[np.bytes_] = field(default_factory=lambda: np.empty(0, "S16"))
    sizes: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    mtimes: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    shas: npt.NDArray[np.bytes_] = field(default_factory=lambda: np.empty(0, "S32"))
    doc_start: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))
    doc_ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    doc_records: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    doc_chunks: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))


_NO_MTIME: Final = -(1 << 63)


def _sha_bytes(sha256: Any) -> bytes:
    if isinstance(sha256, str) and len(sha256) == 64:
        try:
            return bytes.fromhex(sha256)
        except ValueError:
            pass
    return b""


def _find(keys: npt.NDArray[np.bytes_], key: bytes) -> int | None:
    i = int(np.searchsorted(keys, key))
    return i if i < len(keys) and keys[i] == key.rstrip(b"\0") else None  # numpy drops trailing NULs


class Ledger:
    """What the capsule holds, for a run to skip what is in, replace what changed and find
    duplicate contents.

    Files and contents the capsule held when the run began are read from its document
    frames into sorted arrays (:class:`_Files`); the run adds nothing for the files it writes
    (discovery yields each path once), only each new document's content digest and frame id
    (dedup), about 150 bytes, not the path, uri and hashes as strings.
    """

    __slots__ = ("_added", "_content_ids", "_content_keys", "_files", "_gone", "_replaced", "_uris")

    def __init__(self) -> None:
        self._files = _Files()
        self._content_keys: npt.NDArray[np.bytes_] = np.empty(0, "S16")
        self._content_ids: npt.NDArray[np.int64] = np.empty(0, np.int64)
        self._uris: dict[int, str] = {}  # document frame id -> uri, where not the one its path and record make
        self._added: dict[bytes, int] = {}  # content digest -> document frame id, written or linked by this run
        self._gone: set[int] = set()  # document frames this run removed (their file changed)
        self._replaced: set[int] = set()  # files (indexes into _files) this run replaced

    @classmethod
    def load(cls, mem: Memvid) -> Ledger:
        """One scan of the ``kind``, ``uri`` and ``metadata`` columns of the head commit.

        A re-run needs only what each document's metadata says, so the frames are never
        built: no payload (the whole text) or chunk is copied out, and only the metadata of
        document rows is parsed. The frame blocks are still decompressed, once each.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        ledger = cls()
        files: list[tuple[bytes, int, int, bytes]] = []  # path digest, size, mtime, sha256: in order seen
        docs: list[tuple[bytes, int, int, int]] = []  # path digest, frame id, record, chunks
        contents: list[tuple[bytes, int]] = []
        snapshot = mem._state()  # the engine's view of the head: a column scan, not frames
        dead = snapshot.dead
        document = pa.scalar(DOCUMENT, pa.string())
        for entry in snapshot.batch_entries():
            batch = snapshot.batch(entry)
            is_document = pc.equal(batch.column("kind"), document)  # null kinds are dropped by filter
            rows = batch.select(["frame_id", "uri", "metadata"]).filter(is_document)
            if not rows.num_rows:
                continue
            columns = zip(*(rows.column(i).to_pylist() for i in range(3)), strict=True)
            for frame_id, uri, text in columns:
                if uri is None or not text or frame_id in dead:
                    continue
                meta = json.loads(text)
                if not isinstance(meta, dict) or not isinstance(source := meta.get("source"), dict):
                    continue
                if (key := _file_of(source, files)) is not None:
                    record = _int64(source.get("record"), NO_RECORD)
                    record = record if record >= 0 else NO_RECORD
                    docs.append((key, frame_id, record, max(0, _int64(meta.get("chunks"), 0))))
                    path = source["path"]
                    if not path.startswith("/") or uri != path_uri(path, record):
                        ledger._uris[frame_id] = uri
                also = meta.get("also")
                for linked in also if isinstance(also, list) else ():
                    if isinstance(linked, dict):
                        _file_of(linked, files)
                content_hash = meta.get("content_hash")
                if isinstance(content_hash, str):
                    contents.append((key_digest(content_hash), frame_id))
        ledger._files = _files_table(files, docs)
        if contents:
            keys = np.array([k for k, _ in contents], "S16")
            order = np.argsort(keys, kind="stable")  # equal keys keep their order: the first holds
            keys, first = np.unique(keys[order], return_index=True)
            ledger._content_keys = keys
            ledger._content_ids = np.array([f for _, f in contents], np.int64)[order][first]
        return ledger

    def file(self, path: str) -> int | None:
        """The capsule's entry for the file at ``path`` (a real path), unless this run replaced it."""
        i = _find(self._files.keys, key_digest(path)) if len(self._files.keys) else None
        return None if i is None or i in self._replaced else i

    def unchanged(self, i: int, size: int, mtime_ns: int | None) -> bool:
        """True if file ``i`` was ingested at this size and mtime."""
        mtime = _NO_MTIME if mtime_ns is None else mtime_ns
        return bool(self._files.sizes[i] == size and self._files.mtimes[i] == mtime)

    def same_bytes(self, i: int, sha256: str) -> bool:
        stored, new = self._files.shas[i], _sha_bytes(sha256)
        return len(stored) > 0 and stored == new.rstrip(b"\0")  # numpy drops trailing NULs

    def replace(self, i: int, path: str) -> list[tuple[str, int]]:
        """Forget file ``i`` (at ``path``) and return its documents as ``(uri, chunks)``."""
        self._replaced.add(i)
        f = self._files
        out = []
        for j in range(int(f.doc_start[i]), int(f.doc_start[i + 1])):
            frame_id, record = int(f.doc_ids[j]), int(f.doc_records[j])
            self._gone.add(frame_id)
            out.append((self._uris.get(frame_id) or path_uri(path, record), int(f.doc_chunks[j])))
        return out

    def holder(self, content_hash: str) -> int | None:
        """The frame id of the live document with this content, if the capsule has one."""
        key = key_digest(content_hash)
        frame_id = self._added.get(key)
        if frame_id is None and len(self._content_keys):
            i = _find(self._content_keys, key)
            frame_id = None if i is None else int(self._content_ids[i])
        return None if frame_id is None or frame_id in self._gone else frame_id

    def hold(self, content_hash: str, frame_id: int) -> None:
        """The document with this content is now frame ``frame_id``."""
        self._added[key_digest(content_hash)] = frame_id


def _file_of(source: Mapping[str, Any], files: list[tuple[bytes, int, int, bytes]]) -> bytes | None:
    """Note the file a document's ``source`` (or ``also``) names; its path digest, or None."""
    path = source.get("path")
    if not isinstance(path, str) or path == STDIN:
        return None
    key = key_digest(path)
    size, mtime = _int64(source.get("size"), -1), _int64(source.get("mtime_ns"), _NO_MTIME)
    files.append((key, size, mtime, _sha_bytes(source.get("sha256"))))
    return key


def _int64(value: Any, default: int) -> int:
    """``value`` if it is an int that fits the ledger's int64 arrays (metadata may say anything)."""
    return value if isinstance(value, int) and -(1 << 63) <= value < 1 << 63 else default


def _files_table(files: list[tuple[bytes, int, int, bytes]], docs: list[tuple[bytes, int, int, int]]) -> _Files:
    if not files:
        return _Files()
    keys = np.array([f[0] for f in files], "S16")
    order = np.argsort(keys, kind="stable")  # a path noted twice keeps what was noted first
    keys, first = np.unique(keys[order], return_index=True)
    pick = order[first]
    table = _Files(
        keys=keys,
        sizes=np.array([f[1] for f in files], np.int64)[pick],
        mtimes=np.array([f[2] for f in files], np.int64)[pick],
        shas=np.array([f[3] for f in files], "S32")[pick],
    )
    if docs:
        doc_keys = np.array([d[0] for d in docs], "S16")
        by_key = np.argsort(doc_keys, kind="stable")
        table.doc_start = np.searchsorted(doc_keys[by_key], keys, "left").astype(np.int64)
        table.doc_start = np.append(table.doc_start, len(docs))
        for name, column in (("doc_ids", 1), ("doc_records", 2), ("doc_chunks", 3)):
            setattr(table, name, np.array([d[column] for d in docs], np.int64)[by_key])
    else:
        table.doc_start = np.zeros(len(keys) + 1, np.int64)
    return table
