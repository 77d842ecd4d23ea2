"""Metadata filters: the ``where=`` of :meth:`Memvid.search` and :meth:`Memvid.frames`.

A filter is a mapping in the MongoDB style that Chroma and LangChain users know.
Keys are metadata field paths (``"a.b"`` is the key ``"a.b"`` if the metadata
has one, else descends into nested mappings) or the
logical operators ``$and``, ``$or`` and ``$not``; a value is either a literal
(equality) or a mapping of field operators, all of which must hold.

>>> meta = {"lang": "en", "year": 2021, "labels": ["db", "urgent"], "author": {"name": "ada"}}
>>> matches({"lang": "en", "year": {"$gte": 2020, "$lt": 2025}}, meta)
True
>>> matches({"$or": [{"author.name": "bob"}, {"labels": {"$contains": "urgent"}}]}, meta)
True
>>> matches({"$not": {"lang": {"$in": ["en", "fr"]}}}, meta)
False
>>> matches({"draft": {"$exists": False}}, meta)
True

A field that is missing matches only ``$ne``, ``$nin``, ``$exists: false`` and
``$empty: true``. Comparisons never raise on mixed types: ``3 > "a"`` is simply
not a match. Booleans are not numbers (``True`` does not equal ``1``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from memvid.errors import InvalidInputError

__all__ = ["Predicate", "compile_where", "matches", "where_key"]

Predicate = Callable[[Mapping[str, Any]], bool]

_MISSING: Final = object()
_MAX_DEPTH: Final = 32
_FIELD_OPS: Final = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}
    | {"$contains", "$icontains", "$all", "$any", "$empty"}
)


def compile_where(where: Mapping[str, Any]) -> Predicate:
    """Check ``where`` and return a predicate over a frame's metadata mapping.
    Raises :class:`~memvid.errors.InvalidInputError` naming the first problem."""
    return _compile(where, 0)


def matches(where: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` (``None`` is an empty mapping) passes the filter ``where``."""
    return compile_where(where)(metadata or {})


def where_key(where: Mapping[str, Any]) -> str:
    """A canonical text of a (valid) filter, for caching its results."""
    return json.dumps(where, sort_keys=True, separators=(",", ":"), default=repr)


def _compile(where: Any, depth: int) -> Predicate:
    if depth > _MAX_DEPTH:
        raise InvalidInputError(f"where: nested deeper than {_MAX_DEPTH} levels")
    if not isinstance(where, Mapping):
        raise InvalidInputError(f"where must be a mapping, not {type(where).__name__}")
    parts: list[Predicate] = []
    for key, value in where.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"where: keys must be non-empty strings, not {key!r}")
        if key in ("$and", "$or"):
            if not isinstance(value, Sequence) or isinstance(value, str | bytes) or not value:
                raise InvalidInputError(f"where: {key} takes a non-empty list of filters")
            subs = [_compile(sub, depth + 1) for sub in value]
            parts.append(_all_of(subs) if key == "$and" else _any_of(subs))
        elif key == "$not":
            parts.append(_negate(_compile(value, depth + 1)))
        elif key.startswith("$"):
            raise InvalidInputError(f"where: unknown operator {key!r} at the top level (use $and, $or, $not)")
        else:
            parts.append(_field(key.split("."), value))
    return _all_of(parts)


def _all_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda meta: all(p(meta) for p in parts)


def _any_of(parts: list[Predicate]) -> Predicate:
    return lambda meta: any(p(meta) for p in parts)


def _negate(part: Predicate) -> Predicate:
    return lambda meta: not part(meta)


def _lookup(meta: Any, path: list[str]) -> Any:
    if len(path) > 1 and isinstance(meta, Mapping):
        literal = ".".join(path)
        if literal in meta:  # a flat key with dots in it wins over the nested path
            return meta[literal]
    for name in path:
        if not isinstance(meta, Mapping) or name not in meta:
            return _MISSING
        meta = meta[name]
    return meta


def _field(path: list[str], spec: Any) -> Predicate:
    if isinstance(spec, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in spec):
        tests = []
        for op, arg in spec.items():
            if op not in _FIELD_OPS:
                raise InvalidInputError(f"where: unknown operator {op!r} on field {'.'.join(path)!r}")
            tests.append(_operator(op, arg, ".".join(path)))
    else:
        tests = [_operator("$eq", spec, ".".join(path))]

    def test(meta: Mapping[str, Any]) -> bool:
        value = _lookup(meta, path)
        return all(t(value) for t in tests)

    return test


def _same(a: Any, b: Any) -> bool:
    """Strict equality: bools equal only bools; ints and floats compare as numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and not (isinstance(x, float) and math.isnan(x))


def _comparable(a: Any, b: Any) -> bool:
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def _values(arg: Any, op: str, field: str) -> list[Any]:
    if not isinstance(arg, Sequence) or isinstance(arg, str | bytes):
        raise InvalidInputError(f"where: {op} on {field!r} takes a list, not {type(arg).__name__}")
    return list(arg)


def _is_list(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, str | bytes)


def _is_empty(v: Any) -> bool:
    return v is _MISSING or v is None or (isinstance(v, str | Sequence | Mapping) and len(v) == 0)


def _operator(op: str, arg: Any, field: str) -> Callable[[Any], bool]:
    present: Callable[[Any], bool] = lambda v: v is not _MISSING  # noqa: E731
    if op == "$eq":
        return lambda v: present(v) and _same(v, arg)
    if op == "$ne":
        return lambda v: not (present(v) and _same(v, arg))
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not (_is_number(arg) or isinstance(arg, str)):
            raise InvalidInputError(f"where: {op} on {field!r} takes a number or a string, not {arg!r}")
        compare: Callable[[Any, Any], bool] = {
            "$gt": lambda a, b: a > b,
            "$gte": lambda a, b: a >= b,
            "$lt": lambda a, b: a < b,
            "$lte": lambda a, b: a <= b,
        }[op]
        return lambda v: present(v) and _comparable(v, arg) and compare(v, arg)
    if op in ("$in", "$nin"):
        options = _values(arg, op, field)
        if op == "$in":
            return lambda v: present(v) and any(_same(v, o) for o in options)
        return lambda v: not (present(v) and any(_same(v, o) for o in options))
    if op == "$exists":
        if not isinstance(arg, bool):
            raise InvalidInputError(f"where: $exists on {field!r} takes true or false")
        return lambda v: present(v) == arg
    if op == "$empty":
        if not isinstance(arg, bool):
            raise InvalidInputError(f"where: $empty on {field!r} takes true or false")
        return lambda v: _is_empty(v) == arg
    if op == "$contains":
        return lambda v: (
            (_is_list(v) and any(_same(x, arg) for x in v))
            or (isinstance(v, str) and isinstance(arg, str) and arg in v)
        )
    if op == "$icontains":
        if not isinstance(arg, str):
            raise InvalidInputError(f"where: $icontains on {field!r} takes a string")
        needle = arg.casefold()
        return lambda v: isinstance(v, str) and needle in v.casefold()
    if op == "$all":
        wanted = _values(arg, op, field)
        return lambda v: _is_list(v) and all(any(_same(x, w) for x in v) for w in wanted)
    assert op == "$any"
    wanted = _values(arg, op, field)
    return lambda v: (
        (_is_list(v) and any(_same(x, w) for x in v for w in wanted))
        or (present(v) and not _is_list(v) and any(_same(v, w) for w in wanted))
    )
