"""Deep verification of a capsule.

Two passes. The layout walk reads every byte from the end of the header to
the end of the commit being verified: each must belong to a block whose digest
matches, to a valid trailer, or to the zero padding between them, so a flipped
bit anywhere is found. The chain walk then follows every commit back to the
first, checking each manifest against the hash its child recorded, and decodes
every segment directory, frames batch and tombstones block any commit
references, checking each frame's content checksum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from memvid.engine.snapshot import Snapshot
from memvid.errors import MemvidError
from memvid.format.block import (
    BLOCK_HEADER_SIZE,
    BLOCK_MAGIC,
    BlockKind,
    BlockRef,
    align,
    decode_block,
    decode_block_header,
)
from memvid.format.checksum import content_digest
from memvid.format.header import HEADER_SIZE, SLOT_OFFSETS, SLOT_SIZE, STATIC_SIZE, Header, decode_slot
from memvid.format.trailer import TRAILER_MAGIC, TRAILER_SIZE, decode_trailer

__all__ = ["Finding", "VerifyReport"]

_WALK_CHUNK = 8 << 20


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem :meth:`Memvid.verify` found. ``level`` is ``"error"`` for damage
    to committed data and ``"warning"`` for a damaged hint (a header slot)."""

    level: str
    offset: int | None
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"level": self.level, "offset": self.offset, "message": self.message}


@dataclass(slots=True)
class VerifyReport:
    """The outcome of :meth:`Memvid.verify`. ``ok`` is true when nothing was found."""

    commits: int = 0
    blocks: int = 0
    frames: int = 0
    bytes: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "commits": self.commits,
            "blocks": self.blocks,
            "frames": self.frames,
            "bytes": self.bytes,
            "findings": [f.to_dict() for f in self.findings],
        }


def verify_snapshot(
    head: Snapshot,
    header: Header,
    index_refs: Callable[[Snapshot], Iterable[tuple[BlockRef, BlockKind]]] | None = None,
) -> VerifyReport:
    """Verify the layout and every commit; ``index_refs`` names the index blocks each
    commit references (the search layer's), which are checked as well."""
    report = VerifyReport(bytes=head.end)
    storage = head.reader.storage
    _check_header(storage.read(0, HEADER_SIZE), header, report)
    _walk_layout(head, report)

    seen: set[int] = set()
    current: Snapshot | None = head
    while current is not None:
        report.commits += 1
        try:
            _check_commit(current, seen, report)
            for ref, kind in index_refs(current) if index_refs is not None else ():
                if ref.offset not in seen:
                    seen.add(ref.offset)
                    current.reader.raw(ref, kind, current.end)
            current = current.parent()
        except MemvidError as exc:
            offset = getattr(exc, "offset", None)
            if offset is None or all(f.offset != offset for f in report.findings):
                report.findings.append(Finding("error", offset, str(exc)))
            break
    return report


def _check_header(data: bytes, header: Header, report: VerifyReport) -> None:
    if data[STATIC_SIZE + 16 : SLOT_OFFSETS[0]].strip(b"\x00"):
        report.findings.append(Finding("error", STATIC_SIZE + 16, "reserved header bytes are not zero"))
    for name, offset in zip("AB", SLOT_OFFSETS, strict=True):
        raw = data[offset : offset + SLOT_SIZE]
        if raw.strip(b"\x00") and decode_slot(raw) is None:
            report.findings.append(
                Finding("warning", offset, f"header slot {name} is damaged (a hint; the commits are intact)")
            )
        end = offset + SLOT_SIZE
        stop = SLOT_OFFSETS[1] if offset == SLOT_OFFSETS[0] else HEADER_SIZE
        if data[end:stop].strip(b"\x00"):
            report.findings.append(Finding("error", end, "reserved header bytes are not zero"))
    del header


def _walk_layout(head: Snapshot, report: VerifyReport) -> None:
    storage = head.reader.storage
    pos, end = HEADER_SIZE, head.end
    while pos < end:
        magic = storage.read(pos, 8)
        if magic[:4] == BLOCK_MAGIC:
            try:
                h = decode_block_header(storage.read(pos, BLOCK_HEADER_SIZE), pos)
                length = BLOCK_HEADER_SIZE + h.stored_len
                if pos + length > end:
                    raise MemvidError(f"block at offset {pos} runs past the end of the commit")
                decode_block(storage.read(pos, length), BlockRef(pos, length, h.digest), _kind(h.kind))
            except (MemvidError, ValueError) as exc:
                report.findings.append(Finding("error", pos, f"damaged block: {exc}"))
                return
            report.blocks += 1
            pos += length
            if h.kind == BlockKind.MANIFEST:
                continue  # its trailer follows at once, unaligned
        elif magic == TRAILER_MAGIC:
            if decode_trailer(storage.read(pos, TRAILER_SIZE), pos) is None:
                report.findings.append(Finding("error", pos, f"damaged trailer at offset {pos}"))
                return
            pos += TRAILER_SIZE
        else:
            report.findings.append(
                Finding("error", pos, f"unexpected bytes at offset {pos}: no block or trailer starts here")
            )
            return
        gap_end = min(align(pos), end)
        if gap_end > pos and storage.read(pos, gap_end - pos).strip(b"\x00"):
            report.findings.append(Finding("error", pos, f"padding after offset {pos} is not zero"))
            return
        pos = gap_end


def _kind(kind: int) -> BlockKind:
    try:
        return BlockKind(kind)
    except ValueError:
        raise MemvidError(f"unknown block kind {kind}") from None


def _check_commit(snapshot: Snapshot, seen: set[int], report: VerifyReport) -> None:
    reader = snapshot.reader
    storage = reader.storage
    trailer_offset = snapshot.manifest_ref.offset + snapshot.manifest_ref.length
    trailer = decode_trailer(storage.read(trailer_offset, TRAILER_SIZE), trailer_offset)
    if trailer is None or trailer.commit_hash != snapshot.commit_hash or trailer.seq != snapshot.manifest.seq:
        report.findings.append(
            Finding("error", trailer_offset, f"trailer of commit {snapshot.manifest.seq} is damaged")
        )
    for tombstones in snapshot.manifest.tombstones:
        if tombstones.ref.offset not in seen:
            seen.add(tombstones.ref.offset)
            reader.tombstones(tombstones, snapshot.end)
    for segment in snapshot.manifest.segments:
        if segment.ref.offset in seen:
            continue
        seen.add(segment.ref.offset)
        for entry in snapshot.segment_dir(segment).batches:
            if entry.ref.offset in seen:
                continue
            seen.add(entry.ref.offset)
            _check_batch(snapshot.batch(entry), entry.ref.offset, report)


def _check_batch(batch: pa.RecordBatch, offset: int, report: VerifyReport) -> None:
    ids = batch.column("frame_id").to_pylist()
    texts = batch.column("text").to_pylist()
    payloads = batch.column("payload").to_pylist()
    sums = batch.column("checksum").to_pylist()
    for fid, text, payload, checksum in zip(ids, texts, payloads, sums, strict=True):
        report.frames += 1
        if content_digest((text or "").encode("utf-8"), payload) != checksum:
            report.findings.append(Finding("error", offset, f"frame {fid} does not match its content checksum"))
