"""Parquet: the live frames of a commit as one table with an explicit schema, lossless.

Columns (see :func:`memvid.io.arrow_schema`): ``id`` uint64, ``created_at`` and
``timestamp`` timestamp[us, UTC], ``uri``, ``title``, ``kind`` string, ``tags``
map<string, string>, ``metadata`` string (JSON), ``text`` string, ``payload``
binary, ``checksum`` string (hex), ``supersedes`` uint64, and ``embedding``
fixed_size_list<float32>[dim] when the capsule has vectors. Reading goes one
row group at a time, and a row group declaring more than ``MAX_ROW_GROUP_BYTES``
is refused before it is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa
import pyarrow.parquet as pq

from memvid.errors import InvalidInputError, LimitExceededError, MemvidError
from memvid.io._arrow import BatchReader, arrow_schema, records_to_batch
from memvid.io._dest import output_file
from memvid.io.records import ExportReport, FrameRecord, ImportReport, import_records, records_of

if TYPE_CHECKING:
    from memvid.api import CapsuleView, Memvid

__all__ = ["MAX_ROW_GROUP_BYTES", "export_parquet", "import_parquet", "read_parquet"]

MAX_ROW_GROUP_BYTES: Final = 1 << 30
"""The largest row group (uncompressed, as its metadata declares) an import reads."""

_GROUP_ROWS: Final = 4096
_GROUP_BYTES: Final = 64 * 1024 * 1024
_READ_ROWS: Final = 1024


def export_parquet(
    mem: Memvid | CapsuleView,
    path: str | os.PathLike[str],
    *,
    include_vectors: bool = True,
    include_payload: bool = True,
    overwrite: bool = False,
    follow_symlinks: bool = False,
) -> ExportReport:
    """Write the live frames of the commit ``mem`` reads to a Parquet file (zstd).

    The file appears whole or not at all; ``overwrite`` and ``follow_symlinks``
    work as in :func:`export_jsonl`.
    """
    dim = mem.stats().embedding_dim if include_vectors else None
    schema = arrow_schema(dim)
    frames = vectors = 0
    with (
        output_file(path, overwrite=overwrite, follow_symlinks=follow_symlinks) as handle,
        pq.ParquetWriter(handle, schema, compression="zstd") as writer,
    ):
        group: list[FrameRecord] = []
        size = 0
        for record in records_of(mem, include_vectors=include_vectors, include_payload=include_payload):
            group.append(record)
            frames += 1
            vectors += record.embedding is not None
            size += len(record.text) + (len(record.payload) if record.payload is not None else 0)
            if len(group) >= _GROUP_ROWS or size >= _GROUP_BYTES:
                writer.write_batch(records_to_batch(group, schema))
                group, size = [], 0
        if group:
            writer.write_batch(records_to_batch(group, schema))
    return ExportReport(frames, 0, vectors, str(path))


def read_parquet(path: str | os.PathLike[str]) -> Iterator[tuple[str, FrameRecord]]:
    """The records of a Parquet file written by :func:`export_parquet` (or with its columns)."""
    name = Path(path).name
    if Path(path).is_dir():
        raise InvalidInputError(f"{path} is a directory, not a Parquet file")
    if not Path(path).exists():
        raise InvalidInputError(f"{path} does not exist")
    try:
        with pq.ParquetFile(Path(path)) as parquet:
            meta = parquet.metadata
            for i in range(meta.num_row_groups):
                declared = meta.row_group(i).total_byte_size
                if declared > MAX_ROW_GROUP_BYTES:
                    raise LimitExceededError(
                        f"{name} row group {i} declares {declared} bytes, over the {MAX_ROW_GROUP_BYTES}-byte limit"
                    )
            reader = BatchReader(parquet.schema_arrow, what=name)
            row = 0
            for batch in parquet.iter_batches(batch_size=_READ_ROWS):
                yield from reader.records(batch, row)
                row += batch.num_rows
    except MemvidError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise InvalidInputError(f"{name} is not a readable Parquet file of frames: {detail}") from None


def import_parquet(
    mem: Memvid, path: str | os.PathLike[str], *, keep_ids: bool | None = None, message: str | None = None
) -> ImportReport:
    """Add the frames of a Parquet file to ``mem`` and commit them.

    Every row is checked before anything is written. A file only needs a ``text``
    (or ``payload``) column; other columns must be the export's, with compatible
    types. ``keep_ids`` is described in :func:`memvid.io.import_records`.
    """
    return import_records(mem, lambda: read_parquet(path), source=str(path), keep_ids=keep_ids, message=message)
