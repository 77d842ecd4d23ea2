"""LanceDB: export frames to, and import them from, a table in a local LanceDB database.

Needs the ``lancedb`` extra (``pip install 'memvid-capsule[lancedb]'``). Only
local databases (a directory path) are accepted: memvid never opens a remote
``db://`` or object-store uri.

The table has the Parquet export's columns (:func:`memvid.io.arrow_schema`),
with the vector in LanceDB's usual column ``vector`` (fixed_size_list<float32>,
null for frames without one) and the text in ``text``. An import maps columns to
frame fields by the same names, or by ``columns`` (frame field to column name,
e.g. ``{"text": "content", "embedding": "emb"}``); any other column's values join
each frame's metadata under the column's name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from memvid.errors import InvalidInputError, MemvidError
from memvid.io._arrow import BatchReader, arrow_schema, records_to_batch
from memvid.io._dest import check_store_dir
from memvid.io.records import ExportReport, FrameRecord, ImportReport, import_records, records_of, wrap_errors

if TYPE_CHECKING:
    from lancedb.db import DBConnection

    from memvid.api import CapsuleView, Memvid

__all__ = ["COLUMNS", "export_lancedb", "import_lancedb"]

COLUMNS: Final[Mapping[str, str]] = {"embedding": "vector"}
"""Where the LanceDB table's columns differ from the record's field names."""

_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
_ROWS: Final = 4096


def _require() -> None:
    try:
        import lancedb  # noqa: F401
    except ImportError as exc:
        raise ImportError("LanceDB import and export need lancedb: pip install 'memvid-capsule[lancedb]'") from exc


def _connect(directory: Path) -> DBConnection:
    _require()
    import lancedb

    return lancedb.connect(str(directory))


def _local(uri: str | os.PathLike[str]) -> Path:
    text = os.fspath(uri)
    if "://" in text:
        raise InvalidInputError(
            f"{text!r} is not a local directory; memvid reads and writes only local LanceDB databases"
        )
    return Path(text)


def _check_name(table: str) -> str:
    if not isinstance(table, str) or not _NAME.fullmatch(table) or ".." in table:
        raise InvalidInputError(
            f"{table!r} is not a LanceDB table name (letters, digits, '_', '-' and '.', not starting with '.')"
        )
    return table


def _has_table(db: DBConnection, name: str) -> bool:
    try:
        db.open_table(name)
    except (FileNotFoundError, ValueError):
        return False
    return True


def export_lancedb(
    mem: Memvid | CapsuleView,
    uri: str | os.PathLike[str],
    *,
    table: str = "frames",
    include_vectors: bool = True,
    include_payload: bool = True,
    overwrite: bool = False,
    follow_symlinks: bool = False,
) -> ExportReport:
    """Write the live frames of the commit ``mem`` reads to a table of the local LanceDB
    database at ``uri`` (a directory, created if missing; its parent must exist).

    An existing table is replaced (as a new LanceDB version) only with
    ``overwrite=True``. The directory must not be, or contain, a symbolic link
    (``follow_symlinks=True`` allows the directory itself to be one).
    """
    name = _check_name(table)
    _require()  # before the directory is made
    directory = check_store_dir(_local(uri), follow_symlinks=follow_symlinks, create=True, inside=[f"{name}.lance"])
    dim = mem.stats().embedding_dim if include_vectors else None
    schema = arrow_schema(dim, names=COLUMNS)
    counts = {"frames": 0, "vectors": 0}

    def batches() -> Iterator[pa.RecordBatch]:
        group: list[FrameRecord] = []
        for record in records_of(mem, include_vectors=include_vectors, include_payload=include_payload):
            group.append(record)
            counts["frames"] += 1
            counts["vectors"] += record.embedding is not None
            if len(group) >= _ROWS:
                yield records_to_batch(group, schema, COLUMNS)
                group = []
        if group:
            yield records_to_batch(group, schema, COLUMNS)

    convert = wrap_errors(f"LanceDB database {directory}")
    try:
        db = _connect(directory)
        if _has_table(db, name) and not overwrite:
            raise InvalidInputError(
                f"{directory} already has a table {name!r} (pass overwrite=True, or --overwrite, to replace it)"
            )
        db.create_table(
            name,
            data=pa.RecordBatchReader.from_batches(schema, batches()),
            schema=schema,
            mode="overwrite" if overwrite else "create",
            on_bad_vectors="null",  # frames without a vector are null rows, which LanceDB calls bad
        )
    except (MemvidError, ImportError):
        raise
    except Exception as exc:
        raise convert(exc) from exc
    return ExportReport(counts["frames"], 0, counts["vectors"], str(uri))


def import_lancedb(
    mem: Memvid,
    uri: str | os.PathLike[str],
    *,
    table: str = "frames",
    columns: Mapping[str, str] | None = None,
    keep_ids: bool | None = None,
    message: str | None = None,
) -> ImportReport:
    """Add the rows of a table of the local LanceDB database at ``uri`` to ``mem`` as
    frames, and commit. ``columns`` maps frame fields to column names where they
    differ from the defaults (``text``, ``vector`` for the embedding, ``uri``, ...).
    Rows are checked before anything is written. ``keep_ids`` works as in
    :func:`memvid.io.import_jsonl`.
    """
    name = _check_name(table)
    directory = _local(uri)
    if not directory.is_dir():
        raise InvalidInputError(f"no LanceDB database at {directory}")
    names = {**COLUMNS, **(columns or {})}
    return import_records(
        mem,
        lambda: _read(directory, name, names),
        source=f"{directory} (table {name})",
        keep_ids=keep_ids,
        message=message,
    )


def _read(directory: Path, name: str, names: Mapping[str, str]) -> Iterator[tuple[str, FrameRecord]]:
    convert = wrap_errors(f"LanceDB table {name!r} in {directory}")
    try:
        db = _connect(directory)
        if not _has_table(db, name):
            raise InvalidInputError(f"{directory} has no LanceDB table {name!r}")
        store: Any = db.open_table(name)
        schema: pa.Schema = store.schema
        reader = BatchReader(schema, what=f"LanceDB table {name!r}", names=names, extra_to_metadata=True)
        stream = iter(store.search().limit(None).to_batches(batch_size=1024))
    except (MemvidError, ImportError):
        raise
    except Exception as exc:
        raise convert(exc) from exc
    row = 0
    while True:
        try:
            batch = next(stream, None)
        except Exception as exc:
            raise convert(exc) from exc
        if batch is None:
            return
        batch = batch.select(schema.names)  # a query may add columns of its own (_rowid)
        yield from reader.records(batch, row)
        row += batch.num_rows
