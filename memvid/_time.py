"""Conversions between the times users pass and the microseconds the format stores."""

from __future__ import annotations

import datetime as dt
import time

from memvid.errors import CorruptCapsuleError, InvalidInputError

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
TimeLike = dt.datetime | dt.date | int | float | str


def now_us() -> int:
    return time.time_ns() // 1000


def to_us(value: TimeLike, *, field: str = "timestamp") -> int:
    """Microseconds since the epoch, UTC.

    Accepts an aware ``datetime`` (a naive one is taken as UTC), a ``date``
    (its midnight, UTC), Unix seconds as ``int``/``float``, or an ISO 8601 string.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{field} must be a datetime, date, Unix seconds or ISO 8601 string, not a bool")
    if isinstance(value, (int, float)):
        try:
            return round(value * 1_000_000)
        except (OverflowError, ValueError):
            raise InvalidInputError(f"{field} {value!r} is not a finite time") from None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(f"{field} {value!r} is not an ISO 8601 time") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, dt.date):
        return to_us(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC), field=field)
    raise InvalidInputError(
        f"{field} must be a datetime, date, Unix seconds or ISO 8601 string, not {type(value).__name__}"
    )


def from_us(us: int) -> dt.datetime:
    """A stored time (microseconds since the epoch, UTC). Only stored values come here, so one
    outside the years 1 to 9999 is damage."""
    try:
        return _EPOCH + dt.timedelta(microseconds=us)
    except OverflowError:
        raise CorruptCapsuleError(f"a stored time ({us} us since the epoch) is out of range") from None
