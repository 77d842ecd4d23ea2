"""JSON Lines: one frame a line, every field of a live frame, lossless.

A line is a JSON object with the keys ``id``, ``created_at``, ``timestamp``,
``uri``, ``title``, ``kind``, ``tags``, ``metadata``, ``text``, ``payload_b64``,
``checksum``, ``supersedes`` and ``embedding`` (see :func:`record_to_json`).
Reading is streaming: one line at a time, each at most ``max_line_bytes`` long.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from memvid.errors import InvalidInputError, LimitExceededError
from memvid.io._dest import output_file
from memvid.io.records import (
    ExportReport,
    FrameRecord,
    ImportReport,
    dumps,
    import_records,
    record_from_json,
    record_to_json,
    records_of,
)

if TYPE_CHECKING:
    from memvid.api import CapsuleView, Memvid

__all__ = ["MAX_LINE_BYTES", "export_jsonl", "import_jsonl", "read_jsonl"]

MAX_LINE_BYTES: Final = 256 * 1024 * 1024
"""The longest line :func:`import_jsonl` reads by default (a 128 MiB payload is 171 MiB of base64)."""

_BUFFER = 1 << 20


def export_jsonl(
    mem: Memvid | CapsuleView,
    path: str | os.PathLike[str],
    *,
    include_vectors: bool = True,
    include_payload: bool = True,
    overwrite: bool = False,
    follow_symlinks: bool = False,
) -> ExportReport:
    """Write the live frames of the commit ``mem`` reads to ``path``, one JSON object a line.

    The file appears whole or not at all. An existing ``path`` is replaced only with
    ``overwrite=True``; a symbolic link at ``path`` is refused unless
    ``follow_symlinks=True``. Without ``include_payload``, frames that have a
    payload are written without it and without their checksum.
    """
    exclude = frozenset(([] if include_vectors else ["embedding"]) + ([] if include_payload else ["payload_b64"]))
    frames = vectors = 0
    with output_file(path, overwrite=overwrite, follow_symlinks=follow_symlinks) as handle:
        for record in records_of(mem, include_vectors=include_vectors, include_payload=include_payload):
            handle.write(dumps(record_to_json(record, exclude=exclude)).encode("utf-8") + b"\n")
            frames += 1
            vectors += record.embedding is not None
    return ExportReport(frames, 0, vectors, str(path))


def read_jsonl(
    path: str | os.PathLike[str], *, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[str, FrameRecord]]:
    """The records of a JSONL file, each with ``"FILE line N"`` for errors. Blank lines are skipped."""
    name = Path(path).name
    try:
        handle = open(path, "rb", buffering=_BUFFER)  # noqa: SIM115 -- closed by the finally below
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a directory, not a JSONL file") from None
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist") from None
    try:
        number = 0
        while True:
            line = handle.readline(max_line_bytes + 1)
            if not line:
                return
            number += 1
            where = f"{name} line {number}"
            if len(line) > max_line_bytes:
                raise LimitExceededError(f"{where} is longer than {max_line_bytes} bytes")
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            yield where, record_from_json(_parse(line, where), where)
    finally:
        handle.close()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _parse(line: bytes, where: str) -> object:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{where} is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where} is not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    except ValueError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    except RecursionError:
        raise InvalidInputError(f"{where} nests JSON too deeply") from None


def import_jsonl(
    mem: Memvid,
    path: str | os.PathLike[str],
    *,
    keep_ids: bool | None = None,
    message: str | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ImportReport:
    """Add the frames of a JSONL file to ``mem`` and commit them.

    Every line is checked before anything is written; a bad line raises
    :class:`InvalidInputError` (:class:`LimitExceededError` for a line over
    ``max_line_bytes``) naming it, and the capsule is left as it was.
    ``keep_ids`` is described in :func:`memvid.io.import_records`.
    """
    if isinstance(max_line_bytes, bool) or not isinstance(max_line_bytes, int) or max_line_bytes < 1:
        raise InvalidInputError(f"max_line_bytes must be a positive int, not {max_line_bytes!r}")
    return import_records(
        mem,
        lambda: read_jsonl(path, max_line_bytes=max_line_bytes),
        source=str(path),
        keep_ids=keep_ids,
        message=message,
    )
