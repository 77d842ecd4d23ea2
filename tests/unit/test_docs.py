"""Every Python code block in README.md and docs/ runs, in a fresh directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for doc in DOCS:
        for i, match in enumerate(BLOCK.finditer(doc.read_text(encoding="utf-8"))):
            out.append((str(doc.relative_to(ROOT)), i, match.group(1)))
    return out


@pytest.mark.parametrize(("doc", "index", "code"), _blocks(), ids=lambda v: str(v)[:40] if isinstance(v, str) else None)
def test_code_block_runs(doc: str, index: int, code: str, tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, f"{doc}[{index}]", "exec"), {"__name__": "__docs__"})
    finally:
        os.chdir(cwd)


def test_there_are_blocks_to_run() -> None:
    assert len(_blocks()) >= 2
