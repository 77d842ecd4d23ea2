"""The package's docstring examples (its modules are not collected by --doctest-modules; see conftest.py)."""

from __future__ import annotations

import doctest
import importlib
from types import ModuleType

import pytest

MODULES = [
    "llama_index.vector_stores.memvid",
    "llama_index.vector_stores.memvid.base",
    "llama_index.vector_stores.memvid.where",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    assert result.attempted > 0
