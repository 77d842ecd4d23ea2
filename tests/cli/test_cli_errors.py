"""Exit statuses and error messages: one ``error: ...`` line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from memvid import Memvid, __version__

Invoke = Callable[..., Result]


def _assert_error_line(result: Result, code: int, message: str) -> None:
    """Exactly one ``error: ...`` line on stderr containing ``message``, and nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output


def _assert_usage_error(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """A capsule whose one big frames block has random bytes written into its middle."""
    path = tmp_path / "damaged.mv2"
    rng = random.Random(7)
    with Memvid.create(path) as mem:
        mem.put("small frame")
        mem.commit()
        # Random hex barely compresses, so this frames block fills most of the file.
        mem.put(rng.randbytes(40_000).hex(), uri="mv2://big")
        mem.commit()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2)
        f.write(rng.randbytes(64))
    return path


# -- usage errors: 2 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "person"], "Invalid value for '--tag': 'person' is not KEY=VALUE"),
        (["--tag", "=alice"], "'=alice' is not KEY=VALUE"),
        (["--tag", "a=1", "--tag", "a=2"], "tag 'a' is given twice"),
        (["--metadata", "{oops"], "Invalid value for '--metadata': '{oops' is not valid JSON"),
        (["--metadata", "[1, 2]"], "'[1, 2]' is not a JSON object"),
        (["--metadata", '"text"'], "is not a JSON object"),
        (["--timestamp", "yesterday"], "Invalid value for '--timestamp': 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_put_bad_option_values(invoke: Invoke, capsule: Path, args: list[str], message: str) -> None:
    result = invoke(["put", capsule, "text", *args])
    _assert_usage_error(result, message)
    with Memvid.open(capsule, read_only=True) as mem:
        assert len(mem) == 3  # nothing was written


def test_put_text_and_file_together(invoke: Invoke, capsule: Path, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a")
    _assert_usage_error(invoke(["put", capsule, "text", "--file", source]), "give TEXT or --file, not both")


def test_put_missing_file(invoke: Invoke, capsule: Path, tmp_path: Path) -> None:
    _assert_usage_error(invoke(["put", capsule, "--file", tmp_path / "nope.txt"]), "does not exist")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frames", "{capsule}", "--tag", "nokey"], "'nokey' is not KEY=VALUE"),
        (["frames", "{capsule}", "--since", "soon"], "'soon' is not an ISO 8601 time"),
        (["frames", "{capsule}", "--until", "2024-13-01"], "'2024-13-01' is not an ISO 8601 time"),
        (["frames", "{capsule}", "--limit", "-1"], "Invalid value for '--limit'"),
        (["frames", "{capsule}", "--as-of", "abc"], "'abc' is neither a commit seq number nor a commit id prefix"),
        (["get", "{capsule}", "0", "--as-of", "head"], "'head' is neither a commit seq number"),
        (["timeline", "{capsule}", "--limit", "x"], "'x' is not a valid integer"),
        (["get", "{capsule}"], "Missing argument 'ID_OR_URI'"),
        (["stats", "{tmp}"], "is a directory"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_usage_errors(invoke: Invoke, capsule: Path, args: list[str], message: str) -> None:
    args = [a.format(capsule=capsule, tmp=capsule.parent) for a in args]
    _assert_usage_error(invoke(args), message)


# -- not found: 3 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "{capsule}", "99"], "error: no frame 99 in commit 3"),
        (["get", "{capsule}", "mv2://nowhere"], "error: no live frame with uri 'mv2://nowhere'"),
        (["get", "{capsule}", "0", "--as-of", "9"], "error: no commit 9: this capsule has commits 0..3"),
        (["frames", "{capsule}", "--as-of", "-9"], "error: no commit -9: this capsule has commits 0..3"),
        (["frames", "{capsule}", "--as-of", "ffffffff"], "error: no commit with id 'ffffffff'"),
        (["stats", "{missing}"], "error: no capsule at {missing}"),
        (["timeline", "{missing}"], "error: no capsule at {missing}"),
        (["verify", "{missing}"], "error: no capsule at {missing}"),
        (["recover", "{missing}", "{tmp}/out.mv2"], "error: no capsule at {missing}"),
        (["put", "{missing}", "x"], "error: no capsule at {missing} (create one with: memvid init {missing})"),
    ],
)
def test_not_found(invoke: Invoke, capsule: Path, args: list[str], message: str) -> None:
    names = {"capsule": capsule, "missing": capsule.parent / "missing.mv2", "tmp": capsule.parent}
    result = invoke([a.format(**names) for a in args])
    _assert_error_line(result, 3, message.format(**names))
    assert result.stderr == message.format(**names) + "\n"


def test_get_deleted_frame_is_not_found(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as mem:
        mem.delete(1)
    _assert_error_line(invoke(["get", capsule, "1"]), 3, "frame 1 was deleted")


# -- damaged: 4 ---------------------------------------------------------------------------


def test_not_a_capsule(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some text, not a capsule\n")
    for command in (["stats"], ["frames"], ["timeline"], ["get", "0"], ["put", "x"]):
        result = invoke([command[0], path, *command[1:]])
        _assert_error_line(result, 4, "not a memvid capsule")


def test_random_file_and_empty_file(invoke: Invoke, tmp_path: Path) -> None:
    noise = tmp_path / "noise.mv2"
    noise.write_bytes(os.urandom(5000))
    empty = tmp_path / "empty.mv2"
    empty.touch()
    for path in (noise, empty):
        _assert_error_line(invoke(["stats", path]), 4, "not a memvid capsule")


def test_damaged_capsule_reads(invoke: Invoke, damaged: Path) -> None:
    _assert_error_line(invoke(["get", damaged, "mv2://big"]), 4, "checksum mismatch in frames block")
    result = invoke(["frames", damaged])
    assert result.exit_code == 4
    assert result.stderr.startswith("error: checksum mismatch in frames block at offset ")
    assert "Traceback" not in result.output
    # The intact frame before the damage can still be read.
    assert invoke(["get", damaged, "0"]).exit_code == 0


def test_verify_damaged_capsule(invoke: Invoke, damaged: Path) -> None:
    result = invoke(["verify", damaged])
    assert result.exit_code == 4
    lines = result.stdout.splitlines()
    assert lines[0].startswith("error at offset ")
    assert "checksum mismatch in frames block" in lines[0]
    assert lines[-1].startswith(f"{damaged}: ")
    assert " found (" in lines[-1]
    assert result.stderr == ""

    data = json.loads(invoke(["verify", damaged, "--json"]).stdout)
    assert data["ok"] is False
    assert data["findings"][0]["level"] == "error"
    assert isinstance(data["findings"][0]["offset"], int)


def test_verify_reports_a_file_that_does_not_open_as_a_finding(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "junk.mv2"
    path.write_bytes(b"\x00garbage" * 100)
    result = invoke(["verify", path])
    assert result.exit_code == 4
    assert result.stdout == (
        "error: not a memvid capsule: the file does not start with the .mv2 magic bytes\n"
        f"{path}: 1 problem found (0 commits, 0 blocks, 0 frames, 0 bytes checked)\n"
    )
    data = json.loads(invoke(["verify", path, "--json"]).stdout)
    assert data == {
        "path": str(path),
        "ok": False,
        "commits": 0,
        "blocks": 0,
        "frames": 0,
        "bytes": 0,
        "findings": [{"level": "error", "offset": None, "message": data["findings"][0]["message"]}],
    }
    assert "not a memvid capsule" in data["findings"][0]["message"]


def test_recover_a_damaged_capsule(invoke: Invoke, damaged: Path, tmp_path: Path) -> None:
    dest = tmp_path / "saved.mv2"
    result = invoke(["recover", damaged, dest])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("recovered 1 frame from commit 1 (")
    assert result.stdout.endswith(f"of {damaged} into {dest}; skipped 1 damaged newer commit\n")
    assert invoke(["verify", dest]).exit_code == 0
    assert json.loads(invoke(["get", dest, "0", "--json"]).stdout)["text"] == "small frame"


def test_recover_nothing_intact(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "junk.mv2"
    path.write_bytes(os.urandom(3000))
    _assert_error_line(invoke(["recover", path, tmp_path / "out.mv2"]), 4, "no intact commit found")
    assert not (tmp_path / "out.mv2").exists()


# -- locked: 5 ----------------------------------------------------------------------------


def test_put_while_another_writer_holds_the_lock(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as writer:
        result = invoke(["put", capsule, "blocked"])
        _assert_error_line(result, 5, "error: ")
        # Readers take no lock, so they still work.
        assert invoke(["stats", capsule]).exit_code == 0
        assert writer.pending == 0
    with Memvid.open(capsule, read_only=True) as mem:
        assert len(mem) == 3
    assert invoke(["put", capsule, "now free"]).exit_code == 0


# -- any other error: 1 -------------------------------------------------------------------


def test_os_error_is_one_line(invoke: Invoke, capsule: Path) -> None:
    # A path through a regular file: the OS error is reported without its "[Errno 20]" prefix.
    result = invoke(["stats", capsule / "inner.mv2"])
    _assert_error_line(result, 1, "Not a directory")
    assert "Errno" not in result.stderr


def test_invalid_text_is_error_one(invoke: Invoke, capsule: Path) -> None:
    # A lone surrogate cannot be stored as UTF-8; click passes it through from argv.
    result = invoke(["put", capsule, "bad \udc80 text"])
    _assert_error_line(result, 1, "text is not valid Unicode text")


def test_plain_os_error_is_one_line(invoke: Invoke, capsule: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: object, **kwargs: object) -> Memvid:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Memvid, "open", refuse)
    result = invoke(["frames", capsule])
    _assert_error_line(result, 1, f"error: Permission denied: {capsule}")
    assert result.stderr == f"error: Permission denied: {capsule}\n"


def test_version(invoke: Invoke) -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"memvid, version {__version__}\n"
