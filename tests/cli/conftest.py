"""Fixtures for the ``memvid`` command tests: a runner, and a capsule with a short history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from memvid import Memvid
from memvid.cli import main

Invoke = Callable[..., Result]


@pytest.fixture
def invoke() -> Invoke:
    """Run ``memvid ARGS`` in-process; ``result.stdout`` and ``result.stderr`` are kept apart."""
    runner = CliRunner()

    def run(args: Sequence[str | Path], input: str | bytes | None = None) -> Result:
        result = runner.invoke(main, [str(a) for a in args], input=input, prog_name="memvid")
        # A library error must never escape as a traceback: only click's own exits are allowed.
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


@pytest.fixture
def capsule(tmp_path: Path) -> Path:
    """Three commits after the genesis one:

    1. frame 0 "Alice prefers tea" (uri mv2://people/alice, tag person=alice, kind note)
    2. frame 1 "Bob takes the train" (title Bob, tag person=bob, timestamp 2024-05-01)
    3. frame 2 "Standup moved to 10:00" (uri mv2://meetings/standup, kind event), message "standup"
    """
    path = tmp_path / "notes.mv2"
    with Memvid.create(path) as mem:
        mem.put("Alice prefers tea", uri="mv2://people/alice", tags={"person": "alice"}, kind="note")
        mem.commit()
        mem.put("Bob takes the train", title="Bob", tags={"person": "bob"}, timestamp="2024-05-01T08:00:00Z")
        mem.commit()
        mem.put("Standup moved to 10:00", uri="mv2://meetings/standup", kind="event", metadata={"room": 4})
        mem.commit("standup")
    return path
