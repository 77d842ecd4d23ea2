"""memvid._threads: the quick GIL hand-off around usearch's inserts."""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import pytest

import memvid.index.vec as vec_module
from memvid._threads import HANDOFF_INTERVAL_S, quick_gil_handoff


def test_the_switch_interval_is_short_inside_and_put_back_after() -> None:
    before = sys.getswitchinterval()
    with quick_gil_handoff():
        assert sys.getswitchinterval() == pytest.approx(HANDOFF_INTERVAL_S)
        with quick_gil_handoff():  # nested: the inner block leaves it short
            pass
        assert sys.getswitchinterval() == pytest.approx(HANDOFF_INTERVAL_S)
    assert sys.getswitchinterval() == before


def test_an_interval_already_shorter_is_kept() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(10e-6)
    try:
        with quick_gil_handoff():
            assert sys.getswitchinterval() == pytest.approx(10e-6)
        assert sys.getswitchinterval() == pytest.approx(10e-6)
    finally:
        sys.setswitchinterval(before)


def test_blocks_on_two_threads_put_it_back_once_both_left() -> None:
    before = sys.getswitchinterval()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with quick_gil_handoff():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(10)
    with quick_gil_handoff():
        pass
    assert sys.getswitchinterval() == pytest.approx(HANDOFF_INTERVAL_S)  # the other thread is still inside
    leave.set()
    t.join()
    assert sys.getswitchinterval() == before


def test_an_interval_set_meanwhile_by_someone_else_is_left_alone() -> None:
    before = sys.getswitchinterval()
    try:
        with quick_gil_handoff():
            sys.setswitchinterval(0.002)
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(before)


def test_an_error_inside_still_puts_it_back() -> None:
    before = sys.getswitchinterval()
    with pytest.raises(ValueError), quick_gil_handoff():
        raise ValueError("boom")
    assert sys.getswitchinterval() == before


def test_build_hnsw_inserts_with_the_quick_hand_off(monkeypatch: pytest.MonkeyPatch) -> None:
    index_cls = vec_module._usearch()
    seen: list[float] = []
    real_add = index_cls.add

    def add(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(sys.getswitchinterval())
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(index_cls, "add", add)
    vectors = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    before = sys.getswitchinterval()
    blob = vec_module.build_hnsw(np.arange(64, dtype=np.uint64), vec_module.normalise(vectors), "f16")
    assert blob and seen == [pytest.approx(HANDOFF_INTERVAL_S)]
    assert sys.getswitchinterval() == before


def test_commit_and_search_run_with_the_quick_hand_off(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import memvid.api as api_module
    import memvid.index as index_module
    from memvid import Memvid

    seen: dict[str, float] = {}
    update, run_search = index_module.IndexMaintainer.update, api_module.run_search

    def recording_update(self: Any, change: Any) -> Any:
        seen["commit"] = sys.getswitchinterval()
        return update(self, change)

    def recording_search(*args: Any, **kwargs: Any) -> Any:
        seen["search"] = sys.getswitchinterval()
        return run_search(*args, **kwargs)

    monkeypatch.setattr(index_module.IndexMaintainer, "update", recording_update)
    monkeypatch.setattr(api_module, "run_search", recording_search)
    before = sys.getswitchinterval()
    with Memvid.create(tmp_path / "c.mv2") as mem:
        mem.put("the quick hand-off")
        mem.commit()
        assert len(mem.search("quick")) == 1
    assert seen == {"commit": pytest.approx(HANDOFF_INTERVAL_S), "search": pytest.approx(HANDOFF_INTERVAL_S)}
    assert sys.getswitchinterval() == before
