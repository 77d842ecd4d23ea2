"""to_where: LangChain's filter dialect into memvid's."""

from __future__ import annotations

import pytest
from langchain_memvid_capsule import to_where

from memvid.filters import matches


def test_memvid_operators_pass_through_unchanged() -> None:
    where = {
        "lang": "en",
        "year": {"$gte": 2020, "$lt": 2025},
        "$or": [{"topic": "db"}, {"labels": {"$contains": "urgent"}}],
        "$not": {"draft": True},
        "author": {"name": "ada"},  # a literal mapping (no operators) is equality
    }
    assert to_where(where) == where


def test_rewritten_operators_mean_the_same_to_memvid() -> None:
    meta = {"year": 2022, "title": "Memory for Agents"}
    assert matches(to_where({"year": {"$between": [2020, 2022]}}), meta)
    assert not matches(to_where({"year": {"$between": [2023, 2024]}}), meta)
    assert matches(to_where({"title": {"$like": "%for%"}}), meta)
    assert not matches(to_where({"title": {"$like": "%memory%"}}), meta)
    assert matches(to_where({"title": {"$ilike": "%memory%"}}), meta)
    nested = to_where({"$and": [{"$or": [{"year": {"$between": [2000, 2001]}}, {"title": {"$ilike": "%AGENTS%"}}]}]})
    assert nested == {"$and": [{"$or": [{"year": {"$gte": 2000, "$lte": 2001}}, {"title": {"$icontains": "AGENTS"}}]}]}
    assert matches(nested, meta)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ({"t": {"$like": "abc%"}}, ValueError, "only '%text%'"),
        ({"t": {"$like": "%a_c%"}}, ValueError, "only '%text%'"),
        ({"t": {"$ilike": 3}}, ValueError, "string pattern"),
        ({"y": {"$between": 5}}, ValueError, r"\[low, high\]"),
        ({"$and": {"a": 1}}, ValueError, "takes a list"),
        ({"$or": [1]}, ValueError, "as dicts"),
        ({"$not": [1]}, ValueError, "as dicts"),
    ],
)
def test_bad_filters(bad: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        to_where(bad)


def test_no_filter() -> None:
    assert to_where(None) is None
    assert to_where({}) is None
    with pytest.raises(TypeError):
        to_where([("a", 1)])  # type: ignore[arg-type]
