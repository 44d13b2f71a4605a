"""The dashboard's sign-in rules: sessions and how failed attempts slow a guesser down.

Pure values and rules (no I/O): `DashboardSession` as stored, whether it is alive at a
moment, and `Attempts` — failed sign-ins counted against one key (a client address, an
email, or a browser that signed in as that email before) — with when they allow the next.

Throttle, never lock: a key's failures past its limit block only that key, for a delay
that doubles up to a ceiling, and the window is forgotten once it has passed. A stranger
who fails against someone's email throttles that email for unknown browsers; the rightful
user's browser, known by its device cookie, is counted on its own key and is not slowed by
the stranger (see docs/security.md).
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "ADDRESS_RULE",
    "DEVICE_REMEMBERED",
    "DEVICE_RULE",
    "EMAIL_RULE",
    "STALE_AFTER",
    "Attempts",
    "DashboardSession",
    "ThrottleRule",
    "address_key",
    "after_failure",
    "taken_back",
    "wait_before_next",
]


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """A signed-in browser, as stored (the session id itself is never stored)."""

    id_digest: bytes
    email: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    """The absolute end, however busy the session is."""
    idle_expires_at: datetime
    """The end if nothing uses it before then (moved forward on use)."""
    revoked_at: datetime | None = None
    """When it was signed out (or ended by a password change)."""

    def alive(self, now: datetime) -> bool:
        """Whether the session may be used at `now`."""
        return self.revoked_at is None and now < self.expires_at and now < self.idle_expires_at


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """How many failures in `window` a key may have before it is slowed, and how much."""

    limit: int
    window: timedelta
    first_block: timedelta
    max_block: timedelta


ADDRESS_RULE = ThrottleRule(20, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))
"""One client address, whatever emails it tries."""
EMAIL_RULE = ThrottleRule(5, timedelta(minutes=15), timedelta(seconds=30), timedelta(minutes=15))
"""One email, tried from browsers that never signed in as it."""
DEVICE_RULE = ThrottleRule(5, timedelta(minutes=15), timedelta(seconds=30), timedelta(minutes=15))
"""One email, tried from a browser that signed in as it before (its device cookie)."""

STALE_AFTER = max(r.window + r.max_block for r in (ADDRESS_RULE, EMAIL_RULE, DEVICE_RULE))
"""A count this old has neither a window nor a block running: it is as good as none."""

DEVICE_REMEMBERED = timedelta(days=400)
"""How long a browser's device cookie lives after its last sign-in (browsers cap cookie
lifetimes near 400 days); a known browser's row unused for longer is forgotten."""


def address_key(origin: str | None) -> str:
    """The throttle key of a client address: itself for IPv4, its /64 for IPv6 (one
    host's share, as the gate counts it), so a guesser cannot step through its prefix."""
    if origin is None:
        return "address:unknown"
    if ":" in origin:
        with contextlib.suppress(ValueError):  # an origin is a checked address already
            origin = str(ipaddress.IPv6Network(f"{origin}/64", strict=False))
    return f"address:{origin}"


@dataclass(frozen=True, slots=True)
class Attempts:
    """Failed sign-ins counted against one key."""

    failures: int
    window_started_at: datetime
    blocked_until: datetime | None = None


def wait_before_next(attempts: Attempts | None, now: datetime) -> timedelta | None:
    """How long the key must wait before its next attempt is even checked; None: go ahead."""
    if attempts is None or attempts.blocked_until is None or attempts.blocked_until <= now:
        return None
    return attempts.blocked_until - now


def after_failure(attempts: Attempts | None, rule: ThrottleRule, *, now: datetime) -> Attempts:
    """The count after one more failure at `now`: a new window once the old one has passed
    (and no block is running); past the limit, a block of `first_block` doubling with each
    further failure, never longer than `max_block`."""
    if attempts is None or (
        attempts.window_started_at + rule.window <= now and wait_before_next(attempts, now) is None
    ):
        failures, started = 1, now
    else:
        failures, started = attempts.failures + 1, attempts.window_started_at
    blocked_until = None
    if failures >= rule.limit:
        doublings = min(failures - rule.limit, 20)
        blocked_until = now + min(rule.first_block * 2**doublings, rule.max_block)
    return Attempts(failures, started, blocked_until)


def taken_back(attempts: Attempts, rule: ThrottleRule) -> Attempts:
    """The count without one attempt that turned out right (attempts are counted before the
    password is checked). Only that one is taken back: failures counted meanwhile stay,
    and a block they earned keeps running."""
    failures = max(0, attempts.failures - 1)
    blocked_until = attempts.blocked_until if failures >= rule.limit else None
    return Attempts(failures, attempts.window_started_at, blocked_until)
