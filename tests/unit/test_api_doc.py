"""docs/reference/api.md names every public name and every public method."""

from __future__ import annotations

import re
from pathlib import Path

import memvid

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "api.md").read_text(encoding="utf-8")


def test_every_public_name_is_documented() -> None:
    missing = [n for n in memvid.__all__ if n != "__version__" and f"`{n}" not in DOC and n not in DOC]
    assert missing == []


def test_every_public_method_is_documented() -> None:
    missing = []
    for cls in (memvid.Memvid, memvid.CapsuleView):
        for name in dir(cls):
            if not name.startswith("_") and not re.search(rf"`(Memvid\.)?{name}[`( ]", DOC):
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []
