"""Ingestion: files in, a searchable capsule out.

:meth:`memvid.Memvid.ingest` (and ``memvid ingest``) reads plain text,
Markdown, HTML, PDF and JSON/JSONL, cleans broken PDF text, cuts documents
into structure-aware chunks and writes them in batched commits, the calling
process and helper processes sharing the reading. This package holds the
pieces: :mod:`.sources` (finding and extracting), :mod:`.clean` (symspellpy
repairs), :mod:`.chunk`, :mod:`.prepare` (one source, start to end),
:mod:`.workers` (the helpers and the order-keeping scheduler) and
:mod:`.pipeline` (the writer). Nothing heavy (pypdf, symspellpy, rich) is
imported until it is needed, and nothing here imports pyarrow, numpy or
tantivy, so a helper process stays light.
"""

from __future__ import annotations

from memvid.ingest.pipeline import DedupMode, IngestFailure, IngestReport
from memvid.ingest.sources import FORMATS, JsonMapping

__all__ = ["FORMATS", "DedupMode", "IngestFailure", "IngestReport", "JsonMapping"]
