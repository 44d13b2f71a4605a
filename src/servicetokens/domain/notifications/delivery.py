"""A delivery (one payload to one webhook destination) and what each attempt's outcome
makes of it: succeeded, retried later (exponential backoff with jitter), or failed for good.

The default schedule retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h
(each ±20 %): ten attempts over about 75 hours, the last well inside the 7-day warning.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from servicetokens.domain.clock import format_timestamp

__all__ = [
    "DEFAULT_RETRY_SCHEDULE",
    "Attempt",
    "Delivery",
    "DeliveryStatus",
    "RetrySchedule",
    "parse_retry_schedule",
]

DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
"""Seconds from each failed attempt to the next."""
_JITTER = 0.2
_THROTTLED = frozenset({429, 502, 503, 504})


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands (`delivery_status` in the history)."""

    PENDING = "pending"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def open(self) -> bool:
        """Whether the worker still has to send it."""
        return self in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: when, the HTTP status (None: no response), how long, and what went wrong."""

    at: datetime
    status: int | None
    latency_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer (a 3xx is not followed, so it is a failure)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def final(self) -> bool:
        """410 Gone: the receiver says never again."""
        return self.status == 410

    @property
    def throttled(self) -> bool:
        """429, 502, 503 or 504: the receiver is overloaded, so the `Retry-After` it sent
        is honoured (Standard Webhooks); other failures keep to the schedule."""
        return self.status in _THROTTLED

    def as_dict(self) -> dict[str, object]:
        """The attempt as the history's `attempts_log` shows it."""
        return {
            "at": format_timestamp(self.at),
            "status": self.status,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: a rendered payload for one destination, and its attempts so far."""

    id: str
    account_id: str
    webhook_id: str
    policy_id: str
    policy_name: str
    description: str | None
    alert_type: str
    correlation_id: str
    alert_event: str
    body: bytes
    status: DeliveryStatus
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Delays between attempts; after the last, the delivery has failed."""

    delays: Sequence[float] = DEFAULT_RETRY_SCHEDULE

    def next_attempt(
        self,
        attempts_made: int,
        *,
        now: datetime,
        retry_after: float | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> datetime | None:
        """When to try again after `attempts_made` attempts failed (None: give up). A
        receiver's `Retry-After` is honoured up to four times the step's own delay."""
        if attempts_made > len(self.delays):
            return None
        base = self.delays[attempts_made - 1]
        delay = base * (1 - _JITTER + 2 * _JITTER * jitter())
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, 4 * base))
        return now + timedelta(seconds=delay)


def parse_retry_schedule(text: str) -> tuple[float, ...]:
    """`5,300,1800` or `0.05s,0.1s` (seconds, comma-separated): the delays of a schedule."""
    delays = []
    for part in text.split(","):
        item = part.strip().removesuffix("s")
        try:
            seconds = float(item)
        except ValueError:
            raise ValueError(f"retry schedule step {part.strip()!r} is not seconds") from None
        if not 0 < seconds <= 7 * 86_400:
            raise ValueError("each retry step must be more than 0 and at most 7 days")
        delays.append(seconds)
    if not delays or len(delays) > 50:
        raise ValueError("a retry schedule has 1 to 50 steps")
    return tuple(delays)
