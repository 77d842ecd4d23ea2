"""``memvid export`` and ``memvid import``: frames to and from JSONL, Parquet, Chroma and LanceDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from memvid import CapsuleNotFoundError, Memvid
from memvid.cli import (
    ExitCode,
    _as_of_option,
    _describe,
    _echo_json,
    _fail,
    _plural,
    _reading,
    output_options,
)
from memvid.io import (
    ExportReport,
    ImportReport,
    export_chroma,
    export_jsonl,
    export_lancedb,
    export_parquet,
    import_chroma,
    import_jsonl,
    import_lancedb,
    import_parquet,
)

__all__ = ["export_command", "import_command"]

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("jsonl", "parquet", "chroma", "lancedb")
_CAPSULE = click.Path(dir_okay=False, path_type=Path)
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def _format_of(fmt: str | None, path: Path) -> str:
    if fmt is not None:
        return fmt
    guessed = _SUFFIXES.get(path.suffix.lower())
    if guessed is None:
        raise click.UsageError(f"cannot tell the format of {path} from its name; pass --format ({', '.join(FORMATS)})")
    return guessed


def _parse_columns(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    columns: dict[str, str] = {}
    for value in values:
        field, sep, column = value.partition("=")
        if not sep or not field or not column:
            raise click.BadParameter(f"{value!r} is not FIELD=COLUMN", ctx, param)
        columns[field] = column
    return columns


def _format_option(place: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        metavar="FORMAT",
        help=f"jsonl, parquet, chroma or lancedb; by default from the name of {place} (.jsonl, .ndjson, .parquet).",
    )


@click.command(name="export")
@click.argument("path", type=_CAPSULE)
@click.argument("dest", type=click.Path(path_type=Path))
@_format_option("DEST")
@click.option("--collection", default="memvid", show_default=True, help="The Chroma collection to write.")
@click.option("--table", default="frames", show_default=True, help="The LanceDB table to write.")
@click.option("--no-vectors", is_flag=True, help="Leave out embeddings (not for chroma, which needs them).")
@click.option("--no-payload", is_flag=True, help="Leave out byte payloads (and the checksums that cover them).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file, collection or table at DEST.")
@click.option("--follow-symlinks", is_flag=True, help="Write through DEST when it is a symbolic link.")
@_as_of_option
@output_options
def export_command(
    path: Path,
    dest: Path,
    fmt: str | None,
    collection: str,
    table: str,
    no_vectors: bool,
    no_payload: bool,
    overwrite: bool,
    follow_symlinks: bool,
    as_of: int | str | None,
    as_json: bool,
) -> None:
    """Write the live frames of the capsule at PATH to DEST.

    DEST is a file for jsonl and parquet, and a directory for chroma (a
    persistent Chroma directory) and lancedb (a local LanceDB database); the
    directory is created if missing. JSONL and Parquet keep every field of
    every frame, so importing them gives the same frames back. A file appears
    whole or not at all, and an existing DEST is replaced only with
    --overwrite.
    """
    fmt = _format_of(fmt, dest)
    if fmt == "chroma" and no_vectors:
        raise click.UsageError("Chroma records need vectors; --no-vectors cannot be used with --format chroma")
    common: dict[str, Any] = {"overwrite": overwrite, "follow_symlinks": follow_symlinks}
    common["include_payload"] = not no_payload
    try:
        with _reading(path, as_of) as view:
            if fmt == "jsonl":
                report = export_jsonl(view, dest, include_vectors=not no_vectors, **common)
            elif fmt == "parquet":
                report = export_parquet(view, dest, include_vectors=not no_vectors, **common)
            elif fmt == "chroma":
                report = export_chroma(view, dest, collection=collection, **common)
            else:
                report = export_lancedb(view, dest, table=table, include_vectors=not no_vectors, **common)
    except ImportError as exc:
        _fail(str(exc), ExitCode.ERROR)
    _print_export(report, fmt, collection, table, as_json)


def _where(fmt: str, place: str, collection: str, table: str) -> str:
    if fmt == "chroma":
        return f"collection {collection} in {place}"
    if fmt == "lancedb":
        return f"table {table} in {place}"
    return place


def _print_export(report: ExportReport, fmt: str, collection: str, table: str, as_json: bool) -> None:
    if as_json:
        extra = {"collection": collection} if fmt == "chroma" else {"table": table} if fmt == "lancedb" else {}
        _echo_json({"format": fmt, **extra, **report.to_dict()})
        return
    line = (
        f"exported {_plural(report.frames, 'frame')} ({report.vectors} with vectors) "
        f"to {_where(fmt, report.destination, collection, table)}"
    )
    if report.skipped:
        line += f"; skipped {_plural(report.skipped, 'frame')} without a vector"
    click.echo(line)


@click.command(name="import")
@click.argument("path", type=_CAPSULE)
@click.argument("source", metavar="SRC", type=click.Path(path_type=Path))
@_format_option("SRC")
@click.option("--collection", default="memvid", show_default=True, help="The Chroma collection to read.")
@click.option("--table", default="frames", show_default=True, help="The LanceDB table to read.")
@click.option(
    "--column",
    "columns",
    metavar="FIELD=COLUMN",
    multiple=True,
    callback=_parse_columns,
    help="For lancedb: read a frame field from another column, e.g. text=content; repeatable.",
)
@click.option(
    "--keep-ids/--new-ids",
    default=None,
    help="Keep the frame ids SRC records (fail if they are taken), or give new ones. "
    "Default: keep them when the capsule has none of them yet.",
)
@click.option("-m", "--message", help="The commit message (default: import from SRC).")
@output_options
def import_command(
    path: Path,
    source: Path,
    fmt: str | None,
    collection: str,
    table: str,
    columns: dict[str, str],
    keep_ids: bool | None,
    message: str | None,
    as_json: bool,
) -> None:
    """Add the frames in SRC to the capsule at PATH, and commit them.

    SRC is a file for jsonl and parquet, and a directory for chroma and
    lancedb. Every record is checked before anything is written: a bad one
    stops the import with status 1, naming it, and the capsule is unchanged.
    Large imports are committed in batches.
    """
    fmt = _format_of(fmt, source)
    if columns and fmt != "lancedb":
        raise click.UsageError("--column is for --format lancedb")
    try:
        mem = Memvid.open(path)
    except CapsuleNotFoundError as exc:
        _fail(f"{_describe(exc)} (create one with: memvid init {path})", ExitCode.NOT_FOUND)
    common: dict[str, Any] = {"keep_ids": keep_ids, "message": message}
    try:
        with mem:
            if fmt == "jsonl":
                report = import_jsonl(mem, source, **common)
            elif fmt == "parquet":
                report = import_parquet(mem, source, **common)
            elif fmt == "chroma":
                report = import_chroma(mem, source, collection=collection, **common)
            else:
                report = import_lancedb(mem, source, table=table, columns=columns or None, **common)
    except ImportError as exc:
        _fail(str(exc), ExitCode.ERROR)
    _print_import(report, fmt, str(source), collection, table, as_json)


def _print_import(report: ImportReport, fmt: str, source: str, collection: str, table: str, as_json: bool) -> None:
    if as_json:
        extra = {"collection": collection} if fmt == "chroma" else {"table": table} if fmt == "lancedb" else {}
        _echo_json({"format": fmt, **extra, **report.to_dict(), "source": source})
        return
    line = (
        f"imported {_plural(report.frames, 'frame')} ({report.vectors} with vectors) "
        f"from {_where(fmt, source, collection, table)}"
    )
    if report.commit_seq is not None:
        first = report.commit_seq - report.commits + 1  # an import's commits follow one another
        line += f" in commit {first}" if report.commits == 1 else f" in commits {first} to {report.commit_seq}"
    line += "; frame ids kept" if report.ids_kept else "; new frame ids"
    click.echo(line)
