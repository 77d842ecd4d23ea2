"""The package surface: one namespace, a complete __all__, and a light import."""

from __future__ import annotations

import subprocess
import sys

import memvid


def test_all_is_sorted_and_complete() -> None:
    assert memvid.__all__ == sorted(memvid.__all__, key=str.lower) or memvid.__all__ == sorted(memvid.__all__)
    public = {n for n in dir(memvid) if not n.startswith("_")} - {
        "api",
        "engine",
        "errors",
        "format",
        "frame",
        "recovery",
        "storage",
        "timeline",
        "cli",
        "embed",
        "index",
        "search",
        "fusion",
        "filters",
        "io",
        "bulk",
        "ingest",
    }
    assert public <= set(memvid.__all__) | {"annotations"}
    for name in memvid.__all__:
        obj = getattr(memvid, name)
        if isinstance(obj, type):
            assert obj.__module__ == "memvid", name


def test_import_stays_light() -> None:
    code = (
        "import sys, memvid; heavy = [m for m in ('torch', 'langchain', 'langchain_core', 'llama_index', "
        "'sentence_transformers', 'onnxruntime', 'httpx', 'usearch', 'lancedb', 'tokenizers', 'chromadb', "
        "'pypdf', 'symspellpy') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
