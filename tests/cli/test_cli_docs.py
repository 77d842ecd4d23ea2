"""The CLI and its reference agree: every command has help text and a section in
docs/reference/cli.md, every option is named there, and every ``console`` example
there runs with the output shown. Also runs the installed ``memvid`` script."""

from __future__ import annotations

import doctest
import importlib.metadata
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from memvid import Memvid
from memvid.cli import ExitCode, main

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference" / "cli.md"
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
PIPED = re.compile(r"(?:(?P<feed>.+?) \| )?memvid(?: (?P<args>.*))?")


def _commands() -> dict[str, click.Command]:
    assert isinstance(main, click.Group)
    return dict(main.commands)


def _sections() -> dict[str, str]:
    """``## memvid NAME`` heading -> the text up to the next ``## `` heading."""
    text = REFERENCE.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    out = {}
    for part in parts:
        heading, _, body = part.partition("\n")
        match = re.fullmatch(r"memvid (\S+)", heading.strip())
        if match:
            out[match.group(1)] = body
    return out


@pytest.mark.parametrize("name", sorted(_commands()))
def test_command_has_help(name: str) -> None:
    command = _commands()[name]
    assert command.help, f"memvid {name} has no help text"
    assert command.get_short_help_str(limit=80).strip()
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"memvid {name} {param.opts[0]} has no help text"


@pytest.mark.parametrize("name", sorted(_commands()))
def test_command_is_documented(name: str) -> None:
    sections = _sections()
    assert name in sections, f"docs/reference/cli.md has no '## memvid {name}' heading"
    body = sections[name]
    assert f"$ memvid {name} --help\n" in body, f"the memvid {name} section does not show its --help"
    for param in _commands()[name].params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    assert opt in body, f"the memvid {name} section does not mention {opt}"


def test_every_section_is_a_command() -> None:
    assert sorted(_sections()) == sorted(_commands())


def test_commands_that_print_results_take_json() -> None:
    for name, command in _commands().items():
        assert "--json" in {opt for param in command.params for opt in param.opts}, name


def test_exit_codes_are_documented() -> None:
    assert {code.name: code.value for code in ExitCode} == {
        "OK": 0,
        "ERROR": 1,
        "USAGE": 2,
        "NOT_FOUND": 3,
        "DAMAGED": 4,
        "LOCKED": 5,
    }
    text = REFERENCE.read_text(encoding="utf-8")
    assert main.help is not None
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| \w", text, re.M), f"no row for exit status {code.value}"
        assert re.search(rf"^\s+{code.value}  \w", main.help, re.M), f"memvid --help omits exit status {code.value}"


# -- the console examples -------------------------------------------------------------------


def _examples() -> list[tuple[str, str]]:
    """Every ``$ command`` in the reference's console blocks, in order, with its expected output."""
    out: list[tuple[str, str]] = []
    for block in CONSOLE.finditer(REFERENCE.read_text(encoding="utf-8")):
        for chunk in re.split(r"^\$ ", block.group(1), flags=re.M)[1:]:
            command, _, expected = chunk.partition("\n")
            out.append((command, expected))
    return out


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, check=False, timeout=60)


def test_console_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs each ``$ memvid ...`` in-process (``echo ... | memvid`` feeds stdin), ``echo $?``
    as the last status, and anything else with bash, all in one directory."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    checker = doctest.OutputChecker()
    status = 0
    examples = _examples()
    assert len(examples) > 30
    for command, expected in examples:
        if command == "echo $?":
            got = f"{status}\n"
        elif match := PIPED.fullmatch(command):
            feed = _shell(match["feed"], tmp_path).stdout if match["feed"] else None
            args = shlex.split(match["args"] or "")
            # Help wraps as in an 80-column terminal, whose text click makes 78 columns wide.
            result = runner.invoke(main, args, input=feed, prog_name="memvid", terminal_width=78)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            got, status = result.output, result.exit_code
        else:
            done = _shell(command, tmp_path)
            got, status = (done.stdout + done.stderr).decode(), done.returncode
        want = "\n".join(line.rstrip() for line in expected.strip("\n").splitlines()) + "\n"
        got = "\n".join(line.rstrip() for line in got.strip("\n").splitlines()) + "\n"
        if not checker.check_output(want, got, doctest.ELLIPSIS):
            pytest.fail(f"$ {command}\n--- docs/reference/cli.md shows:\n{want}--- but it printed:\n{got}")


# -- the installed script -------------------------------------------------------------------


def _script() -> Path:
    try:
        importlib.metadata.distribution("memvid-capsule")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("memvid-capsule is not installed, so there is no console script")
    script = Path(sys.executable).with_name("memvid")
    assert script.exists(), f"the console script is not installed next to {sys.executable}"
    return script


def test_console_script_runs() -> None:
    done = subprocess.run([_script(), "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: memvid [OPTIONS] COMMAND [ARGS]...\n")
    for name in _commands():
        assert f"\n  {name} " in done.stdout


def test_console_script_errors_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [_script(), "get", tmp_path / "missing.mv2", "0"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr == f"error: no capsule at {tmp_path / 'missing.mv2'}\n"


def test_closed_stdout_stops_quietly(tmp_path: Path) -> None:
    """``memvid frames big.mv2 | head -1``: no traceback and no error line when the reader leaves."""
    path = tmp_path / "big.mv2"
    with Memvid.create(path) as mem:
        for i in range(3000):
            mem.put(f"frame number {i} with some words to make the line longer")
    with subprocess.Popen(
        [_script(), "frames", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith(b"0  ")
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == 1
    assert stderr == b""
