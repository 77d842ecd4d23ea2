"""Chroma: export frames to, and import them from, a Chroma persistent directory.

Needs the ``chroma`` extra (``pip install 'memvid-capsule[chroma]'``). Chroma's
anonymized telemetry is turned off on every client memvid makes, and memvid
always hands Chroma its vectors, so Chroma's default embedding function (which
downloads a model) is never called.

The mapping, one Chroma record per frame:

- ``id``: the frame's uri, or ``memvid-frame-<id>`` for a frame without a uri
  (and for a second frame with the same uri);
- ``document``: the text; ``embedding``: the vector (frames without one are skipped:
  Chroma records need a vector);
- ``metadata``: each tag as a key of its own (so Chroma's ``where`` filters work),
  plus ``memvid:frame``, a JSON object with every other field of the frame (id,
  times, uri, title, kind, tags, metadata, payload as base64, supersedes).

An import reads records back the same way. A record without ``memvid:frame``
(a collection some other program wrote) becomes a frame whose uri is the Chroma
id, whose text is the document, and whose metadata is the Chroma metadata.
Metadata keys added in Chroma after an export join the frame's metadata.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from memvid.errors import InvalidInputError, MemvidError
from memvid.io._dest import check_store_dir
from memvid.io.records import (
    ExportReport,
    FrameRecord,
    ImportReport,
    dumps,
    import_records,
    record_from_json,
    record_to_json,
    records_of,
    wrap_errors,
)

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

    from memvid.api import CapsuleView, Memvid

__all__ = ["FRAME_KEY", "export_chroma", "import_chroma"]

FRAME_KEY: Final = "memvid:frame"
"""The Chroma metadata key holding a frame's fields as JSON."""

Space = Literal["l2", "cosine", "ip"]
_SQLITE = "chroma.sqlite3"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]")
_PAGE: Final = 1000


def _require() -> None:
    try:
        import chromadb  # noqa: F401
    except ImportError as exc:
        raise ImportError("Chroma import and export need chromadb: pip install 'memvid-capsule[chroma]'") from exc


def _client(directory: Path) -> ClientAPI:
    _require()
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(directory), settings=Settings(anonymized_telemetry=False))


def _close(client: ClientAPI) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        close()


def _check_name(collection: str) -> str:
    if not isinstance(collection, str) or not _NAME.fullmatch(collection) or ".." in collection:
        raise InvalidInputError(
            f"{collection!r} is not a Chroma collection name (3 to 512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit)"
        )
    return collection


def export_chroma(
    mem: Memvid | CapsuleView,
    directory: str | os.PathLike[str],
    *,
    collection: str = "memvid",
    space: Space = "l2",
    include_payload: bool = True,
    overwrite: bool = False,
    follow_symlinks: bool = False,
) -> ExportReport:
    """Write the live frames that have a vector to a collection in the Chroma
    persistent directory ``directory`` (created if missing; its parent must exist).

    An existing collection of that name is replaced only with ``overwrite=True``.
    ``space`` is the collection's distance: ``"l2"`` (Chroma's default) keeps every
    vector bit for bit; ``"cosine"`` makes Chroma store unit vectors, so a later
    import gets the normalised vectors back. The directory must not be, or
    contain, a symbolic link (``follow_symlinks=True`` allows the directory itself
    to be one).
    """
    name = _check_name(collection)
    if space not in ("l2", "cosine", "ip"):
        raise InvalidInputError(f"space must be 'l2', 'cosine' or 'ip', not {space!r}")
    _require()  # before the directory is made
    target = check_store_dir(
        directory, follow_symlinks=follow_symlinks, create=True, inside=[_SQLITE, f"{_SQLITE}-wal", f"{_SQLITE}-shm"]
    )
    convert = wrap_errors(f"Chroma store {target}")
    frames = skipped = 0
    client = _client(target)
    try:
        existing = {c.name for c in client.list_collections()}
        if name in existing:
            if not overwrite:
                raise InvalidInputError(
                    f"{target} already has a collection {name!r} (pass overwrite=True, or --overwrite, to replace it)"
                )
            client.delete_collection(name)
        store = client.create_collection(name, metadata={"hnsw:space": space}, embedding_function=None)
        batch_size = max(1, min(_PAGE, client.get_max_batch_size()))
        used: set[str] = set()
        ids: list[str] = []
        documents: list[str] = []
        vectors: list[Any] = []
        metadatas: list[dict[str, Any]] = []

        def flush() -> None:
            if ids:
                store.add(ids=list(ids), documents=list(documents), embeddings=list(vectors), metadatas=list(metadatas))
                for chunk in (ids, documents, vectors, metadatas):
                    chunk.clear()

        for record in records_of(mem, include_payload=include_payload):
            if record.embedding is None:
                skipped += 1
                continue
            record_id = record.uri if record.uri is not None and record.uri not in used else None
            if record_id is None:
                record_id = f"memvid-frame-{record.id}"
                if record_id in used:  # a uri that looks like our fallback
                    raise InvalidInputError(f"two frames would both have the Chroma id {record_id!r}")
            used.add(record_id)
            ids.append(record_id)
            documents.append(record.text)
            vectors.append(record.embedding)
            metadatas.append(_metadata_of(record))
            frames += 1
            if len(ids) >= batch_size:
                flush()
        flush()
    except MemvidError:
        raise
    except Exception as exc:
        raise convert(exc) from exc
    finally:
        _close(client)
    return ExportReport(frames, skipped, frames, str(directory))


def _metadata_of(record: FrameRecord) -> dict[str, Any]:
    fields = record_to_json(record, exclude=frozenset({"text", "embedding", "checksum"}))
    out: dict[str, Any] = {k: v for k, v in record.tags.items() if k not in (FRAME_KEY, "chroma:document") and k}
    out[FRAME_KEY] = dumps(fields)
    return out


def import_chroma(
    mem: Memvid,
    directory: str | os.PathLike[str],
    *,
    collection: str = "memvid",
    keep_ids: bool | None = None,
    message: str | None = None,
) -> ImportReport:
    """Add every record of a collection in a Chroma persistent directory to ``mem``,
    and commit. Records are checked before anything is written; see the module
    docstring for the mapping. ``keep_ids`` works as in :func:`memvid.io.import_jsonl`.
    """
    name = _check_name(collection)
    source = Path(directory)
    if not source.is_dir() or not (source / _SQLITE).is_file():
        raise InvalidInputError(f"no Chroma persistent directory at {source} (it has no {_SQLITE})")
    return import_records(
        mem,
        lambda: _read(source, name),
        source=f"{source} (collection {name})",
        keep_ids=keep_ids,
        message=message,
    )


def _read(directory: Path, name: str) -> Iterator[tuple[str, FrameRecord]]:
    convert = wrap_errors(f"Chroma store {directory}")
    try:
        client = _client(directory)
    except ImportError:
        raise
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise convert(exc) from exc
    try:
        try:
            names = [c.name for c in client.list_collections()]
            if name not in names:
                raise InvalidInputError(
                    f"{directory} has no collection {name!r}"
                    + (f" (it has: {', '.join(sorted(names))})" if names else " (it has none)")
                )
            store = client.get_collection(name)
            total = store.count()
        except MemvidError:
            raise
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            raise convert(exc) from exc
        for offset in range(0, total, _PAGE):
            try:
                page = store.get(limit=_PAGE, offset=offset, include=["documents", "embeddings", "metadatas"])
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                    raise
                raise convert(exc) from exc
            ids = page["ids"]
            nothing: list[Any] = [None] * len(ids)
            documents: list[Any] = list(page.get("documents") or nothing)
            embeddings = page.get("embeddings")
            metadatas: list[Any] = list(page.get("metadatas") or nothing)
            for i, record_id in enumerate(ids):
                where = f"Chroma record {record_id!r}"
                vector = None if embeddings is None else embeddings[i]
                yield where, _record_of(record_id, documents[i], vector, metadatas[i], where)
    finally:
        _close(client)


def _record_of(record_id: str, document: str | None, vector: Any, metadata: Any, where: str) -> FrameRecord:
    text = document if isinstance(document, str) else ""
    embedding = None if vector is None else np.asarray(vector, dtype=np.float32)
    meta = dict(metadata) if isinstance(metadata, dict) else {}
    fields = meta.pop(FRAME_KEY, None)
    if fields is None:
        return FrameRecord(text=text, uri=record_id, metadata=meta, embedding=embedding)
    if not isinstance(fields, str):
        raise InvalidInputError(f"{where}: {FRAME_KEY} must be a JSON string")
    try:
        obj = json.loads(fields)
    except (ValueError, RecursionError):
        raise InvalidInputError(f"{where}: {FRAME_KEY} is not valid JSON") from None
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: {FRAME_KEY} must be a JSON object")
    obj.pop("text", None)
    obj.pop("embedding", None)
    obj.pop("checksum", None)  # the document may have been edited in Chroma; it is the truth
    record = record_from_json(obj, where)
    tags = dict(record.tags)
    added = {k: v for k, v in meta.items() if tags.get(k) != v}
    merged = {**added, **record.metadata} if added else record.metadata
    return FrameRecord(
        text=text,
        id=record.id,
        created_at_us=record.created_at_us,
        timestamp_us=record.timestamp_us,
        uri=record.uri,
        title=record.title,
        kind=record.kind,
        tags=tags,
        metadata=merged,
        payload=record.payload,
        checksum=None,
        supersedes=record.supersedes,
        embedding=embedding,
    )
