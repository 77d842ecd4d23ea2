"""``memvid export`` and ``memvid import``."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from memvid import Memvid
from memvid.cli import main

from .conftest import states


def _run(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args], prog_name="memvid")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.parametrize(
    ("fmt", "dest", "extra"),
    [
        ("jsonl", "frames.jsonl", []),
        ("parquet", "frames.parquet", []),
        ("lancedb", "lance", ["--format", "lancedb", "--table", "notes"]),
    ],
)
def test_export_then_import(capsule: Path, tmp_path: Path, fmt: str, dest: str, extra: list[str]) -> None:
    out = _run("export", capsule, tmp_path / dest, *extra)
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("exported 5 frames (2 with vectors) to ")
    copy = tmp_path / "copy.mv2"
    assert _run("init", copy).exit_code == 0
    result = _run("import", copy, tmp_path / dest, *extra, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["format"] == fmt and report["frames"] == 5 and report["ids_kept"] is True
    with Memvid.open(capsule, read_only=True) as a, Memvid.open(copy, read_only=True) as b:
        assert states(a) == states(b)


def test_chroma_from_the_command_line(capsule: Path, tmp_path: Path) -> None:
    pytest.importorskip("chromadb")
    store = tmp_path / "chroma"
    out = _run("export", capsule, store, "--format", "chroma", "--collection", "notes", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {
        "format": "chroma",
        "collection": "notes",
        "frames": 2,
        "skipped": 3,
        "vectors": 2,
        "destination": str(store),
    }
    text = _run("export", capsule, store, "--format", "chroma", "--collection", "notes", "--overwrite")
    assert text.stdout.strip().endswith("; skipped 3 frames without a vector")
    copy = tmp_path / "copy.mv2"
    _run("init", copy)
    result = _run("import", copy, store, "--format", "chroma", "--collection", "notes", "-m", "from chroma")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported 2 frames (2 with vectors) from collection notes in ")
    assert result.stdout.strip().endswith(" in commit 1; frame ids kept")
    with Memvid.open(copy, read_only=True) as mem:
        assert mem.head.message == "from chroma" and len(mem) == 2


def test_as_of_no_vectors_and_new_ids(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "old.jsonl"
    assert _run("export", capsule, dest, "--as-of", "1", "--no-vectors", "--no-payload").exit_code == 0
    lines = [json.loads(line) for line in dest.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 5 and all("embedding" not in line and "payload_b64" not in line for line in lines)
    result = _run("import", capsule, dest, "--new-ids")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("; new frame ids")
    assert _run("import", capsule, dest, "--keep-ids").exit_code == 1


def test_errors_are_one_line_with_a_status(capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "frames.jsonl"
    _run("export", capsule, dest)
    again = _run("export", capsule, dest)
    assert again.exit_code == 1 and again.stderr.startswith("error: ") and "already exists" in again.stderr
    unknown = _run("export", capsule, tmp_path / "frames.txt")
    assert unknown.exit_code == 2 and "pass --format" in unknown.stderr
    assert _run("export", capsule, tmp_path / "c", "--format", "chroma", "--no-vectors").exit_code == 2
    assert _run("import", capsule, dest, "--column", "text=content").exit_code == 2
    assert _run("import", capsule, dest, "--format", "lancedb", "--column", "oops").exit_code == 2
    missing = _run("import", tmp_path / "missing.mv2", dest)
    assert missing.exit_code == 3 and "memvid init" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    broken = _run("import", capsule, bad)
    assert (
        broken.exit_code == 1
        and broken.stderr == "error: bad.jsonl line 2 is not valid JSON (Expecting value at character 11)\n"
    )


@pytest.mark.parametrize(
    ("module", "fmt", "extra"), [("chromadb", "chroma", "chroma"), ("lancedb", "lancedb", "lancedb")]
)
def test_a_missing_extra_says_what_to_install(
    capsule: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, fmt: str, extra: str
) -> None:
    real_import = builtins.__import__

    def without(name: str, *args: object, **kwargs: object) -> object:
        if name == module or name.startswith(f"{module}."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", without)
    result = _run("export", capsule, tmp_path / "store", "--format", fmt)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.endswith(f"need {module}: pip install 'memvid-capsule[{extra}]'\n")
    assert not (tmp_path / "store").exists()
    _run("init", tmp_path / "empty.mv2")
    (tmp_path / "store").mkdir()
    imported = _run("import", tmp_path / "empty.mv2", tmp_path / "store", "--format", fmt)
    assert imported.exit_code == 1
