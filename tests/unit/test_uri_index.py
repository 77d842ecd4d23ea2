"""The engine's uri index: every frame with a uri, found by it, across commits and merges."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from memvid import Memvid
from memvid.engine import snapshot as snapshot_module
from memvid.engine.snapshot import UriIndex


@pytest.mark.parametrize("nul_tails", [False, True])
def test_the_uri_index_answers_as_a_dict_would(monkeypatch: pytest.MonkeyPatch, nul_tails: bool) -> None:
    if nul_tails:  # numpy's byte strings drop trailing NULs: keys ending in them must still be found
        monkeypatch.setattr(
            snapshot_module, "_uri_key", lambda uri: hashlib.blake2b(uri.encode(), digest_size=4).digest() + bytes(12)
        )
    monkeypatch.setattr(snapshot_module, "URI_RECENT_MAX", 50)
    rng = random.Random(7)
    uris = [f"file:///doc{i}" for i in range(300)]
    truth: dict[str, list[int]] = {}
    first = [(rng.choice(uris), fid) for fid in range(1000)]
    for uri, fid in first:
        truth.setdefault(uri, []).append(fid)
    index = UriIndex(first)
    fid = 1000
    for _ in range(40):  # commits of 1-120 frames: some merge, some stay recent
        batch = []
        for _ in range(rng.randint(1, 120)):
            batch.append((rng.choice(uris), fid))
            truth.setdefault(batch[-1][0], []).append(fid)
            fid += 1
        index.add(batch)
        for uri in rng.sample(uris, 20):
            assert index.ids(uri) == truth.get(uri, [])
    assert all(index.ids(uri) == truth.get(uri, []) for uri in uris)
    assert index.ids("file:///never") == []


def test_uri_lookups_after_many_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_module, "URI_RECENT_MAX", 4)
    with Memvid.create(tmp_path / "c.mv2") as mem:
        for i in range(12):
            mem.put(f"v1 of {i}", uri=f"note:{i}")
        mem.commit()
        assert mem.get_by_uri("note:3").text == "v1 of 3"  # loads the index
        for round_ in range(2, 6):  # updates, each its own commit: the index takes them in
            for i in range(0, 12, round_):
                mem.update(f"note:{i}", text=f"v{round_} of {i}")
                mem.commit()
        mem.delete("note:5")
        mem.commit()
        expect = {i: max([1] + [r for r in range(2, 6) if i % r == 0]) for i in range(12)}
        for i in range(12):
            if i == 5:
                with pytest.raises(Exception, match="no live frame"):
                    mem.get_by_uri("note:5")
            else:
                assert mem.get_by_uri(f"note:{i}").text == f"v{expect[i]} of {i}"
    with Memvid.open(tmp_path / "c.mv2", read_only=True) as mem:  # built again from the capsule
        assert [mem.get_by_uri(f"note:{i}").text for i in (0, 7)] == ["v5 of 0", "v1 of 7"]
