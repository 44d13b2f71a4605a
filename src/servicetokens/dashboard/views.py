"""What the pages show of a token, and the choices their forms offer (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.tokens import ServiceToken

__all__ = [
    "DURATION_PRESETS",
    "GRACE_CHOICES",
    "SHOW_CHOICES",
    "SORT_CHOICES",
    "Badge",
    "ago",
    "badges",
    "grace_delta",
    "shown",
    "shown_time",
]

DURATION_PRESETS: tuple[tuple[str, str], ...] = (
    ("24h", "1 day"),
    ("168h", "7 days"),
    ("720h", "30 days"),
    ("2160h", "90 days"),
    ("8760h", "1 year"),
    ("forever", "Forever (never expires)"),
    ("custom", "Custom (a Go duration)"),
)
"""(the `duration` sent, its label) for the create form; `custom` reads the text field."""

GRACE_CHOICES: tuple[tuple[str, str, timedelta], ...] = (
    ("0", "Revoke the old secret immediately", timedelta(0)),
    ("1h", "Keep the old secret for 1 hour", timedelta(hours=1)),
    ("24h", "Keep the old secret for 24 hours", timedelta(hours=24)),
    ("168h", "Keep the old secret for 7 days", timedelta(days=7)),
    ("720h", "Keep the old secret for 30 days", timedelta(days=30)),
)
"""(form value, label, how long the previous secret stays valid) for rotate."""

_SOON = timedelta(days=7)
_IDLE = timedelta(days=30)
_TICK = timedelta(microseconds=1)

SHOW_CHOICES: tuple[tuple[str, str], ...] = (
    ("all", "All tokens"),
    ("expiring", "Expiring within 7 days"),
    ("expired", "Expired"),
    ("disabled", "Disabled"),
    ("idle", "Not seen for 30 days"),
)
"""(the list form's `show` value, its label): the lifecycle filters a person picks from."""

SORT_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("created_at", "asc", "Created, oldest first"),
    ("created_at", "desc", "Created, newest first"),
    ("name", "asc", "Name, A to Z"),
    ("name", "desc", "Name, Z to A"),
    ("expires_at", "asc", "Expires, soonest first"),
    ("expires_at", "desc", "Expires, latest first"),
    ("last_seen_at", "desc", "Last seen, most recent first"),
    ("last_seen_at", "asc", "Last seen, longest ago first"),
)
"""(order, direction, label) for the list form's sort select (value `order:direction`)."""


@dataclass(frozen=True, slots=True)
class Badge:
    """A status shown beside a token: its words and its kind (`bad`, `warn`, `off`, `info`)."""

    text: str
    kind: str


def grace_delta(value: str) -> timedelta | None:
    """The grace period a rotate form chose; None for a value not offered."""
    for choice, _, delta in GRACE_CHOICES:
        if choice == value:
            return delta
    return None


def ago(delta: timedelta) -> str:
    """`delta` in the largest whole unit: `3 minutes`, `2 hours`, `5 days`."""
    seconds = max(0, int(delta.total_seconds()))
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def shown_time(moment: datetime | None) -> str:
    """A timestamp as the pages print it (UTC, RFC 3339), or an em dash."""
    return "—" if moment is None else format_timestamp(moment.replace(microsecond=0))


def badges(token: ServiceToken, now: datetime) -> list[Badge]:
    """The token's standing at `now`, most urgent first."""
    found: list[Badge] = []
    if not token.enabled:
        found.append(Badge("Disabled", "off"))
    if not token.never_expires:
        if token.expires_at <= now:
            found.append(Badge("Expired", "bad"))
        elif token.expires_at - now <= _SOON:
            found.append(Badge(f"Expires in {ago(token.expires_at - now)}", "warn"))
    grace = token.previous_client_secret_expires_at
    if token.previous_secret_digest is not None and grace is not None and grace > now:
        found.append(Badge(f"In grace: previous secret valid until {shown_time(grace)}", "warn"))
    if token.last_seen_at is None:
        found.append(Badge("Never used", "info"))
    else:
        found.append(Badge(f"Last seen {ago(now - token.last_seen_at)} ago", "info"))
    return found


def shown(query: ListQuery, show: str, now: datetime) -> ListQuery | None:
    """`query` narrowed to the tokens a `show` choice names at `now` (the badges' own
    thresholds); None for a value not offered."""
    if show in ("", "all"):
        return query
    if show == "expiring":
        # Both bounds as the badge draws them: later than now, at most 7 days on.
        return replace(query, expires_after=now, expires_before=now + _SOON + _TICK)
    if show == "expired":
        # The badge calls a token expired from the microsecond it expires; the filter is
        # strictly earlier, so the bound is one (stored) microsecond on.
        return replace(query, expires_before=now + _TICK)
    if show == "disabled":
        return replace(query, enabled=False)
    if show == "idle":
        return replace(query, last_seen_before=now - _IDLE)
    return None
