"""Metadata filters (``where=``): the operator semantics, checked against a brute-force
evaluation, and exactness in every search mode and in ``frames()``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memvid import InvalidInputError, Memvid
from memvid.filters import compile_where, matches

META: dict[str, Any] = {
    "lang": "en",
    "year": 2021,
    "score": 0.5,
    "draft": False,
    "labels": ["db", "urgent"],
    "author": {"name": "Ada", "orcid": None},
    "empty": "",
    "v.2": "flat",
}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"lang": "en"}, True),
        ({"lang": "fr"}, False),
        ({"year": 2021.0}, True),
        ({"draft": 0}, False),  # bools are not numbers
        ({"draft": False}, True),
        ({"year": {"$gt": 2020, "$lte": 2021}}, True),
        ({"year": {"$gt": 2021}}, False),
        ({"year": {"$gt": "2000"}}, False),  # mixed types never match
        ({"lang": {"$gte": "a", "$lt": "f"}}, True),
        ({"lang": {"$in": ["fr", "en"]}}, True),
        ({"lang": {"$nin": ["fr", "en"]}}, False),
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": {"$ne": "x"}}, True),
        ({"missing": "x"}, False),
        ({"missing": {"$gt": 1}}, False),
        ({"missing": {"$exists": False}}, True),
        ({"lang": {"$exists": True}}, True),
        ({"labels": {"$contains": "db"}}, True),
        ({"labels": {"$contains": "ir"}}, False),
        ({"lang": {"$contains": "n"}}, True),
        ({"author.name": {"$icontains": "ad"}}, True),
        ({"author.name": "Ada"}, True),
        ({"v.2": "flat"}, True),  # a flat key with a dot wins over the path
        ({"v.3": "flat"}, False),
        ({"author.orcid": None}, True),
        ({"author.orcid": {"$empty": True}}, True),
        ({"empty": {"$empty": True}}, True),
        ({"missing": {"$empty": True}}, True),
        ({"labels": {"$empty": False}}, True),
        ({"labels": {"$all": ["db", "urgent"]}}, True),
        ({"labels": {"$all": ["db", "ir"]}}, False),
        ({"labels": {"$any": ["ir", "urgent"]}}, True),
        ({"lang": {"$any": ["de", "en"]}}, True),
        ({"labels": ["db", "urgent"]}, True),
        ({"$or": [{"lang": "fr"}, {"year": 2021}]}, True),
        ({"$and": [{"lang": "en"}, {"year": 1999}]}, False),
        ({"$not": {"lang": "en"}}, False),
        ({"$not": {"$or": [{"lang": "fr"}, {"year": 1999}]}}, True),
        ({}, True),
    ],
)
def test_operator_semantics(where: dict[str, Any], expected: bool) -> None:
    assert matches(where, META) is expected


@pytest.mark.parametrize(
    "where",
    [
        {"$nope": []},
        {"year": {"$between": [1, 2]}},
        {"year": {"$in": 2021}},
        {"year": {"$in": "abc"}},
        {"$or": []},
        {"$and": {"a": 1}},
        {"year": {"$gt": [1]}},
        {"year": {"$exists": "yes"}},
        {"name": {"$icontains": 3}},
        {"": 1},
        "not a mapping",
    ],
)
def test_malformed_filters_are_refused(where: Any) -> None:
    with pytest.raises(InvalidInputError):
        compile_where(where)


scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "c"]), st.booleans(), st.none())
metas = st.dictionaries(st.sampled_from(["x", "y", "z"]), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=3)


@st.composite
def leaf(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(["x", "y", "z"]))
    op = draw(st.sampled_from(["$eq", "$ne", "$gt", "$lt", "$in", "$nin", "$exists", "$contains"]))
    if op in ("$in", "$nin"):
        arg: Any = draw(st.lists(scalars, max_size=3))
    elif op == "$exists":
        arg = draw(st.booleans())
    elif op in ("$gt", "$lt"):
        arg = draw(st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b"])))
    else:
        arg = draw(scalars)
    return {key: {op: arg}}


_MISSING = object()


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _leaf(op: str, arg: Any, v: Any) -> bool:
    def num(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    present = v is not _MISSING
    same_kind = (num(v) and num(arg)) or (isinstance(v, str) and isinstance(arg, str))
    if op == "$eq":
        return present and _eq(v, arg)
    if op == "$ne":
        return not present or not _eq(v, arg)
    if op == "$gt":
        return present and same_kind and v > arg
    if op == "$lt":
        return present and same_kind and v < arg
    if op == "$in":
        return present and any(_eq(v, a) for a in arg)
    if op == "$nin":
        return not present or not any(_eq(v, a) for a in arg)
    if op == "$exists":
        return bool(present == arg)
    assert op == "$contains"
    return (isinstance(v, list) and any(_eq(x, arg) for x in v)) or (
        isinstance(v, str) and isinstance(arg, str) and arg in v
    )


def _reference(where: dict[str, Any], meta: dict[str, Any]) -> bool:
    """An independent, deliberately plain evaluation of the documented rules."""
    for key, spec in where.items():
        if key == "$and":
            ok = all(_reference(w, meta) for w in spec)
        elif key == "$or":
            ok = any(_reference(w, meta) for w in spec)
        elif key == "$not":
            ok = not _reference(spec, meta)
        else:
            ((op, arg),) = spec.items()
            ok = _leaf(op, arg, meta.get(key, _MISSING))
        if not ok:
            return False
    return True


filters = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"$not": x}, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(where=filters, meta=metas)
def test_agrees_with_a_plain_evaluation(where: dict[str, Any], meta: dict[str, Any]) -> None:
    assert matches(where, meta) is _reference(where, meta)


# -- in the capsule ---------------------------------------------------------------------


def _capsule(path: Path) -> tuple[Memvid, dict[int, dict[str, Any]]]:
    rng = np.random.default_rng(7)
    mem = Memvid.create(path)
    metas: dict[int, dict[str, Any]] = {}
    for i in range(300):
        meta = {"n": i, "parity": "even" if i % 2 == 0 else "odd", "group": {"id": i % 7}}
        if i % 5 == 0:
            meta["labels"] = ["five"] + (["ten"] if i % 10 == 0 else [])
        fid = mem.put(f"shared words document {i}", metadata=meta, embedding=rng.standard_normal(16))
        metas[fid] = meta
    mem.commit()
    return mem, metas


@pytest.mark.parametrize("mode", ["lex", "vec", "hybrid"])
@pytest.mark.parametrize(
    "where",
    [
        {"parity": "odd", "n": {"$lt": 40}},
        {"labels": {"$contains": "ten"}},
        {"$or": [{"group.id": 3}, {"n": {"$in": [0, 1, 2]}}]},
        {"n": {"$gte": 1000}},
    ],
)
def test_search_filters_exactly(tmp_path: Path, mode: str, where: dict[str, Any]) -> None:
    mem, metas = _capsule(tmp_path / "c.mv2")
    with mem:
        expected = {fid for fid, meta in metas.items() if matches(where, meta)}
        hits = mem.search("shared words", vector=np.ones(16), mode=mode, limit=300, where=where)
        assert {hit.frame_id for hit in hits} == expected  # every match found, nothing else
        assert {f.id for f in mem.frames(where=where)} == expected


def test_where_combines_with_other_filters_and_as_of(tmp_path: Path) -> None:
    mem, _ = _capsule(tmp_path / "c.mv2")
    with mem:
        mem.update(0, metadata={"n": 0, "parity": "changed"})
        mem.commit()
        assert not list(mem.frames(where={"n": 0, "parity": "even"}))
        old = mem.at(commit=-2)
        assert [f.metadata["parity"] for f in old.frames(where={"n": 0})] == ["even"]
        assert [h.frame.metadata["parity"] for h in mem.search("shared", where={"n": 0}, mode="lex")] == ["changed"]
        hits = mem.search("document", mode="lex", limit=50, where={"parity": "odd"}, uri_prefix="nothing")
        assert len(hits) == 0


def test_bad_where_in_search_is_an_error(tmp_path: Path) -> None:
    mem, _ = _capsule(tmp_path / "c.mv2")
    with mem, pytest.raises(InvalidInputError, match=r"\$regex"):
        mem.search("shared", where={"n": {"$regex": "x"}})


def test_one_handle_shared_by_threads(tmp_path: Path) -> None:
    """Writers and searchers on one handle from several threads: no error, nothing lost."""
    mem = Memvid.create(tmp_path / "t.mv2")
    errors: list[BaseException] = []
    per_thread = 40

    def writer(k: int) -> None:
        try:
            for i in range(per_thread):
                mem.put(f"thread {k} item {i} common", metadata={"k": k})
                if i % 10 == 9:
                    mem.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(30):
                mem.search("common", mode="lex", limit=5)
                len(mem)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mem.commit()
    assert errors == []
    for k in range(3):
        assert len(list(mem.frames(where={"k": k}))) == per_thread
    mem.close()
