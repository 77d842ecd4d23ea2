"""Rewrite the ``$ memvid ... --help`` outputs in docs/reference/cli.md from the code.

Run ``.venv/bin/python tests/cli/update_help.py`` after changing a command's options or
help text; ``test_console_examples`` then checks the page against the code as usual.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from memvid.cli import main

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"
HELP_BLOCK = re.compile(r"(```console\n\$ (memvid[^\n]*--help)\n)(.*?)(```)", re.S)


def _help(command: str) -> str:
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(main, args, prog_name="memvid", terminal_width=78)
    if result.exit_code != 0:
        raise SystemExit(f"$ {command} exited {result.exit_code}:\n{result.output}")
    return "\n".join(line.rstrip() for line in result.output.rstrip("\n").splitlines()) + "\n"


def main_() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    new = HELP_BLOCK.sub(lambda m: m.group(1) + _help(m.group(2)) + m.group(4), text)
    if new != text:
        REFERENCE.write_text(new, encoding="utf-8")
        print(f"updated {REFERENCE}")
    else:
        print("already up to date")


if __name__ == "__main__":
    main_()
