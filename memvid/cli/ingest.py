"""``memvid ingest``: files, directories, globs or stdin into a capsule, as documents and chunks."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from memvid import Memvid
from memvid.cli import ExitCode, _echo_json, _parse_tags, _plural, output_options
from memvid.ingest import IngestReport, JsonMapping
from memvid.ingest.pipeline import run_ingest

__all__ = ["ingest_command"]

_CAPSULE = click.Path(dir_okay=False, path_type=Path)
_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


@click.command(name="ingest")
@click.argument("path", type=_CAPSULE)
@click.argument("sources", metavar="SOURCES...", nargs=-1, required=True)
@click.option(
    "--include",
    "--glob",
    "include",
    metavar="GLOB",
    multiple=True,
    help="In directories, take only files whose name matches GLOB; repeatable (default: every known extension).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    metavar="N",
    help="Worker processes that read, clean and chunk (default: one per CPU; 1 runs in-process).",
)
@click.option(
    "--chunk-chars",
    type=click.IntRange(min=1),
    default=1200,
    show_default=True,
    metavar="N",
    help="The most characters in a chunk (a longer code block or table stays whole).",
)
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=150,
    show_default=True,
    metavar="N",
    help="The most characters consecutive chunks share.",
)
@click.option(
    "--clean/--no-clean",
    default=None,
    help="Repair split, glued and hyphenated words (default: in PDFs only).",
)
@click.option(
    "--dedup",
    type=click.Choice(["skip", "link", "off"]),
    default="skip",
    show_default=True,
    help="A document whose text is in already: skip it, link its source to the existing document, or add it again.",
)
@click.option(
    "--commit-every",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    metavar="N",
    help="Commit after every N documents (Ctrl-C loses at most the batch being written).",
)
@click.option(
    "--tag", "tags", metavar="KEY=VALUE", multiple=True, callback=_parse_tags, help="Tag every frame; repeatable."
)
@click.option(
    "--stdin-format",
    type=click.Choice(["text", "markdown", "html", "pdf", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="How to read standard input, given as '-'.",
)
@click.option("--json-text-field", default="text", show_default=True, metavar="FIELD", help="JSON/JSONL: the text.")
@click.option("--json-title-field", default="title", show_default=True, metavar="FIELD", help="JSON/JSONL: the title.")
@click.option("--json-id-field", default="id", show_default=True, metavar="FIELD", help="JSON/JSONL: a record id.")
@click.option("--json-time-field", metavar="FIELD", help="JSON/JSONL: the timestamp (default: the file's mtime).")
@click.option(
    "--json-metadata-field",
    "json_metadata",
    metavar="FIELD",
    multiple=True,
    help="JSON/JSONL: a field copied into each frame's metadata; repeatable.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but failures: no progress bar, no summary.")
@output_options
def ingest_command(
    path: Path,
    sources: tuple[str, ...],
    include: tuple[str, ...],
    workers: int | None,
    chunk_chars: int,
    overlap: int,
    clean: bool | None,
    dedup: str,
    commit_every: int,
    tags: dict[str, str],
    stdin_format: str,
    json_text_field: str,
    json_title_field: str,
    json_id_field: str,
    json_time_field: str | None,
    json_metadata: tuple[str, ...],
    quiet: bool,
    as_json: bool,
) -> None:
    """Add files, directories, globs or stdin to the capsule at PATH.

    SOURCES are files, directories (walked recursively), glob patterns (quote
    them; ** recurses) or '-' for standard input. Text, Markdown, HTML, PDF,
    JSON and JSONL are read; each document becomes a "document" frame holding
    its whole text and "chunk" frames that are searched. PATH is created if it
    does not exist. Files already in the capsule (same path, size and mtime)
    are skipped, so a run stopped with Ctrl-C resumes where it stopped. Exits
    1 if any file failed (the others are still ingested).
    """
    if overlap >= chunk_chars:
        raise click.BadParameter(f"must be less than --chunk-chars ({chunk_chars})", param_hint="--overlap")
    stdin = sys.stdin.buffer.read() if "-" in sources else None
    mapping = JsonMapping(
        text=json_text_field,
        title=json_title_field or None,
        id=json_id_field or None,
        time=json_time_field,
        metadata=json_metadata,
    )
    progress = not (quiet or as_json) and sys.stderr.isatty()
    created = not path.exists()
    mem = Memvid.create(path) if created else Memvid.open(path)
    try:
        with mem:
            report = run_ingest(
                mem,
                sources,
                workers=workers,
                chunk_chars=chunk_chars,
                overlap=overlap,
                clean=clean,
                dedup=dedup,  # type: ignore[arg-type]  # click.Choice checked it
                commit_every=commit_every,
                progress=progress,
                include=include,
                tags=tags,
                json_mapping=mapping,
                stdin=stdin,
                stdin_format=stdin_format,
            )
            head = mem.head.seq
    except KeyboardInterrupt:
        click.echo(
            "interrupted: the capsule keeps every batch committed before Ctrl-C; run the same command to resume",
            err=True,
        )
        raise click.exceptions.Exit(_INTERRUPTED) from None
    if as_json:
        _echo_json({"path": str(path), "created": created, "commit_seq": head, **report.to_dict()})
    else:
        for failure in report.failed:
            click.echo(f"failed: {failure.source}: {failure.reason}", err=True)
        if not quiet:
            click.echo(_summary(path, report, created))
    if report.failed:
        raise click.exceptions.Exit(ExitCode.ERROR)


def _summary(path: Path, report: IngestReport, created: bool) -> str:
    line = (
        f"{'created' if created else 'updated'} {path}: {_plural(report.files, 'file')} read, "
        f"{_plural(report.documents, 'document')} added as {_plural(report.frames, 'frame')} "
        f"in {_plural(report.commits, 'commit')}"
    )
    extra = [
        f"{report.skipped} already in" if report.skipped else "",
        _plural(report.duplicates, "duplicate") if report.duplicates else "",
        f"{report.replaced} replaced" if report.replaced else "",
        f"{len(report.failed)} failed" if report.failed else "",
    ]
    extra = [e for e in extra if e]
    cleaned = sum(report.cleanup.values())
    if cleaned:
        extra.append(f"{_plural(cleaned, 'word')} repaired")
    return line + ("; " + ", ".join(extra) if extra else "")
