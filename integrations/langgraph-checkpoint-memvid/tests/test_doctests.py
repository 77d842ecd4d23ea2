"""The examples in the package's docstrings run (see ../conftest.py for why not via --doctest-modules)."""

from __future__ import annotations

import doctest
from types import ModuleType

import langgraph.checkpoint.memvid
import langgraph.store.memvid
import pytest


@pytest.mark.parametrize("module", [langgraph.checkpoint.memvid, langgraph.store.memvid], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
