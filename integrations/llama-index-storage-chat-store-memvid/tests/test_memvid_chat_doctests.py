"""The package's docstring examples (its modules are not collected by --doctest-modules; see conftest.py)."""

from __future__ import annotations

import doctest
import importlib
from types import ModuleType

import pytest

MODULES = [
    "llama_index.storage.chat_store.memvid",
    "llama_index.storage.chat_store.memvid.base",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    assert result.attempted > 0
