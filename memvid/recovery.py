"""Salvage: write a new capsule holding the newest commit whose every block verifies."""

from __future__ import annotations

import os
from dataclasses import dataclass

from memvid._failpoints import failpoint
from memvid._time import to_us
from memvid.api import Memvid
from memvid.engine.rows import Row
from memvid.engine.snapshot import (
    BlockReader,
    Snapshot,
    _trailer_candidates,
    manifest_digest,
    manifest_ref_of,
    read_trailer,
)
from memvid.errors import CorruptCapsuleError, MemvidError
from memvid.format.trailer import TRAILER_SIZE
from memvid.frame import Frame, encode_metadata
from memvid.storage import FileStorage

__all__ = ["RecoverResult", "recover"]


@dataclass(frozen=True, slots=True)
class RecoverResult:
    """What :func:`recover` salvaged: the source commit it found intact and the frames it kept."""

    source_seq: int
    source_commit: str
    frames: int
    skipped_commits: int

    def to_dict(self) -> dict[str, object]:
        return {
            "source_seq": self.source_seq,
            "source_commit": self.source_commit,
            "frames": self.frames,
            "skipped_commits": self.skipped_commits,
        }


def recover(source: str | os.PathLike[str], dest: str | os.PathLike[str], *, overwrite: bool = False) -> RecoverResult:
    """Write to ``dest`` a new capsule with the live frames of the newest commit of
    ``source`` whose manifest, directories, batches and tombstones all verify.

    Works without a readable header: commits are found by scanning for trailers.
    Frame ids, times, uris, tags, metadata, payloads and embeddings are kept; the
    history before that commit is not. ``source`` is only read.
    """
    storage = FileStorage.open(source, writable=False)
    try:
        reader = BlockReader(storage)
        skipped = 0
        for offset in _trailer_candidates(storage, storage.size()):
            trailer = read_trailer(storage, offset)
            if trailer is None:
                continue
            try:
                ref = manifest_ref_of(trailer, manifest_digest(storage, trailer))
                manifest = reader.manifest(ref, trailer.commit_hash, offset)
                snapshot = Snapshot(reader, manifest, trailer.commit_hash, ref, offset + TRAILER_SIZE)
                frames = list(snapshot.iter_frames())
            except MemvidError:
                skipped += 1
                continue
            failpoint("recover.before_create")
            with Memvid.create(dest, overwrite=overwrite) as out:
                out._add([_row_of(frame) for frame in frames])
                out._next_id = max(out._next_id, manifest.next_frame_id)
                out.commit(f"recovered from commit {manifest.seq} ({snapshot.commit_id[:12]})")
            return RecoverResult(manifest.seq, snapshot.commit_id, len(frames), skipped)
    finally:
        storage.close()
    raise CorruptCapsuleError(f"no intact commit found in {source}; nothing to recover")


def _row_of(frame: Frame) -> Row:
    return Row(
        frame_id=frame.id,
        created_at_us=to_us(frame.created_at),
        timestamp_us=None if frame.timestamp is None else to_us(frame.timestamp),
        uri=frame.uri,
        title=frame.title,
        kind=frame.kind,
        tags=dict(frame.tags),
        metadata=encode_metadata(frame.metadata),
        text=frame.text,
        payload=frame.payload,
        checksum=bytes.fromhex(frame.checksum),
        supersedes=None,
        embedding=frame.embedding,
    )
