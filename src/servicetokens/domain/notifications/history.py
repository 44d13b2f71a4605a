"""The history list's query (`since`, `before`, `page`, `per_page`, and the extension
`delivery_status`) and how a delivery shows in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.notifications.delivery import Delivery, DeliveryStatus
from servicetokens.domain.notifications.errors import InvalidAlertRequest

__all__ = ["HistoryQuery", "history_item", "parse_history_query"]

DEFAULT_PER_PAGE = 25
MIN_PER_PAGE = 5
MAX_PER_PAGE = 1000
_MAX_PAGE = 10**9


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A validated history request: `since` inclusive, `before` exclusive."""

    since: datetime | None = None
    before: datetime | None = None
    status: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        """Rows to skip before this page."""
        return (self.page - 1) * self.per_page


def _moment(raw: str | None, field: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        # Near year 1 or 9999 an offset moves the moment off the calendar: OverflowError.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidAlertRequest(f"{field} must be an ISO 8601 date-time") from None


def _number(raw: str | None, field: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    text = raw.strip().removesuffix(".0")  # the SDKs type these as floats
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 12:
        raise InvalidAlertRequest(f"{field} must be a whole number")
    return int(text)


def parse_history_query(
    *,
    since: str | None,
    before: str | None,
    page: str | None,
    per_page: str | None,
    status: str | None = None,
) -> HistoryQuery:
    """Validate the query; `page` below 1 and `per_page` outside 5–1000 are clamped."""
    if status is not None and status != "" and status not in DeliveryStatus.__members__.values():
        raise InvalidAlertRequest("delivery_status must be one of " + ", ".join(DeliveryStatus))
    return HistoryQuery(
        since=_moment(since, "since"),
        before=_moment(before, "before"),
        status=status or None,
        page=min(max(1, _number(page, "page", 1)), _MAX_PAGE),
        per_page=min(
            max(MIN_PER_PAGE, _number(per_page, "per_page", DEFAULT_PER_PAGE)), MAX_PER_PAGE
        ),
    )


def history_item(delivery: Delivery) -> dict[str, object]:
    """A delivery as the history shows it: Cloudflare's fields, then the extensions."""
    last = delivery.attempts[-1] if delivery.attempts else None
    return {
        "id": delivery.id,
        "alert_body": delivery.body.decode(),
        "alert_type": delivery.alert_type,
        "description": delivery.description,
        "mechanism": delivery.webhook_id,
        "mechanism_type": "webhook",
        "name": delivery.policy_name,
        "policy_id": delivery.policy_id,
        "sent": format_timestamp(delivery.created_at),
        "delivery_status": delivery.status.value,
        "attempts": len(delivery.attempts),
        "last_attempt_at": None if last is None else format_timestamp(last.at),
        "next_attempt_at": (
            None
            if delivery.next_attempt_at is None or not delivery.status.open
            else format_timestamp(delivery.next_attempt_at)
        ),
        "last_response_status": None if last is None else last.status,
        "last_error": None if last is None else last.error,
        "attempts_log": [attempt.as_dict() for attempt in delivery.attempts],
        "alert_event": delivery.alert_event,
        "alert_correlation_id": delivery.correlation_id,
        "webhook_message_id": f"msg_{delivery.id}",
    }
