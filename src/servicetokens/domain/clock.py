"""Time as the domain sees it: aware UTC datetimes with microsecond precision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = [
    "Clock",
    "delta_micros",
    "format_timestamp",
    "from_micros",
    "system_clock",
    "to_micros",
]

Clock = Callable[[], datetime]
"""A source of 'now' (aware UTC); tests pass a fixed one to pin expiry and grace windows."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def system_clock() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def delta_micros(delta: timedelta) -> int:
    """A timedelta in whole microseconds (exact: no float on the way)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: how timestamps are stored."""
    return delta_micros(moment - _EPOCH)


def from_micros(micros: int) -> datetime:
    """The inverse of `to_micros`."""
    return _EPOCH + timedelta(microseconds=micros)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, fractional seconds only when there are any."""
    moment = moment.astimezone(UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
