"""Export and import: a capsule's frames as JSON Lines, Parquet, a Chroma collection or a LanceDB table.

Every export writes the live frames of the commit a handle (or an as-of view)
reads, and returns an :class:`ExportReport`; every import checks the whole
source before it writes anything, adds the frames in bounded batches (one
commit each), and returns an :class:`ImportReport`. JSONL and Parquet keep
every field of a frame: id, created_at, timestamp, uri, title, kind, tags,
metadata, text, payload, checksum, supersedes and the embedding, bit for bit;
history (superseded and deleted frames, commits) is not exported.

>>> import os, tempfile
>>> from memvid import Memvid
>>> from memvid.io import export_jsonl, import_jsonl
>>> folder = tempfile.mkdtemp()
>>> with Memvid.create(os.path.join(folder, "a.mv2")) as mem:
...     _ = mem.put("Alice prefers tea", uri="mv2://alice", embedding=[0.1, 0.2])
...     _ = mem.commit()
...     export_jsonl(mem, os.path.join(folder, "frames.jsonl")).frames
1
>>> with Memvid.create(os.path.join(folder, "b.mv2")) as copy:
...     import_jsonl(copy, os.path.join(folder, "frames.jsonl")).ids_kept
True

Chroma and LanceDB need the ``chroma`` and ``lancedb`` extras; they are
imported only when used.
"""

from __future__ import annotations

from memvid.io._arrow import arrow_schema
from memvid.io.chroma import export_chroma, import_chroma
from memvid.io.jsonl import MAX_LINE_BYTES, export_jsonl, import_jsonl
from memvid.io.lancedb import export_lancedb, import_lancedb
from memvid.io.parquet import MAX_ROW_GROUP_BYTES, export_parquet, import_parquet
from memvid.io.records import ExportReport, FrameRecord, ImportReport

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_ROW_GROUP_BYTES",
    "ExportReport",
    "FrameRecord",
    "ImportReport",
    "arrow_schema",
    "export_chroma",
    "export_jsonl",
    "export_lancedb",
    "export_parquet",
    "import_chroma",
    "import_jsonl",
    "import_lancedb",
    "import_parquet",
]
