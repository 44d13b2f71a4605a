"""The one hand-moved clock of the tests: use cases and gates take a `Clock` (a callable
returning an aware UTC datetime), so a test moves time instead of waiting for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["HandClock"]


class HandClock:
    """A clock the test moves (`clock.advance(...)`, or `clock.now = ...`)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
