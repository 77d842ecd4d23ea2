"""The ``memvid`` command: create, fill, read and check capsules from a shell.

Every command that prints results takes ``--json`` (one JSON document on
stdout; a JSON array for lists). Human output goes to stdout; errors go to
stderr as one ``error: ...`` line, never a traceback, and the exit status says
what went wrong (:class:`ExitCode`). The reference is ``docs/reference/cli.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from memvid import (
    CapsuleExistsError,
    CapsuleLockedError,
    CapsuleNotFoundError,
    CapsuleView,
    CommitNotFoundError,
    CorruptCapsuleError,
    Embedder,
    Finding,
    Frame,
    FrameNotFoundError,
    Hit,
    Memvid,
    MemvidError,
    MissingDependencyError,
    NotACapsuleError,
    PutOptions,
    SearchMode,
    VerifyReport,
    __version__,
    recover,
)
from memvid.embed.minilm import NAME as _DEFAULT_EMBEDDER
from memvid.filters import compile_where

__all__ = ["ExitCode", "exit_code_for", "main", "output_options"]

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(enum.IntEnum):
    """The exit status of every ``memvid`` command."""

    OK = 0
    ERROR = 1  # any other memvid error, or an OS error such as a permission denied
    USAGE = 2  # click's own status for a bad option or value
    NOT_FOUND = 3  # no such capsule, frame or commit
    DAMAGED = 4  # not a capsule, corrupt, or `verify` found problems
    LOCKED = 5  # another handle holds the writer lock


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit status that reports ``exc``."""
    if isinstance(exc, (FrameNotFoundError, CommitNotFoundError, CapsuleNotFoundError)):
        return ExitCode.NOT_FOUND
    if isinstance(exc, (CorruptCapsuleError, NotACapsuleError)):  # ChecksumError is a CorruptCapsuleError
        return ExitCode.DAMAGED
    if isinstance(exc, CapsuleLockedError):
        return ExitCode.LOCKED
    return ExitCode.ERROR


def _describe(exc: BaseException) -> str:
    """A one-line message for ``exc``, without the ``[Errno N]`` prefix of OS errors."""
    if isinstance(exc, OSError) and exc.strerror:
        message = exc.strerror
        if exc.filename is not None and str(exc.filename) not in message:
            message = f"{message}: {exc.filename}"
    else:
        message = str(exc) or type(exc).__name__
    return " ".join(message.split())


def _fail(message: str, code: ExitCode) -> NoReturn:
    """Report an error as one ``error: ...`` line on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


class _Group(click.Group):
    """Reports library and OS errors raised by any command with :func:`_fail`, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader of stdout went away (`memvid frames ... | head`): stop quietly, and keep
            # the interpreter from failing again when it flushes stdout at exit.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(ExitCode.ERROR) from None
        except MemvidError as exc:
            _fail(_describe(exc), exit_code_for(exc))
        except OSError as exc:
            _fail(_describe(exc), ExitCode.ERROR)


# -- parsing option values ----------------------------------------------------------------
# Callbacks rather than ParamType subclasses: ParamType is generic only in newer click.


def _parse_tags(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        if key in tags:
            raise click.BadParameter(f"tag {key!r} is given twice", ctx, param)
        tags[key] = val
    return tags


def _parse_json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{value!r} is not valid JSON ({exc.msg} at position {exc.pos})", ctx, param) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f'{value!r} is not a JSON object, like \'{{"source": "email"}}\'', ctx, param)
    return parsed


def _parse_where(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    parsed = _parse_json_object(ctx, param, value)
    if parsed is not None:
        try:
            compile_where(parsed)
        except MemvidError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return parsed


def _parse_time(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time, like 2024-05-01 or 2024-05-01T12:30:00Z", ctx, param
        ) from None
    # A time without a zone is UTC, as the library reads it.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _parse_commit(ctx: click.Context, param: click.Parameter, value: str | None) -> int | str | None:
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]{4,}", text):
        return text  # a seq number if the capsule has that commit, else an id prefix: see _reading
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[0-9a-fA-F]{4,}", text):
        return text.lower()
    raise click.BadParameter(
        f"{value!r} is neither a commit seq number nor a commit id prefix of 4 or more hex characters", ctx, param
    )


_CAPSULE = click.Path(dir_okay=False, path_type=Path)


# -- shared options -----------------------------------------------------------------------


def output_options(fn: F) -> F:
    """The output option every command that prints results takes."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(fn)


def _filter_options(fn: F) -> F:
    """The frame filters ``frames`` and ``find`` share."""
    options = [
        click.option("--kind", help="Only frames of this kind."),
        click.option(
            "--tag",
            "tags",
            metavar="KEY=VALUE",
            multiple=True,
            callback=_parse_tags,
            help="Only frames with this tag; repeatable.",
        ),
        click.option(
            "--since",
            metavar="TIME",
            callback=_parse_time,
            help="Only frames whose time is at or after this ISO 8601 time.",
        ),
        click.option(
            "--until", metavar="TIME", callback=_parse_time, help="Only frames whose time is before this ISO 8601 time."
        ),
        click.option("--uri-prefix", help="Only frames whose uri starts with this."),
        click.option(
            "--where",
            metavar="JSON",
            callback=_parse_where,
            help='Only frames whose metadata matches this filter, e.g. \'{"year": {"$gte": 2020}}\' '
            "(operators: see the API reference).",
        ),
    ]
    for option in reversed(options):  # click lists options in the order they are declared
        fn = option(fn)
    return fn


def _as_of_option(fn: F) -> F:
    return click.option(
        "--as-of",
        callback=_parse_commit,
        metavar="COMMIT",
        help="Read the capsule as it was at this commit: a seq number (negative counts back from "
        "the newest, -1 is the newest) or a commit id prefix of 4 or more hex characters (digits "
        "only: the seq number if there is such a commit, else the id prefix).",
    )(fn)


@contextlib.contextmanager
def _reading(
    path: Path, as_of: int | str | None = None, *, embedder: Embedder | None = None
) -> Iterator[Memvid | CapsuleView]:
    with Memvid.open(path, read_only=True, embedder=embedder) as mem:
        if as_of is None:
            yield mem
        elif isinstance(as_of, str) and as_of.isdigit():  # digits only: a seq number first, else an id prefix
            try:
                view = mem.at(commit=int(as_of))
            except CommitNotFoundError:
                view = mem.at(commit=as_of)
            yield view
        else:
            yield mem.at(commit=as_of)


KNOWN_EMBEDDERS: dict[str, Callable[[], Embedder]] = {}
"""Embedders the CLI can rebuild from the name a capsule records (see ``--embedder auto``)."""


def _load_default_embedder() -> Embedder:
    from memvid.embed.minilm import default_embedder

    return default_embedder()


KNOWN_EMBEDDERS[_DEFAULT_EMBEDDER] = _load_default_embedder


def _embedder_option(fn: F) -> F:
    return click.option(
        "--embedder",
        "embedder_choice",
        type=click.Choice(["auto", "default", "none"]),
        default="auto",
        help="What turns text into vectors. auto (the default): the embedder that wrote the capsule's "
        "vectors, if memvid can load it, else none; default: the local all-MiniLM-L6-v2 (the embed "
        "extra); none: no vectors.",
    )(fn)


def _choose_embedder(path: Path, choice: str) -> tuple[Embedder | None, str, bool]:
    """The embedder ``--embedder`` names for the capsule at ``path``; else ``None``, why,
    and whether the capsule needs one that is not installed (so frames put now would lack
    vectors the others have)."""
    if choice == "none":
        return None, "--embedder none", False
    if choice == "auto":
        with _reading(path) as mem:
            recorded = mem.stats().embedder
        if recorded is None:
            return None, "this capsule records no embedder (pass --embedder default for the local one)", False
        load = KNOWN_EMBEDDERS.get(recorded)
        if load is None:
            return None, f"this capsule's vectors come from {recorded!r}, which the memvid command cannot load", False
    else:
        load = KNOWN_EMBEDDERS[_DEFAULT_EMBEDDER]
    try:
        return load(), "", False
    except MissingDependencyError as exc:
        if choice == "default":
            _fail(str(exc), ExitCode.ERROR)
        return None, str(exc), True


# -- output -------------------------------------------------------------------------------


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _echo_json_array(items: Iterable[Mapping[str, Any]]) -> None:
    """Stream a JSON array, one element a line, so a long listing needs no memory."""
    first = True
    for item in items:
        click.echo(("[\n  " if first else ",\n  ") + json.dumps(item, ensure_ascii=False), nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _preview(frame: Frame, width: int = 60) -> str:
    text = " ".join(frame.text.split())
    if not text and frame.payload is not None:
        return f"({len(frame.payload)}-byte payload)"
    return text if len(text) <= width else text[: width - 3] + "..."


def _echo_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Aligned columns under a header: numbers to the right, text to the left, the last column unpadded."""
    cells = [list(header), *([str(value) for value in row] for row in rows)]
    right = [bool(rows) and isinstance(value, int) for value in (rows[0] if rows else header)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header) - 1)]
    for line in cells:
        padded = [cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(line, widths, right, strict=False)]
        click.echo("  ".join([*padded, line[-1]]).rstrip())


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _stdout_is_a_terminal() -> bool:
    return sys.stdout.isatty()


def _marked_snippet(hit: Hit, mark: Callable[[str], str]) -> str:
    """The hit's snippet on one line, each highlighted word passed through ``mark``."""
    parts: list[str] = []
    end = 0
    for start, stop in hit.highlights:
        if start >= end:  # spans come in order; an overlapping one would garble the text
            parts += [hit.snippet[end:start], mark(hit.snippet[start:stop])]
            end = stop
    parts.append(hit.snippet[end:])
    # Highlights never span whitespace, so collapsing it keeps the marks intact.
    return " ".join("".join(parts).split())


def _echo_fields(rows: Iterable[tuple[str, object]]) -> None:
    rows = list(rows)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name.ljust(width)}  {'-' if value is None else value}")


# -- the group ----------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="memvid")
def main() -> None:
    """Portable memory for AI agents: one .mv2 capsule file holds text, metadata and history.

    \b
    Exit status:
      0  success
      1  any other error (for example: init on a file that exists)
      2  usage error: a bad option or value
      3  not found: no such capsule, frame or commit
      4  damaged: not a capsule, corrupt, or verify found problems
      5  locked: another process is writing to the capsule
    """


@main.command()
@click.argument("path", type=_CAPSULE)
@click.option("--overwrite", is_flag=True, help="Replace an existing file at PATH.")
@output_options
def init(path: Path, overwrite: bool, as_json: bool) -> None:
    """Create an empty capsule at PATH."""
    try:
        mem = Memvid.create(path, overwrite=overwrite)
    except CapsuleExistsError:
        _fail(f"{path} already exists (pass --overwrite to replace it)", ExitCode.ERROR)
    with mem:
        stats = mem.stats()
    if as_json:
        _echo_json(stats.to_dict())
    else:
        click.echo(f"created {path} (capsule {stats.uuid})")


@main.command()
@click.argument("path", type=_CAPSULE)
@click.argument("text", required=False)
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the content from this file: stored as text if it is UTF-8, else as a bytes payload.",
)
@click.option("--title", help="A title for the frame.")
@click.option("--uri", help="A uri naming the frame, for `memvid get PATH URI`.")
@click.option(
    "--tag", "tags", metavar="KEY=VALUE", multiple=True, callback=_parse_tags, help="A tag, KEY=VALUE; repeat for more."
)
@click.option("--kind", help="A kind, such as note or email.")
@click.option(
    "--timestamp", metavar="TIME", callback=_parse_time, help="When the content happened, ISO 8601 (default: none)."
)
@click.option("--metadata", metavar="JSON", callback=_parse_json_object, help="A JSON object stored with the frame.")
@click.option("-m", "--message", help="The commit message.")
@_embedder_option
@output_options
def put(
    path: Path,
    text: str | None,
    file: Path | None,
    title: str | None,
    uri: str | None,
    tags: dict[str, str],
    kind: str | None,
    timestamp: dt.datetime | None,
    metadata: dict[str, Any] | None,
    message: str | None,
    embedder_choice: str,
    as_json: bool,
) -> None:
    """Add one frame to the capsule at PATH and commit it.

    The content is TEXT, or the contents of --file, or standard input when
    neither is given or TEXT is '-'. Content read from a file or stdin is
    stored exactly, trailing newline included; bytes that are not UTF-8 are
    stored as the frame's payload, with empty text.
    """
    if file is not None and text is not None:
        raise click.UsageError("give TEXT or --file, not both")
    data: bytes | None = None
    if file is not None:
        data = file.read_bytes()
    elif text is None or text == "-":
        if sys.stdin.isatty():
            click.echo("reading the frame's text from stdin; end it with Ctrl-D", err=True)
        data = sys.stdin.buffer.read()
    if data is not None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    try:
        embedder, why, needed = _choose_embedder(path, embedder_choice)
        if needed:
            _fail(f"{why}; or pass --embedder none to add the frame without a vector", ExitCode.ERROR)
        mem = Memvid.open(path, embedder=embedder)
    except CapsuleNotFoundError as exc:
        _fail(f"{_describe(exc)} (create one with: memvid init {path})", ExitCode.NOT_FOUND)
    with mem:
        if text is not None:
            frame_id = mem.put(text, title=title, uri=uri, tags=tags, kind=kind, timestamp=timestamp, metadata=metadata)
        else:
            assert data is not None
            options = PutOptions(
                title=title, uri=uri, tags=tags, kind=kind, timestamp=timestamp, metadata=metadata or {}
            )
            frame_id = mem.put_bytes(data, options)
        result = mem.commit(message)
    if as_json:
        _echo_json(
            {"id": frame_id, "commit_seq": result.seq, "commit_id": result.id, "commit_time": result.time.isoformat()}
        )
    else:
        click.echo(f"added frame {frame_id} in commit {result.seq} ({result.id[:12]})")


@main.command()
@click.argument("path", type=_CAPSULE)
@click.argument("ref", metavar="ID_OR_URI")
@click.option("--uri", "by_uri", is_flag=True, help="Read ID_OR_URI as a uri even if it is all digits.")
@_as_of_option
@output_options
def get(path: Path, ref: str, by_uri: bool, as_of: int | str | None, as_json: bool) -> None:
    """Print one frame of the capsule at PATH.

    ID_OR_URI is a frame id if it is all digits, else a uri (the latest live
    frame with that uri).
    """
    with _reading(path, as_of) as view:
        frame = view.get(int(ref)) if re.fullmatch(r"[0-9]+", ref) and not by_uri else view.get_by_uri(ref)
    if as_json:
        _echo_json(frame.to_dict())
        return
    rows: list[tuple[str, object]] = [("id", frame.id), ("created", _when(frame.created_at))]
    if frame.timestamp is not None:
        rows.append(("timestamp", _when(frame.timestamp)))
    rows += [("uri", frame.uri), ("title", frame.title), ("kind", frame.kind)]
    rows += [("tag", f"{key}={value}") for key, value in frame.tags.items()]
    if frame.metadata:
        rows.append(("metadata", json.dumps(dict(frame.metadata), ensure_ascii=False)))
    if frame.supersedes is not None:
        rows.append(("supersedes", frame.supersedes))
    if frame.payload is not None:
        rows.append(("payload", f"{len(frame.payload)} bytes (payload_hex in --json)"))
    if frame.embedding is not None:
        rows.append(("embedding", f"{len(frame.embedding)} dimensions"))
    rows.append(("checksum", frame.checksum))
    _echo_fields(rows)
    if frame.text:
        click.echo()
        click.echo(frame.text, nl=not frame.text.endswith("\n"))


@main.command()
@click.argument("path", type=_CAPSULE)
@_filter_options
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Print at most N frames.")
@_as_of_option
@output_options
def frames(
    path: Path,
    kind: str | None,
    tags: dict[str, str],
    since: dt.datetime | None,
    until: dt.datetime | None,
    uri_prefix: str | None,
    where: dict[str, Any] | None,
    limit: int | None,
    as_of: int | str | None,
    as_json: bool,
) -> None:
    """List the live frames of the capsule at PATH, in id order.

    A frame's time is its --timestamp if it was given one, else when it was
    put. Each line shows the id, the time (UTC), the uri or title, and the
    start of the text.
    """
    with _reading(path, as_of) as view:
        found = view.frames(kind=kind, tags=tags or None, since=since, until=until, uri_prefix=uri_prefix, where=where)
        found = itertools.islice(found, limit)
        if as_json:
            _echo_json_array(frame.to_dict() for frame in found)
            return
        for frame in found:
            click.echo(f"{frame.id}  {_when(frame.time)}  {frame.uri or frame.title or '-'}  {_preview(frame)}")


@main.command()
@click.argument("path", type=_CAPSULE)
@click.argument("query")
@click.option(
    "--mode",
    type=click.Choice([mode.value for mode in SearchMode]),
    default=SearchMode.AUTO.value,
    metavar="MODE",
    help="lex: by words, in tantivy's query syntax; vec: by meaning, with vectors; hybrid: both, "
    "fused; auto (the default): hybrid when a query vector can be had, else lex.",
)
@click.option("--limit", type=click.IntRange(min=1), default=10, metavar="N", help="Print at most N hits (default 10).")
@click.option("--threshold", type=float, metavar="SCORE", help="Only hits scoring at least SCORE.")
@_filter_options
@click.option(
    "--created-since", metavar="TIME", callback=_parse_time, help="Only frames put at or after this ISO 8601 time."
)
@click.option(
    "--created-until", metavar="TIME", callback=_parse_time, help="Only frames put before this ISO 8601 time."
)
@click.option(
    "--fusion",
    type=click.Choice(["rrf", "weighted", "adaptive"]),
    default="adaptive",
    help="How hybrid search merges its two rankings: reciprocal rank, weighted scores, or adaptive "
    "(the default: weighted per query by how clearly the vector search found a match).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1),
    default=0.5,
    metavar="WEIGHT",
    help="The vector share of a weighted fusion score, 0 to 1 (default 0.5).",
)
@click.option(
    "--snippet-chars",
    type=click.IntRange(min=0),
    default=200,
    metavar="N",
    help="About how many characters of each hit's text to show (default 200; 0 for none).",
)
@_embedder_option
@_as_of_option
@output_options
def find(
    path: Path,
    query: str,
    mode: str,
    limit: int,
    threshold: float | None,
    kind: str | None,
    tags: dict[str, str],
    uri_prefix: str | None,
    where: dict[str, Any] | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    created_since: dt.datetime | None,
    created_until: dt.datetime | None,
    fusion: str,
    alpha: float,
    snippet_chars: int,
    embedder_choice: str,
    as_of: int | str | None,
    as_json: bool,
) -> None:
    """Search the capsule at PATH for QUERY, best hits first.

    QUERY is read from standard input when it is '-'. Each hit shows its
    rank, score, frame id, the retrievers that found it with their ranks, and
    its uri or title, then a snippet of its text with the matched words in
    bold on a terminal, or in [brackets] otherwise. No hits prints "no
    results" on stderr and exits 0.
    """
    if query == "-":
        if sys.stdin.isatty():
            click.echo("reading the query from stdin; end it with Ctrl-D", err=True)
        query = sys.stdin.read()
    query = query.strip()
    embedder, why, _ = _choose_embedder(path, embedder_choice)
    with _reading(path, as_of, embedder=embedder) as view:
        if embedder is None and mode in (SearchMode.VEC, SearchMode.HYBRID):
            _fail(f"{mode} search needs a query embedder: {why}", ExitCode.ERROR)
        results = view.search(
            query,
            mode=mode,
            limit=limit,
            threshold=threshold,
            kind=kind,
            tags=tags or None,
            uri_prefix=uri_prefix,
            where=where,
            since=since,
            until=until,
            created_since=created_since,
            created_until=created_until,
            fusion=fusion,
            alpha=alpha,
            snippet_chars=snippet_chars,
        )
    if as_json:
        _echo_json(results.to_dict())
        return
    if not results:
        click.echo("no results", err=True)
        return
    bold = _stdout_is_a_terminal()
    for rank, hit in enumerate(results, start=1):
        found_by = ", ".join(f"{name} #{place}" for name, place in hit.retrievers.items())
        click.echo(f"{rank}  score {hit.score:.4g}  frame {hit.frame_id}  {found_by}  {hit.uri or hit.title or '-'}")
        snippet = _marked_snippet(hit, lambda word: click.style(word, bold=True) if bold else f"[{word}]")
        if snippet:
            click.echo(f"   {snippet}")


@main.command()
@click.argument("path", type=_CAPSULE)
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Only the newest N commits.")
@output_options
def timeline(path: Path, limit: int | None, as_json: bool) -> None:
    """List the commits of the capsule at PATH, oldest first.

    The table shows each commit's seq number, the start of its id, its time
    (UTC), how many frames it added and removed, how many frames were live
    after it, and its message.
    """
    with _reading(path) as mem:
        # timeline(limit=0) would return one commit, so 0 is answered here.
        commits = [] if limit == 0 else mem.timeline(limit=limit)
    if as_json:
        _echo_json_array(commit.to_dict() for commit in commits)
        return
    _echo_table(
        ("seq", "id", "time", "added", "removed", "frames", "message"),
        [(c.seq, c.id[:12], _when(c.time), c.added, c.removed, c.frames, c.message or "") for c in commits],
    )


@main.command()
@click.argument("path", type=_CAPSULE)
@output_options
def stats(path: Path, as_json: bool) -> None:
    """Print counts and sizes of the capsule at PATH."""
    with _reading(path) as mem:
        info = mem.stats().to_dict()
    if as_json:
        _echo_json(info)
    else:
        _echo_fields(info.items())


@main.command()
@click.argument("path", type=_CAPSULE)
@output_options
@click.pass_context
def verify(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Check every checksum and every commit of the capsule at PATH.

    Reads the whole file. Exits 0 if nothing is wrong and 4 if anything is,
    including a file too damaged to open, which is reported as a finding.
    """
    try:
        with _reading(path) as mem:
            report = mem.verify()
    except (CorruptCapsuleError, NotACapsuleError) as exc:
        report = VerifyReport(findings=[Finding("error", getattr(exc, "offset", None), _describe(exc))])
    if as_json:
        _echo_json({"path": str(path), **report.to_dict()})
    else:
        for finding in report.findings:
            where = "" if finding.offset is None else f" at offset {finding.offset}"
            click.echo(f"{finding.level}{where}: {finding.message}")
        checked = ", ".join(
            _plural(n, noun)
            for n, noun in [
                (report.commits, "commit"),
                (report.blocks, "block"),
                (report.frames, "frame"),
                (report.bytes, "byte"),
            ]
        )
        if report.ok:
            click.echo(f"{path}: ok ({checked} checked)")
        else:
            click.echo(f"{path}: {_plural(len(report.findings), 'problem')} found ({checked} checked)")
    if not report.ok:
        ctx.exit(ExitCode.DAMAGED)


@main.command(name="recover")
@click.argument("source", metavar="SRC", type=_CAPSULE)
@click.argument("dest", type=_CAPSULE)
@click.option("--overwrite", is_flag=True, help="Replace an existing file at DEST.")
@output_options
def recover_command(source: Path, dest: Path, overwrite: bool, as_json: bool) -> None:
    """Save the newest intact commit of SRC as a new capsule DEST.

    For a damaged capsule: SRC is only read, and commits are found even if
    its header is unreadable. DEST gets the live frames of that commit, with
    their ids, but not the history before it.
    """
    try:
        result = recover(source, dest, overwrite=overwrite)
    except CapsuleExistsError:
        _fail(f"{dest} already exists (pass --overwrite to replace it)", ExitCode.ERROR)
    if as_json:
        _echo_json({"source": str(source), "dest": str(dest), **result.to_dict()})
        return
    line = (
        f"recovered {_plural(result.frames, 'frame')} from commit {result.source_seq} ({result.source_commit[:12]}) "
        f"of {source} into {dest}"
    )
    if result.skipped_commits:
        line += f"; skipped {_plural(result.skipped_commits, 'damaged newer commit')}"
    click.echo(line)


@main.command()
@click.argument("path", type=_CAPSULE)
@output_options
def reindex(path: Path, as_json: bool) -> None:
    """Rebuild every search index of the capsule at PATH.

    Writes a new commit, with the message "reindex", that holds indexes built
    afresh from the frames; the frames do not change.
    """
    with Memvid.open(path) as mem:
        result = mem.reindex()
    if as_json:
        _echo_json({"commit_seq": result.seq, "commit_id": result.id, "commit_time": result.time.isoformat()})
    else:
        click.echo(f"reindexed in commit {result.seq} ({result.id[:12]})")


# Commands defined in their own modules, which use the helpers above.
from memvid.cli.io import export_command, import_command  # noqa: E402

main.add_command(export_command)
main.add_command(import_command)
from memvid.cli.ingest import ingest_command  # noqa: E402

main.add_command(ingest_command)
