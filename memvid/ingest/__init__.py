"""Ingestion: files in, a searchable capsule out.

:meth:`memvid.Memvid.ingest` (and ``memvid ingest``) reads plain text,
Markdown, HTML, PDF and JSON/JSONL, cleans broken PDF text, cuts documents
into structure-aware chunks and writes them with a pool of worker processes
feeding one writer. This package holds the pieces: :mod:`.sources` (finding
and extracting), :mod:`.clean` (symspellpy repairs), :mod:`.chunk` and
:mod:`.pipeline`. Nothing heavy (pypdf, symspellpy, rich) is imported until
it is needed.
"""

from __future__ import annotations

from memvid.ingest.pipeline import DedupMode, IngestFailure, IngestReport
from memvid.ingest.sources import FORMATS, JsonMapping

__all__ = ["FORMATS", "DedupMode", "IngestFailure", "IngestReport", "JsonMapping"]
