"""Each ``memvid`` command, in human and ``--json`` output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from memvid import Memvid

Invoke = Callable[..., Result]


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


# -- init -------------------------------------------------------------------------------


def test_init_creates_an_empty_capsule(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "new.mv2"
    result = invoke(["init", path])
    assert result.exit_code == 0, result.output
    with Memvid.open(path, read_only=True) as mem:
        assert len(mem) == 0
        uuid = mem.uuid
    assert result.stdout == f"created {path} (capsule {uuid})\n"
    assert result.stderr == ""


def test_init_json_prints_stats(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke(["init", tmp_path / "new.mv2", "--json"])
    assert result.exit_code == 0
    data = _json(result)
    assert isinstance(data, dict)
    assert data["frames"] == 0
    assert data["commit_seq"] == 0


def test_init_refuses_an_existing_file_unless_overwrite(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["init", capsule])
    assert result.exit_code == 1
    assert result.stderr == f"error: {capsule} already exists (pass --overwrite to replace it)\n"
    assert result.stdout == ""
    assert invoke(["init", capsule, "--overwrite"]).exit_code == 0
    with Memvid.open(capsule, read_only=True) as mem:
        assert len(mem) == 0


# -- put --------------------------------------------------------------------------------


def test_put_text_argument_commits_once(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["put", capsule, "Carol likes jazz", "--title", "Carol", "-m", "carol"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("added frame 3 in commit 4 (")
    with Memvid.open(capsule, read_only=True) as mem:
        frame = mem.get(3)
        head = mem.timeline()[-1]
    assert frame.text == "Carol likes jazz"
    assert frame.title == "Carol"
    assert (head.seq, head.message, head.added) == (4, "carol", 1)
    assert result.stdout == f"added frame 3 in commit 4 ({head.id[:12]})\n"


def test_put_every_option(invoke: Invoke, capsule: Path) -> None:
    result = invoke(
        [
            "put",
            capsule,
            "Quarterly numbers",
            "--uri",
            "mv2://reports/q1",
            "--tag",
            "team=finance",
            "--tag",
            "year=2024",
            "--kind",
            "report",
            "--timestamp",
            "2024-04-01T12:00:00+02:00",
            "--metadata",
            '{"pages": 12, "draft": false}',
        ]
    )
    assert result.exit_code == 0, result.output
    with Memvid.open(capsule, read_only=True) as mem:
        frame = mem.get_by_uri("mv2://reports/q1")
    assert dict(frame.tags) == {"team": "finance", "year": "2024"}
    assert frame.kind == "report"
    assert frame.timestamp is not None and frame.timestamp.isoformat() == "2024-04-01T10:00:00+00:00"
    assert dict(frame.metadata) == {"pages": 12, "draft": False}


def test_put_naive_timestamp_is_utc(invoke: Invoke, capsule: Path) -> None:
    assert invoke(["put", capsule, "x", "--timestamp", "2024-04-01 12:00"]).exit_code == 0
    with Memvid.open(capsule, read_only=True) as mem:
        frame = mem.get(3)
    assert frame.timestamp is not None and frame.timestamp.isoformat() == "2024-04-01T12:00:00+00:00"


def test_put_json(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["put", capsule, "hello", "--json"])
    assert result.exit_code == 0
    data = _json(result)
    with Memvid.open(capsule, read_only=True) as mem:
        head = mem.timeline()[-1]
    assert data == {"id": 3, "commit_seq": 4, "commit_id": head.id, "commit_time": head.time.isoformat()}


def test_put_reads_stdin_when_no_text(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["put", capsule, "--uri", "mv2://stdin"], input="from a pipe\nsecond line\n")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    with Memvid.open(capsule, read_only=True) as mem:
        frame = mem.get_by_uri("mv2://stdin")
    assert frame.text == "from a pipe\nsecond line\n"
    assert frame.payload is None


def test_put_dash_reads_stdin(invoke: Invoke, capsule: Path) -> None:
    assert invoke(["put", capsule, "-"], input="dash").exit_code == 0
    with Memvid.open(capsule, read_only=True) as mem:
        assert mem.get(3).text == "dash"


def test_put_file_utf8_is_text(invoke: Invoke, capsule: Path, tmp_path: Path) -> None:
    source = tmp_path / "note.md"
    source.write_text("# Café\n\nnotes ✓\n", encoding="utf-8")
    result = invoke(["put", capsule, "--file", source, "--kind", "markdown"])
    assert result.exit_code == 0, result.output
    with Memvid.open(capsule, read_only=True) as mem:
        frame = mem.get(3)
    assert frame.text == "# Café\n\nnotes ✓\n"
    assert frame.payload is None
    assert frame.kind == "markdown"


def test_put_file_binary_is_payload(invoke: Invoke, capsule: Path, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    source = tmp_path / "blob.bin"
    source.write_bytes(data)
    result = invoke(["put", capsule, "-f", source, "--title", "blob", "--tag", "type=bin"])
    assert result.exit_code == 0, result.output
    with Memvid.open(capsule, read_only=True) as mem:
        frame = mem.get(3)
    assert frame.payload == data
    assert frame.text == ""
    assert frame.title == "blob"
    assert dict(frame.tags) == {"type": "bin"}
    shown = invoke(["get", capsule, "3"])
    assert "payload   1024 bytes (payload_hex in --json)" in shown.stdout
    assert bytes.fromhex(_json(invoke(["get", capsule, "3", "--json"]))["payload_hex"]) == data


def test_put_binary_stdin_is_payload(invoke: Invoke, capsule: Path) -> None:
    assert invoke(["put", capsule], input=b"\xff\xfe\x00binary").exit_code == 0
    with Memvid.open(capsule, read_only=True) as mem:
        assert mem.get(3).payload == b"\xff\xfe\x00binary"


# -- get --------------------------------------------------------------------------------


def test_get_by_id(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule, read_only=True) as mem:
        frame = mem.get(0)
    result = invoke(["get", capsule, "0"])
    assert result.exit_code == 0
    created = frame.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.stdout == (
        "id        0\n"
        f"created   {created}\n"
        "uri       mv2://people/alice\n"
        "title     -\n"
        "kind      note\n"
        "tag       person=alice\n"
        f"checksum  {frame.checksum}\n"
        "\n"
        "Alice prefers tea\n"
    )


def test_get_shows_timestamp_and_metadata(invoke: Invoke, capsule: Path) -> None:
    out = invoke(["get", capsule, "1"]).stdout
    assert "timestamp  2024-05-01T08:00:00Z\n" in out
    assert "title      Bob\n" in out
    out = invoke(["get", capsule, "2"]).stdout
    assert 'metadata  {"room": 4}\n' in out


def test_get_by_uri(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["get", capsule, "mv2://meetings/standup"])
    assert result.exit_code == 0
    assert result.stdout.startswith("id        2\n")
    assert result.stdout.endswith("\nStandup moved to 10:00\n")


def test_get_uri_flag_forces_a_digit_uri(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as mem:
        mem.put("named by digits", uri="42")
    assert invoke(["get", capsule, "42"]).exit_code == 3
    result = invoke(["get", capsule, "42", "--uri"])
    assert result.exit_code == 0
    assert result.stdout.endswith("\nnamed by digits\n")


def test_get_json_is_frame_to_dict(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["get", capsule, "mv2://people/alice", "--json"])
    assert result.exit_code == 0
    with Memvid.open(capsule, read_only=True) as mem:
        expected = mem.get(0).to_dict()
    assert _json(result) == expected


def test_get_as_of(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as mem:
        mem.update(0, "Alice prefers coffee")
    now = invoke(["get", capsule, "mv2://people/alice", "--json"])
    assert _json(now)["text"] == "Alice prefers coffee"
    before = invoke(["get", capsule, "mv2://people/alice", "--as-of", "-2", "--json"])
    assert _json(before)["text"] == "Alice prefers tea"
    assert invoke(["get", capsule, "0"]).exit_code == 3  # superseded at the head
    assert invoke(["get", capsule, "0", "--as-of", "3"]).exit_code == 0


# -- frames -----------------------------------------------------------------------------


def test_frames_lists_live_frames(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["frames", capsule])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("0  ") and lines[0].endswith("  mv2://people/alice  Alice prefers tea")
    assert lines[1] == "1  2024-05-01T08:00:00Z  Bob  Bob takes the train"
    assert lines[2].endswith("  mv2://meetings/standup  Standup moved to 10:00")


def test_frames_preview_is_one_short_line(invoke: Invoke, capsule: Path) -> None:
    invoke(["put", capsule, "word " * 40 + "\nnext line"])
    line = invoke(["frames", capsule, "--limit", "4"]).stdout.splitlines()[3]
    preview = line.split("  ", 3)[3]
    assert len(preview) == 60
    assert preview.endswith("...")
    assert preview.startswith("word word")


def test_frames_json(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["frames", capsule, "--json"])
    assert result.exit_code == 0
    data = _json(result)
    with Memvid.open(capsule, read_only=True) as mem:
        expected = [frame.to_dict() for frame in mem.frames()]
    assert data == expected


def test_frames_json_empty_is_an_empty_array(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["frames", capsule, "--kind", "nothing", "--json"])
    assert result.exit_code == 0
    assert result.stdout == "[]\n"


def test_frames_filters(invoke: Invoke, capsule: Path) -> None:
    def ids(*args: str) -> list[int]:
        result = invoke(["frames", capsule, *args, "--json"])
        assert result.exit_code == 0, result.output
        return [frame["id"] for frame in _json(result)]

    assert ids() == [0, 1, 2]
    assert ids("--kind", "note") == [0]
    assert ids("--tag", "person=bob") == [1]
    assert ids("--tag", "person=bob", "--kind", "note") == []
    assert ids("--uri-prefix", "mv2://people/") == [0]
    assert ids("--until", "2025-01-01") == [1]
    assert ids("--since", "2025-01-01") == [0, 2]
    assert ids("--since", "2024-05-01T08:00:00Z", "--until", "2024-05-01T08:00:01Z") == [1]
    assert ids("--limit", "2") == [0, 1]
    assert ids("--limit", "0") == []


def test_frames_as_of(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule, read_only=True) as mem:
        first = mem.timeline()[1].id
    assert len(invoke(["frames", capsule, "--as-of", "1"]).stdout.splitlines()) == 1
    assert len(invoke(["frames", capsule, "--as-of", "-2"]).stdout.splitlines()) == 2
    assert len(invoke(["frames", capsule, "--as-of", "0"]).stdout.splitlines()) == 0
    by_id = invoke(["frames", capsule, "--as-of", first[:8].upper(), "--json"])
    assert [f["id"] for f in _json(by_id)] == [0]


# -- timeline ---------------------------------------------------------------------------


def test_timeline_table(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule, read_only=True) as mem:
        commits = mem.timeline()
    result = invoke(["timeline", capsule])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "seq  id            time                  added  removed  frames  message"
    assert len(lines) == 5
    when = commits[3].time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert lines[4] == f"  3  {commits[3].id[:12]}  {when}      1        0       3  standup"
    assert lines[1].endswith("      0        0       0  create")
    assert lines[2].endswith("      1        0       1")


def test_timeline_limit_keeps_the_newest(invoke: Invoke, capsule: Path) -> None:
    lines = invoke(["timeline", capsule, "--limit", "2"]).stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["seq", "2", "3"]
    assert invoke(["timeline", capsule, "--limit", "0", "--json"]).stdout == "[]\n"


def test_timeline_json(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["timeline", capsule, "--json"])
    with Memvid.open(capsule, read_only=True) as mem:
        expected = [c.to_dict() for c in mem.timeline()]
    assert _json(result) == expected
    assert [c["message"] for c in expected] == ["create", None, None, "standup"]


# -- stats ------------------------------------------------------------------------------


def test_stats(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["stats", capsule])
    assert result.exit_code == 0
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert fields["frames"] == "3"
    assert fields["commit_seq"] == "3"
    assert fields["embedding_dim"] == "-"
    assert fields["path"] == str(capsule)


def test_stats_json(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["stats", capsule, "--json"])
    with Memvid.open(capsule, read_only=True) as mem:
        expected = mem.stats().to_dict()
    assert _json(result) == expected


# -- verify -----------------------------------------------------------------------------


def test_verify_ok(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["verify", capsule])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{capsule}: ok (4 commits, ")
    assert result.stdout.endswith(" bytes checked)\n")


def test_verify_json_ok(invoke: Invoke, capsule: Path) -> None:
    data = _json(invoke(["verify", capsule, "--json"]))
    assert isinstance(data, dict)
    assert data["ok"] is True
    assert data["path"] == str(capsule)
    assert data["commits"] == 4
    assert data["frames"] == 3
    assert data["findings"] == []


# -- recover ----------------------------------------------------------------------------


def test_recover_an_intact_capsule(invoke: Invoke, capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy.mv2"
    result = invoke(["recover", capsule, dest])
    assert result.exit_code == 0, result.output
    with Memvid.open(capsule, read_only=True) as mem:
        head = mem.timeline()[-1].id
    assert result.stdout == f"recovered 3 frames from commit 3 ({head[:12]}) of {capsule} into {dest}\n"
    with Memvid.open(dest, read_only=True) as mem:
        assert [f.text for f in mem.frames()] == ["Alice prefers tea", "Bob takes the train", "Standup moved to 10:00"]


def test_recover_json_and_overwrite(invoke: Invoke, capsule: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy.mv2"
    dest.write_bytes(b"old")
    refused = invoke(["recover", capsule, dest, "--json"])
    assert refused.exit_code == 1
    assert refused.stderr == f"error: {dest} already exists (pass --overwrite to replace it)\n"
    assert dest.read_bytes() == b"old"
    result = invoke(["recover", capsule, dest, "--overwrite", "--json"])
    assert result.exit_code == 0
    data = _json(result)
    assert isinstance(data, dict)
    assert (data["source"], data["dest"], data["source_seq"], data["frames"]) == (str(capsule), str(dest), 3, 3)
    assert data["skipped_commits"] == 0
