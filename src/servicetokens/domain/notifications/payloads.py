"""Alert events and the generic webhook payload Cloudflare sends (`name`, `text`, `data`,
`ts`, `account_id`, `policy_id`, `policy_name`, `alert_type`, `alert_correlation_id`,
`alert_event`).

An event is what happened to one token; a payload is that event rendered for one policy
and one destination. The body is serialised once, when the outbox row is written, and the
same bytes go out on every attempt (the signature covers them). Never a secret.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.notifications.alert_types import (
    AUTH_FAILURES,
    EXPIRED,
    EXPIRING,
    INACTIVE_ACTION,
    TOKEN_DELETED,
    TOKEN_DISABLED,
    TOKEN_ROTATED,
)
from servicetokens.domain.tokens import ServiceToken

__all__ = [
    "EXPIRY_LEAD",
    "START",
    "TEST_MESSAGE",
    "AlertEvent",
    "auth_failures_event",
    "expired_event",
    "expiring_event",
    "lifecycle_event",
    "render_payload",
]

EXPIRY_LEAD = timedelta(days=7)
"""How long before `expires_at` the expiring alert fires ("a week before", Cloudflare)."""
START = "ALERT_STATE_EVENT_START"
TEST_MESSAGE = (
    b'{"text":"Hello World! This is a test message sent from servicetokens. If you can see '
    b'this, your webhook is configured properly."}'
)
_NAMESPACE = uuid.UUID("6f1c5d0e-5b7a-4c1e-9a57-3f0f9e1e2b11")


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something that happened to a token, for every policy of its account and type."""

    alert_type: str
    account_id: str
    token_id: str
    correlation_id: str
    text: str
    data: dict[str, object] = field(default_factory=dict)
    event: str = START


def _token_data(token: ServiceToken) -> dict[str, object]:
    return {
        "service_token_id": token.id,
        "service_token_name": token.name,
        "client_id": token.client_id,
        "expires_at": format_timestamp(token.expires_at),
        "account_id": token.container.account_id,
        "account_tag": token.container.account_id,
    }


def _quoted(token: ServiceToken) -> str:
    return f"Access service token {json.dumps(token.name)} (client ID {token.client_id})"


def correlation(*parts: str) -> str:
    """A stable id grouping everything about one episode: a UUIDv5 as 32 hex digits."""
    return uuid.uuid5(_NAMESPACE, ":".join(parts)).hex


def expiring_event(token: ServiceToken, *, now: datetime) -> AlertEvent:
    """`expiring_service_token_alert` for a token now within its last week; one episode
    per (token, expires_at), so the same correlation id for every policy."""
    expires = format_timestamp(token.expires_at)
    days = max(0, math.floor((token.expires_at - now).total_seconds() / 86_400))
    data = {**_token_data(token), "days_til_expiration": days}
    text = f"{_quoted(token)} expires at {expires}, in {days} days. Refresh or rotate it."
    return AlertEvent(
        EXPIRING,
        token.container.account_id,
        token.id,
        correlation(token.container.account_id, token.id, expires),
        text,
        data,
    )


def expired_event(token: ServiceToken) -> AlertEvent:
    """`servicetokens_service_token_expired`: an enabled token passed its `expires_at`."""
    expires = format_timestamp(token.expires_at)
    return AlertEvent(
        EXPIRED,
        token.container.account_id,
        token.id,
        correlation(EXPIRED, token.id, expires),
        f"{_quoted(token)} expired at {expires}.",
        {**_token_data(token), "expired_at": expires},
    )


_LIFECYCLE_TEXT = {
    TOKEN_ROTATED: "had its secret rotated",
    TOKEN_DISABLED: "was disabled",
    TOKEN_DELETED: "was deleted",
    INACTIVE_ACTION: "was {action} by the organization's inactivity setting",
}


def lifecycle_event(
    alert_type: str, token: ServiceToken, *, now: datetime, **extra: object
) -> AlertEvent:
    """A rotate, disable, delete or inactivity action on a token, at `now`."""
    at = format_timestamp(now)
    what = _LIFECYCLE_TEXT[alert_type].format(action=extra.get("action", "acted on"))
    return AlertEvent(
        alert_type,
        token.container.account_id,
        token.id,
        correlation(alert_type, token.id, at),
        f"{_quoted(token)} {what} at {at}.",
        {**_token_data(token), "at": at, **extra},
    )


def auth_failures_event(
    token: ServiceToken, *, failures: int, window: timedelta, reason: str, now: datetime
) -> AlertEvent:
    """`servicetokens_auth_failures`: a known client id failed authentication `failures`
    times within `window` up to `now` (`reason`: the latest failure's)."""
    at = format_timestamp(now)
    minutes = int(window.total_seconds() // 60)
    return AlertEvent(
        AUTH_FAILURES,
        token.container.account_id,
        token.id,
        correlation(AUTH_FAILURES, token.id, at),
        f"{_quoted(token)} failed authentication {failures} times in {minutes} minutes "
        f"(latest: {reason}).",
        {
            **_token_data(token),
            "failures": failures,
            "window_seconds": int(window.total_seconds()),
            "last_reason": reason,
            "at": at,
        },
    )


def render_payload(
    event: AlertEvent,
    *,
    destination_name: str,
    policy_id: str,
    policy_name: str,
    now: datetime,
) -> bytes:
    """The body POSTed to one destination for one policy: compact UTF-8 JSON."""
    body = {
        "name": destination_name,
        "text": event.text,
        "data": event.data,
        "ts": int(now.timestamp()),
        "account_id": event.account_id,
        "policy_id": policy_id,
        "policy_name": policy_name,
        "alert_type": event.alert_type,
        "alert_correlation_id": event.correlation_id,
        "alert_event": event.event,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
