"""LangGraph's own checkpointer conformance suite (langgraph-checkpoint-conformance), every capability."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport
from langgraph.checkpoint.memvid import MemvidSaver

pytestmark = pytest.mark.anyio


async def _run(tmp_path: Path) -> CapabilityReport:
    counter = iter(range(1_000))

    @checkpointer_test(name="MemvidSaver")
    async def memvid_saver() -> AsyncIterator[MemvidSaver]:
        with MemvidSaver.from_path(tmp_path / f"conformance-{next(counter)}.mv2") as saver:
            yield saver

    return await validate(memvid_saver)


async def test_conformance_every_capability(tmp_path: Path) -> None:
    report = await _run(tmp_path)
    report.print_report()
    failures = [f for r in report.results.values() for f in r.failures]
    assert failures == []
    # Base and extended capabilities are all implemented and pass: nothing skipped.
    assert report.conformance_level() == "FULL"
    assert all(r.detected and r.passed for r in report.results.values()), report.to_dict()
    assert sum(r.tests_passed for r in report.results.values()) >= 80
