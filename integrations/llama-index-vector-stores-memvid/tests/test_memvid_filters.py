"""Metadata filters: every FilterOperator and every FilterCondition, checked against
LlamaIndex's own reference semantics (``build_metadata_filter_fn``, what
``SimpleVectorStore`` filters with), in get_nodes, delete_nodes and every query mode."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn
from llama_index.vector_stores.memvid import MemvidVectorStore, metadata_filters_to_where

from memvid import InvalidInputError

F = FilterOperator

# Each key keeps one type, so LlamaIndex's reference never compares a str with an int.
METADATA: list[dict[str, Any]] = [
    {"year": 2019, "lang": "en", "labels": ["db", "urgent"], "score": 0.5, "title": "Intro to Databases", "note": ""},
    {"year": 2021, "lang": "fr", "labels": ["ml"], "score": 0.9, "title": "Apprentissage", "note": None},
    {"year": 2023, "lang": "en", "labels": [], "score": 0.1, "title": "Vector search in practice"},
    {"year": 2020, "lang": "de", "labels": ["db", "ml", "ops"], "score": 0.7, "title": "Datenbanken", "note": "x"},
    {"lang": "en", "labels": ["ops"], "score": 0.3, "title": "untitled DATABASE notes"},
    {"year": 2025, "labels": ["urgent"], "title": "Release plan"},
]

CASES: list[tuple[str, Any, FilterOperator]] = [
    ("lang", "en", F.EQ),
    ("year", 2021, F.EQ),
    ("score", 0.5, F.EQ),
    ("lang", "en", F.NE),
    ("year", 2021, F.NE),
    ("year", 2020, F.GT),
    ("score", 0.5, F.GT),
    ("year", 2020, F.GTE),
    ("year", 2021, F.LT),
    ("score", 0.3, F.LT),
    ("year", 2021, F.LTE),
    ("title", "D", F.GT),
    ("lang", ["en", "de"], F.IN),
    ("year", [2019, 2025], F.IN),
    ("lang", ["en"], F.NIN),
    ("year", [2019, 2020], F.NIN),
    ("labels", ["db", "urgent"], F.ANY),
    ("labels", ["nothing"], F.ANY),
    ("labels", ["db", "ml"], F.ALL),
    ("labels", ["ops"], F.ALL),
    ("labels", "db", F.CONTAINS),
    ("labels", "ops", F.CONTAINS),
    ("title", "Data", F.TEXT_MATCH),
    ("title", "data", F.TEXT_MATCH),
    ("title", "data", F.TEXT_MATCH_INSENSITIVE),
    ("title", "VECTOR", F.TEXT_MATCH_INSENSITIVE),
    ("note", None, F.IS_EMPTY),
    ("labels", None, F.IS_EMPTY),
    ("year", None, F.IS_EMPTY),
]


def _vector(i: int) -> list[float]:
    return [1.0, i / 10.0, 0.5]


@pytest.fixture
def store(capsule: Path) -> MemvidVectorStore:
    store = MemvidVectorStore(capsule)
    nodes = [
        TextNode(id_=f"n{i}", text=f"document {i} {m.get('title', '')}", metadata=m, embedding=_vector(i))
        for i, m in enumerate(METADATA)
    ]
    store.add(nodes)
    yield store
    store.close()


def _expected(filters: MetadataFilters) -> set[str]:
    return {f"n{i}" for i, meta in enumerate(METADATA) if _reference(filters, meta)}


def _reference(filters: MetadataFilters, meta: dict[str, Any]) -> bool:
    """LlamaIndex's own evaluation of a (possibly nested) filter on one node's metadata."""
    results = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            results.append(_reference(f, meta))
        else:
            one = MetadataFilters(filters=[f])
            results.append(build_metadata_filter_fn(lambda _id: meta, one)("node"))
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return all(results)
    if condition == FilterCondition.OR:
        return any(results)
    return not any(results)


def _ids_all_modes(store: MemvidVectorStore, filters: MetadataFilters) -> dict[str, set[str]]:
    k = len(METADATA) + 5
    vec = VectorStoreQuery(query_embedding=[1.0, 0.2, 0.5], similarity_top_k=k, filters=filters)
    text = VectorStoreQuery(query_str="document", mode="text_search", similarity_top_k=k, filters=filters)
    hybrid = VectorStoreQuery(
        query_str="document", query_embedding=[1.0, 0.2, 0.5], mode="hybrid", similarity_top_k=k, filters=filters
    )
    weighted = VectorStoreQuery(
        query_str="document",
        query_embedding=[1.0, 0.2, 0.5],
        mode="hybrid",
        alpha=0.3,
        similarity_top_k=k,
        filters=filters,
    )
    return {
        "get_nodes": {n.node_id for n in store.get_nodes(filters=filters)},
        "vector": set(store.query(vec).ids or []),
        "text_search": set(store.query(text).ids or []),
        "hybrid": set(store.query(hybrid).ids or []),
        "hybrid_weighted": set(store.query(weighted).ids or []),
    }


def test_the_cases_cover_every_operator_this_llama_index_has() -> None:
    assert {op for _, _, op in CASES} == set(FilterOperator)


@pytest.mark.parametrize(("key", "value", "op"), CASES, ids=[f"{k}-{o.name}-{v}" for k, v, o in CASES])
def test_each_operator_matches_llama_index_semantics(
    store: MemvidVectorStore, key: str, value: Any, op: FilterOperator
) -> None:
    filters = MetadataFilters(filters=[MetadataFilter(key=key, value=value, operator=op)])
    expected = _expected(filters)
    for where, got in _ids_all_modes(store, filters).items():
        assert got == expected, (where, metadata_filters_to_where(filters))


@pytest.mark.parametrize("condition", list(FilterCondition))
def test_conditions_combine_filters(store: MemvidVectorStore, condition: FilterCondition) -> None:
    filters = MetadataFilters(
        filters=[
            MetadataFilter(key="lang", value="en"),
            MetadataFilter(key="year", value=2022, operator=F.GTE),
        ],
        condition=condition,
    )
    expected = _expected(filters)
    assert expected and expected != {f"n{i}" for i in range(len(METADATA))}
    for where, got in _ids_all_modes(store, filters).items():
        assert got == expected, where


def test_nested_filters(store: MemvidVectorStore) -> None:
    filters = MetadataFilters(
        filters=[
            MetadataFilters(
                filters=[
                    MetadataFilter(key="labels", value="db", operator=F.CONTAINS),
                    MetadataFilter(key="lang", value="en"),
                ],
                condition="or",
            ),
            MetadataFilters(filters=[MetadataFilter(key="year", value=2020, operator=F.LTE)], condition="not"),
        ],
        condition="and",
    )
    assert _expected(filters) == {"n2", "n4"}
    for where, got in _ids_all_modes(store, filters).items():
        assert got == {"n2", "n4"}, where


def _random_filters(rng: random.Random, depth: int) -> MetadataFilters:
    parts: list[MetadataFilter | MetadataFilters] = []
    for _ in range(rng.randint(1, 3)):
        if depth > 0 and rng.random() < 0.35:
            parts.append(_random_filters(rng, depth - 1))
        else:
            key, value, op = rng.choice(CASES)
            parts.append(MetadataFilter(key=key, value=value, operator=op))
    return MetadataFilters(filters=parts, condition=rng.choice(list(FilterCondition)))


def test_random_filter_trees_agree_with_the_reference(store: MemvidVectorStore) -> None:
    rng = random.Random(20240601)
    seen: set[frozenset[str]] = set()
    for _ in range(60):
        filters = _random_filters(rng, depth=2)
        expected = _expected(filters)
        seen.add(frozenset(expected))
        assert {n.node_id for n in store.get_nodes(filters=filters)} == expected, metadata_filters_to_where(filters)
        query = VectorStoreQuery(query_embedding=[1.0, 0.2, 0.5], similarity_top_k=10, filters=filters)
        assert set(store.query(query).ids or []) == expected
    assert len(seen) > 10  # the trees really select different sets


def test_filters_select_what_delete_nodes_removes(store: MemvidVectorStore) -> None:
    filters = MetadataFilters(filters=[MetadataFilter(key="labels", value=["ml"], operator=F.ANY)])
    store.delete_nodes(filters=filters)
    assert {n.node_id for n in store.get_nodes()} == {"n0", "n2", "n4", "n5"}


def test_empty_filters_restrict_nothing(store: MemvidVectorStore) -> None:
    assert metadata_filters_to_where(MetadataFilters(filters=[])) is None
    assert len(store.get_nodes(filters=MetadataFilters(filters=[]))) == len(METADATA)


def test_text_match_needs_a_string() -> None:
    with pytest.raises(ValueError, match="string"):
        metadata_filters_to_where(MetadataFilters(filters=[MetadataFilter(key="a", value=3, operator=F.TEXT_MATCH)]))


def test_a_bad_key_is_a_clear_error(store: MemvidVectorStore) -> None:
    with pytest.raises(InvalidInputError):
        store.get_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="$where", value=1)]))
