"""The durability battery's figures as a Markdown table, from the reports its tests write.

    python tests/durability/report.py                 # print the table of the last run's reports
    python tests/durability/report.py --run --write   # run the battery, then put the table in
                                                      # docs/explanation/durability.md
    MEMVID_SOAK=1 python tests/durability/report.py --run --write   # the soak size

Each test writes ``$MEMVID_DURABILITY_REPORT_DIR/<name>.json`` (default
``$TMPDIR/memvid-durability/``); ``--run`` points that at a fresh folder, runs
``pytest tests/durability``, and fails if the battery fails. ``--write`` replaces
the table between the ``figures`` markers of durability.md for the size the
reports were made at (fast or soak).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "explanation" / "durability.md"

Row = tuple[str, str, str, str]


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _truncation(r: dict[str, Any]) -> Row:
    errors = r["outcomes"].get("error", 0)
    return (
        "truncation at every byte offset (`test_truncation.py`)",
        f"{len(r['commit_ends'])} commits, {_n(r['file_bytes'])} bytes",
        f"{_n(r['offsets'])} offsets: {_n(errors)} cut inside the header or first commit (clean `MemvidError`), "
        f"the rest opened at exactly the longest complete commit; a writer then committed on {_n(r['writer_steps'])}",
        _n(r["failures"]),
    )


def _bitflip(r: dict[str, Any]) -> Row:
    return (
        "every single-bit flip (`test_bitflip.py`)",
        f"{r['commits']} commits with lexical and vector index blocks, {_n(r['file_bytes'])} bytes",
        f"{_n(r['bits_flipped'])} flips of {_n(r['bits_in_file'])} bits: {_n(r['detected_at_open'])} detected at open, "
        f"{_n(r['detected_at_read'])} at a read, {_n(r['detected_by_verify_only'])} by `verify()` only; "
        f"searches compared on {_n(r['flips_with_searches'])}",
        f"{_n(r['undetected'])} undetected, {_n(r['silent_wrong_reads'])} silent wrong reads, "
        f"{_n(r['other_exceptions'])} other exceptions",
    )


def _kill9(r: dict[str, Any]) -> Row:
    return (
        "`kill -9` during ingest (`test_kill9.py`)",
        f"{_n(r['trials'])} trials on {r['capsules']} capsules (up to {_n(r['max_file_bytes'])} bytes)",
        f"{_n(r['acknowledged_commits'])} acknowledged commits, all present; {_n(r['torn_tails'])} torn tails cut by "
        f"the next writer; {_n(r['unacknowledged_durable_commits'])} commits durable before their acknowledgement "
        f"was read; kills before the file existed: {_n(r['killed_before_create'])}",
        "0 lost, 0 partly visible, 0 unopenable",
    )


def _failpoints(r: dict[str, Any]) -> Row:
    k = r["storage_k"]
    return (
        "named failpoints (`test_failpoints.py`)",
        f"{len(r['sites'])} sites in create, open, commit, compaction, recover and storage",
        f"{_n(r['kill_trials'])} SIGKILL trials (every site; every k of {k.get('write', 0)} writes, "
        f"{k.get('fdatasync', 0)} fdatasyncs and {k.get('truncate', 0)} truncate of an open and a commit); "
        f"{_n(r['oserror_trials'])} `OSError`/`ENOSPC` trials: a `DurabilityError`, the handle poisoned, reopen at "
        "the last durable commit",
        "0",
    )


def _strace(r: dict[str, Any]) -> Row:
    kills = sum(v for key, v in r.items() if key.startswith("sigkill_") or key.startswith("create_sigkill_"))
    errors = sum(v for key, v in r.items() if key.startswith(("eio_", "enospc_")))
    return (
        "`strace` fault injection (`test_strace.py`)",
        "every k of one commit; of a create and its first commit",
        f"{_n(r.get('runs', 0))} runs: {_n(kills)} SIGKILLs at `pwrite64`/`fdatasync`/`linkat`/`fsync`, "
        f"{_n(errors)} `EIO`/`ENOSPC` failures: each a `DurabilityError`, no fsync retried, reopen at the last "
        "durable commit",
        "0",
    )


def _crashsim(r: dict[str, Any]) -> Row:
    return (
        "power loss, sector by sector (`test_crashsim.py`)",
        f"{_n(r['seeds'])} seeds",
        f"{_n(r['crashes'])} power losses ({_n(r['crashes_in_open'])} while opening) over {_n(r['syncs'])} syncs; "
        f"{_n(r['pieces_applied'])} pending sectors applied, {_n(r['pieces_dropped'])} dropped, "
        f"{_n(r['pieces_garbled'])} garbled; {_n(r['acknowledged_commits'])} acknowledged commits checked",
        f"{_n(r['failures'])} lost or damaged",
    )


def _sensitivity(r: dict[str, Any]) -> Row:
    return (
        "the same with syncs that do nothing",
        f"{_n(r['seeds'])} seeds",
        f"losses detected in {_n(r['losses_detected'])} (the harness can fail)",
        "as expected",
    )


def _timeline(r: dict[str, Any]) -> Row:
    return (
        "timeline state machine (`test_timeline_model.py`)",
        f"{_n(r['runs'])} runs",
        f"{_n(r['steps'])} steps: {_n(r['commits'])} commits, {_n(r['reopens'])} reopens, {_n(r['crashes'])} "
        f"power losses inside a commit ({_n(r.get('crashed_commits_kept', 0))} kept whole), {_n(r['as_of_checks'])} "
        "`at(...)` checks, every commit compared with the model at the end",
        "0",
    )


def _fuzz(r: dict[str, Any]) -> Row:
    cases = sum(v["cases"] for v in r.values())
    refused = sum(sum(n for k, n in v.items() if k.endswith("Error")) for v in r.values())
    slowest = max(v["slowest_s"] for v in r.values())
    rss = max(v["max_rss_mib"] for v in r.values())
    return (
        "hypothesis fuzzing (`test_fuzz.py`)",
        f"{len(r)} target and mode pairs (stale and recomputed checksums)",
        f"{_n(cases)} inputs, {_n(refused)} refused with a `MemvidError`, the rest read consistently; "
        f"slowest call {slowest} CPU s, peak {rss} MiB",
        "0 other exceptions, 0 crashes",
    )


def _malicious(r: dict[str, Any]) -> Row:
    return (
        "malicious inputs (`test_malicious.py`)",
        "named cases",
        f"{_n(r.get('cases', 0))} forged capsules (huge lengths, chain loops, zstd bombs, size mismatches, "
        f"NUL and lone surrogates, a forged HNSW blob, forged tantivy files refused by the vet "
        f"({_n(r.get('tantivy_forgeries_refused_by_vet', 0))}) and panics behind it "
        f"({_n(r.get('tantivy_panics_caught', 0))})): {_n(r.get('refused', 0))} refused, "
        f"{_n(r.get('ignored_as_torn', 0))} ignored as a torn tail, {_n(r.get('read', 0))} read consistently; "
        f"zstd bomb peak {r.get('bomb_rss_mib_the_256_MiB_limit', '?')} MiB",
        "0",
    )


def _lock(r: dict[str, Any]) -> Row:
    return (
        "lock after `kill -9` of the holder (`test_concurrency.py`)",
        f"{_n(r['kills'])} kills",
        f"next writer locked within {r['mean_ms']} ms on average, {r['max_ms']} ms at most (bar: 100 ms)",
        "0",
    )


def _races(r: dict[str, Any]) -> Row:
    return (
        "racing writers (`test_concurrency.py`)",
        f"{_n(r['races'])} races of {r['racers']} processes",
        f"exactly one winner each time; wins per process {', '.join(_n(w) for w in r['wins_per_racer'])}",
        "0",
    )


def _readers(r: dict[str, Any]) -> Row:
    readers = r["readers"]
    return (
        "readers while a writer appends",
        f"{_n(r['commits'])} commits, {_n(r['frames'])} frames",
        f"4 reader processes, one over memory maps: {_n(sum(x['reads'] for x in readers))} reads, each a committed "
        f"prefix; {_n(sum(x['rereads'] for x in readers))} re-reads of kept maps",
        "0 errors, 0 SIGBUS",
    )


def _golden(r: dict[str, Any]) -> Row:
    return (
        "golden capsules (`test_golden.py`)",
        ", ".join(r["capsules"]),
        "frames of every commit, timeline and search hits equal the stored expectation; a new commit appends",
        "0",
    )


ROWS: dict[str, Callable[[dict[str, Any]], Row]] = {
    "truncation": _truncation,
    "bitflip": _bitflip,
    "kill9": _kill9,
    "failpoints": _failpoints,
    "strace": _strace,
    "crashsim": _crashsim,
    "crashsim_sensitivity": _sensitivity,
    "timeline_model": _timeline,
    "fuzz": _fuzz,
    "malicious": _malicious,
    "lock_after_kill": _lock,
    "racing_writers": _races,
    "readers_and_mmap": _readers,
    "golden": _golden,
}


def report_dir() -> Path:
    return Path(os.environ.get("MEMVID_DURABILITY_REPORT_DIR") or Path(tempfile.gettempdir()) / "memvid-durability")


def table(folder: Path) -> tuple[str, bool]:
    """The Markdown table of the reports in ``folder`` and whether they are of the soak size."""
    lines = ["| test | size | figures | failures |", "|---|---|---|---|"]
    soak = False
    for name, row in ROWS.items():
        path = folder / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        soak = soak or bool(data.pop("soak", False))
        data.pop("seed", None)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row(data)) + " |")
    return "\n".join(lines) + "\n", soak


def write_doc(text: str, soak: bool) -> None:
    marker = "soak" if soak else "fast"
    begin, end = f"<!-- figures:{marker}:begin -->", f"<!-- figures:{marker}:end -->"
    doc = DOC.read_text()
    if begin not in doc or end not in doc:
        raise SystemExit(f"{DOC} has no {begin} ... {end} markers")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    stamp = f"Last run: {dt.date.today().isoformat()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.\n\n"
    DOC.write_text(f"{head}{begin}\n{stamp}{text}{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="store_true", help="run the battery first (into a fresh report folder)")
    parser.add_argument("--write", action="store_true", help="put the table into docs/explanation/durability.md")
    args = parser.parse_args()
    folder = report_dir()
    if args.run:
        folder = Path(tempfile.mkdtemp(prefix="memvid-durability-"))
        env = {**os.environ, "MEMVID_DURABILITY_REPORT_DIR": str(folder)}
        command = [sys.executable, "-m", "pytest", "tests/durability", "-q", "-p", "no:cacheprovider"]
        if subprocess.run(command, cwd=ROOT, env=env).returncode:
            raise SystemExit("the durability battery failed; no figures written")
    text, soak = table(folder)
    print(text, end="")
    if args.write:
        write_doc(text, soak)


if __name__ == "__main__":
    main()
