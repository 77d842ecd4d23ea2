"""A hypothesis state machine of the timeline against a pure-Python model.

Steps: put, update, delete (by id or uri), commit, rollback, reopen (closing
commits or discards the pending changes), a power loss in the middle of a commit
(on ``crashsim.CrashStorage``), and checks: the handle's frames, ``get_by_uri``,
``len``, the timeline, and ``at(commit=...)`` of every earlier commit equal the
model's, which is a list of committed states (frame id -> text, uri) plus the
pending changes. A commit cut by the power loss is in the model only if the
reopened capsule shows it, and then whole.

No step has a precondition (a step with nothing to act on does nothing): what a power
loss keeps decides the model, so a precondition on the model would make hypothesis's
draws depend on how the writes tore, and a replay that tore differently would stop
drawing earlier (``FlakyStrategyDefinition``) instead of showing the failure.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from crashsim import Crash, CrashStorage
from durability_support import SOAK, write_report
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import memvid.api as api_module
import memvid.engine.writer as writer_module
from memvid import FrameNotFoundError, Memvid

State = dict[int, tuple[str, str | None]]
URIS = st.sampled_from([None, None, "mv2://a", "mv2://b"])
TEXTS = st.text(alphabet="abc xyz", min_size=0, max_size=12)

_GENESIS: list[bytes] = []
_FIGURES: dict[str, int] = {
    "runs": 0,
    "steps": 0,
    "commits": 0,
    "crashes": 0,
    "reopens": 0,
    "as_of_checks": 0,
    "crashed_commits_kept": 0,
}


def _genesis() -> bytes:
    """The bytes of a new capsule (Memvid.create writes a file), made once."""
    if not _GENESIS:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "g.mv2"
            Memvid.create(path).close()
            _GENESIS.append(path.read_bytes())
    return _GENESIS[0]


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    write_report("timeline_model", dict(_FIGURES))


class TimelineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Every run of the same steps must write the same bytes: a power loss tears writes by
        # sector with the seeded rng, so a timestamp that compresses a byte longer would change
        # what survives, and with it the model, and hypothesis would see a flaky strategy.
        clock = itertools.count(1_767_225_600_000_000, 1_000)
        self.clock = pytest.MonkeyPatch()
        for module in (api_module, writer_module):
            self.clock.setattr(module, "now_us", lambda: next(clock))
        self.storage = CrashStorage(_genesis(), crash_at=None)
        self.mem = Memvid.from_storage(self.storage)
        self.commits: list[State] = [{}]
        self.pending: State = {}  # new or changed frames not yet committed
        self.pending_dead: set[int] = set()
        self.rng = random.Random(0)
        _FIGURES["runs"] += 1

    @initialize(seed=st.integers(0, 2**32))
    def seed(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # -- the model ----------------------------------------------------------------------

    @property
    def head(self) -> State:
        return self.commits[-1]

    def live_targets(self) -> list[int]:
        committed = [fid for fid in self.head if fid not in self.pending_dead]
        return sorted({*committed, *self.pending})

    def _commit_model(self) -> None:
        if not self.pending and not self.pending_dead:
            return
        state = {fid: v for fid, v in self.head.items() if fid not in self.pending_dead}
        state.update(self.pending)
        self.commits.append(state)
        self.pending, self.pending_dead = {}, set()
        _FIGURES["commits"] += 1

    # -- steps ----------------------------------------------------------------------------

    @rule(text=TEXTS, uri=URIS)
    def put(self, text: str, uri: str | None) -> None:
        fid = self.mem.put(text, uri=uri)
        assert fid not in self.pending and all(fid not in state for state in self.commits)
        self.pending[fid] = (text, uri)
        _FIGURES["steps"] += 1

    @rule(pick=st.integers(0, 10**6), text=TEXTS)
    def update(self, pick: int, text: str) -> None:
        targets = self.live_targets()
        if not targets:
            return
        old = targets[pick % len(targets)]
        new = self.mem.update(old, text)
        if old in self.pending:
            assert new == old
            self.pending[old] = (text, self.pending[old][1])
        else:
            assert new not in self.pending and new > old
            self.pending[new] = (text, self.head[old][1])
            self.pending_dead.add(old)
        _FIGURES["steps"] += 1

    @rule(pick=st.integers(0, 10**6), by_uri=st.booleans())
    def delete(self, pick: int, by_uri: bool) -> None:
        targets = self.live_targets()
        if not targets:
            return
        fid = targets[pick % len(targets)]
        uri = self.pending[fid][1] if fid in self.pending else self.head[fid][1]
        if by_uri and uri is not None:
            victims = [t for t in targets if (self.pending.get(t) or self.head.get(t) or ("", None))[1] == uri]
            assert sorted(self.mem.delete(uri)) == sorted(victims)
        else:
            victims = [fid]
            assert self.mem.delete(fid) == (fid,)
        for v in victims:
            if self.pending.pop(v, None) is None:
                self.pending_dead.add(v)
        _FIGURES["steps"] += 1

    @rule()
    def commit(self) -> None:
        before = len(self.commits)
        result = self.mem.commit()
        self._commit_model()
        assert result.seq == len(self.commits) - 1
        assert (len(self.commits) > before) == bool(result.frame_ids or result.removed)
        _FIGURES["steps"] += 1

    @rule()
    def rollback(self) -> None:
        self.mem.rollback()
        self.pending, self.pending_dead = {}, set()
        _FIGURES["steps"] += 1

    @rule(commit_pending=st.booleans())
    def reopen(self, commit_pending: bool) -> None:
        self.mem.close(commit=commit_pending)
        if commit_pending:
            self._commit_model()
        else:
            self.pending, self.pending_dead = {}, set()
        self.storage = CrashStorage(self.storage.clean_image(), crash_at=None)
        self.mem = Memvid.from_storage(self.storage)
        _FIGURES["reopens"] += 1
        _FIGURES["steps"] += 1

    @rule(which=st.integers(1, 2))
    def crash_during_commit(self, which: int) -> None:
        if not self.pending and not self.pending_dead:
            return  # nothing to commit, so no sync to crash at
        self.storage.crash_at = self.storage.syncs + which
        try:
            self.mem.commit()
        except Crash:
            pass
        else:
            raise AssertionError("the commit did not reach the crashing sync")
        self.mem.close(commit=False)
        image, _ = self.storage.crash_image(self.rng)
        self.storage = CrashStorage(image, crash_at=None)
        self.mem = Memvid.from_storage(self.storage)
        head = self.mem.head.seq
        assert head in (len(self.commits) - 1, len(self.commits)), head
        if head == len(self.commits):
            self._commit_model()  # the cut commit reached the disk whole
            _FIGURES["crashed_commits_kept"] += 1
        else:
            self.pending, self.pending_dead = {}, set()
        _FIGURES["crashes"] += 1
        _FIGURES["steps"] += 1

    # -- checks ---------------------------------------------------------------------------

    @invariant()
    def reads_equal_the_model(self) -> None:
        got = {f.id: (f.text, f.uri) for f in self.mem.frames()}
        assert got == self.head
        assert len(self.mem) == len(self.head)
        assert self.mem.head.seq == len(self.commits) - 1
        for uri in ("mv2://a", "mv2://b"):
            ids = [fid for fid, (_, u) in self.head.items() if u == uri]
            try:
                assert self.mem.get_by_uri(uri).id == max(ids)
            except FrameNotFoundError:
                assert not ids

    @rule(pick=st.integers(0, 10**6))
    def as_of(self, pick: int) -> None:
        seq = pick % len(self.commits)
        view = self.mem.at(commit=seq)
        assert {f.id: (f.text, f.uri) for f in view.frames()} == self.commits[seq]
        timeline = self.mem.timeline()
        assert [c.seq for c in timeline] == list(range(len(self.commits)))
        _FIGURES["as_of_checks"] += 1

    def teardown(self) -> None:
        try:
            for seq, state in enumerate(self.commits):
                assert {f.id: (f.text, f.uri) for f in self.mem.at(commit=seq).frames()} == state
            report = self.mem.verify()
            assert not [f for f in report.findings if f.level != "warning"], report.findings
            self.mem.close(commit=False)
        finally:
            self.clock.undo()


TimelineMachine.TestCase.settings = settings(
    max_examples=200 if SOAK else 60,
    stateful_step_count=50 if SOAK else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_timeline_model = TimelineMachine.TestCase
