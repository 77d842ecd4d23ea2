"""LangChain metadata filters, translated into memvid's ``where=``.

LangChain stores document their filters as a dict in the MongoDB style
(PGVector, Chroma, the self-query translators): ``{"field": value}`` for
equality, ``{"field": {"$op": value}}`` for the operators, and ``$and`` /
``$or`` / ``$not`` to combine them. memvid's ``where=`` speaks the same
dialect, so most of a filter passes through as it is. Two operators that
LangChain users know and memvid does not are rewritten here:

- ``{"$between": [low, high]}`` becomes ``{"$gte": low, "$lte": high}``;
- ``{"$like": "%text%"}`` and ``{"$ilike": "%text%"}`` become ``$contains`` and
  ``$icontains``. Only that form (a substring) is supported; any other
  pattern raises ``ValueError`` rather than matching something else.

Every other operator goes to memvid unchanged, which checks it and raises
:class:`memvid.InvalidInputError` (a ``ValueError``) for one it does not know.

>>> to_where({"year": {"$between": [2020, 2024]}, "title": {"$ilike": "%memory%"}})
{'year': {'$gte': 2020, '$lte': 2024}, 'title': {'$icontains': 'memory'}}
>>> to_where({"$or": [{"lang": "en"}, {"lang": {"$in": ["fr", "de"]}}]})
{'$or': [{'lang': 'en'}, {'lang': {'$in': ['fr', 'de']}}]}
>>> to_where(None) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["to_where"]

_LOGICAL = ("$and", "$or")


def to_where(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The memvid ``where=`` for a LangChain ``filter`` (``None`` or ``{}``: no filter)."""
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise TypeError(f"filter must be a dict of metadata conditions, not {type(filter).__name__}")
    if not filter:
        return None
    return _clause(filter)


def _clause(clause: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in clause.items():
        if key in _LOGICAL:
            if not isinstance(value, list | tuple):
                raise ValueError(f"{key} takes a list of conditions, not {type(value).__name__}")
            out[key] = [_clause(_mapping(item, key)) for item in value]
        elif key == "$not":
            out[key] = _clause(_mapping(value, key))
        elif isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value):
            out[key] = _field(key, value)
        else:
            out[key] = value
    return out


def _field(name: str, ops: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op, operand in ops.items():
        if op == "$between":
            if not isinstance(operand, list | tuple) or len(operand) != 2:
                raise ValueError(f"{name}: $between takes [low, high], not {operand!r:.60}")
            out["$gte"], out["$lte"] = operand
        elif op in ("$like", "$ilike"):
            out["$contains" if op == "$like" else "$icontains"] = _substring(name, op, operand)
        else:
            out[op] = operand
    return out


def _substring(name: str, op: str, pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise ValueError(f"{name}: {op} takes a string pattern, not {type(pattern).__name__}")
    inner = pattern[1:-1] if len(pattern) >= 2 and pattern[0] == pattern[-1] == "%" else None
    if inner is None or "%" in inner or "_" in inner:
        raise ValueError(f"{name}: {op} supports only '%text%' (a substring match), not {pattern!r}")
    return inner


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} takes conditions as dicts, not {type(value).__name__}")
    return value
