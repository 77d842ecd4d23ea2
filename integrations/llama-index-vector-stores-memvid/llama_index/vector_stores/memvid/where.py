"""LlamaIndex ``MetadataFilters`` as a memvid ``where=`` filter.

Every :class:`~llama_index.core.vector_stores.types.FilterOperator` and every
:class:`~llama_index.core.vector_stores.types.FilterCondition` (``and``, ``or``,
``not``, nested to any depth) has an exact counterpart in :mod:`memvid.filters`,
so memvid filters inside the index, in every search mode, instead of
over-fetching and dropping hits afterwards.

>>> from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters
>>> where = metadata_filters_to_where(
...     MetadataFilters(
...         filters=[
...             MetadataFilter(key="year", value=2020, operator=FilterOperator.GTE),
...             MetadataFilter(key="lang", value=["en", "fr"], operator=FilterOperator.IN),
...         ],
...         condition="or",
...     )
... )
>>> where
{'$or': [{'year': {'$gte': 2020}}, {'lang': {'$in': ['en', 'fr']}}]}

``not`` holds when none of its filters match, as in LlamaIndex's own
``SimpleVectorStore``:

>>> metadata_filters_to_where(MetadataFilters(filters=[MetadataFilter(key="draft", value=1)], condition="not"))
{'$not': {'$or': [{'draft': {'$eq': 1}}]}}

A key is a field of the node's metadata; a dot in it descends into a nested
mapping (``"author.name"``), as memvid's ``where=`` does.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

__all__ = ["metadata_filters_to_where"]

_SIMPLE = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.CONTAINS: "$contains",
}
# These take a list; a single value is read as a list of one.
_LISTS = {
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.ANY: "$any",
    FilterOperator.ALL: "$all",
}


def metadata_filters_to_where(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """The memvid ``where=`` mapping equal to ``filters``; ``None`` when there is nothing to filter.

    Raises :class:`ValueError` for an operator or condition this version does not know,
    or a text match whose value is not a string.
    """
    if filters is None or not filters.filters:
        return None
    return _filters(filters)


def _filters(filters: MetadataFilters) -> dict[str, Any]:
    parts = [_filters(f) if isinstance(f, MetadataFilters) else _one(f) for f in filters.filters]
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition == FilterCondition.NOT:
        return {"$not": {"$or": parts}}
    if len(parts) == 1:
        return parts[0]
    if condition == FilterCondition.AND:
        return {"$and": parts}
    if condition == FilterCondition.OR:
        return {"$or": parts}
    raise ValueError(f"MemvidVectorStore does not support the filter condition {condition.value!r}")


def _one(f: MetadataFilter) -> dict[str, Any]:
    op = FilterOperator(f.operator)
    if op == FilterOperator.IS_EMPTY:
        return {f.key: {"$empty": True}}
    if op in _SIMPLE:
        return {f.key: {_SIMPLE[op]: f.value}}
    if op in _LISTS:
        value = f.value if isinstance(f.value, list) else [f.value]
        return {f.key: {_LISTS[op]: value}}
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        if not isinstance(f.value, str):
            raise ValueError(f"the {op.value} filter on {f.key!r} needs a string value, not {f.value!r}")
        if op == FilterOperator.TEXT_MATCH_INSENSITIVE:
            return {f.key: {"$icontains": f.value}}
        # $contains alone would also match a list holding the value; $icontains holds
        # only for strings, so together they are a case-sensitive substring test.
        return {f.key: {"$contains": f.value, "$icontains": f.value}}
    raise ValueError(f"MemvidVectorStore does not support the filter operator {op.value!r}")
