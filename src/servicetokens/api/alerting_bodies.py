"""Notification objects as the alerting API shows them (never a webhook's secret)."""

from __future__ import annotations

from datetime import datetime

from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.notifications.destinations import WebhookDestination
from servicetokens.domain.notifications.policies import NotificationPolicy

__all__ = ["serialize_policy", "serialize_webhook"]


def _moment(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def serialize_webhook(webhook: WebhookDestination) -> dict[str, object]:
    """A destination: id, name, url, type, created_at, last_success, last_failure."""
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "type": webhook.type,
        "created_at": format_timestamp(webhook.created_at),
        "last_success": _moment(webhook.last_success),
        "last_failure": _moment(webhook.last_failure),
    }


def serialize_policy(policy: NotificationPolicy) -> dict[str, object]:
    """A policy; unset optional fields are `null`, as Cloudflare echoes them."""
    fields = policy.fields
    return {
        "id": policy.id,
        "name": fields.name,
        "alert_type": fields.alert_type,
        "enabled": fields.enabled,
        "mechanisms": fields.mechanisms(),
        "description": fields.description,
        "alert_interval": fields.alert_interval,
        "filters": fields.filters,
        "created": format_timestamp(policy.created),
        "modified": format_timestamp(policy.modified),
    }
