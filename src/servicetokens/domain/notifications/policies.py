"""Notification policies: which alert type goes to which destinations, for which tokens.

Create takes the whole policy; update (PUT) is partial, as the SDKs send it: only the
fields present change, and `mechanisms` or `filters`, when present, replace the stored
object whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from servicetokens.domain.durations import DurationError, parse_go_duration
from servicetokens.domain.notifications.alert_types import CLOUDFLARE_TYPES, SERVED_TYPES
from servicetokens.domain.notifications.destinations import alerting_id
from servicetokens.domain.notifications.errors import (
    InvalidAlertRequest,
    LimitReached,
    NoMechanism,
    NotEntitled,
    UnknownAlertType,
)
from servicetokens.domain.notifications.limits import MAX_WEBHOOKS_PER_POLICY

__all__ = ["NotificationPolicy", "PolicyFields", "apply_update", "parse_policy_create"]

_MAX_NAME = 256
_MAX_DESCRIPTION = 1024
_MAX_EMAILS = 100
_MAX_FILTER_VALUES = 1000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_FILTER_KEYS = frozenset({"token_id"})


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """What a policy says, validated (ids of webhooks still to be checked against the
    account)."""

    name: str
    alert_type: str
    enabled: bool
    webhooks: tuple[str, ...]
    emails: tuple[str, ...]
    description: str | None
    alert_interval: str | None
    filters: dict[str, list[str]] | None

    @property
    def token_ids(self) -> frozenset[str] | None:
        """The `token_id` filter: None for every current and future token."""
        if self.filters is None or "token_id" not in self.filters:
            return None
        return frozenset(self.filters["token_id"])

    def covers(self, token_id: str) -> bool:
        """Whether the policy's filter lets an alert about this token through."""
        ids = self.token_ids
        return ids is None or token_id in ids

    def mechanisms(self) -> dict[str, list[dict[str, str]]]:
        """The `mechanisms` object as the API shows it."""
        shown: dict[str, list[dict[str, str]]] = {}
        if self.emails:
            shown["email"] = [{"id": address} for address in self.emails]
        if self.webhooks:
            shown["webhooks"] = [{"id": webhook_id} for webhook_id in self.webhooks]
        return shown


@dataclass(frozen=True, slots=True)
class NotificationPolicy:
    """A notification policy as stored."""

    id: str
    account_id: str
    fields: PolicyFields
    created: datetime
    modified: datetime


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAlertRequest("name is required and must be a non-empty string")
    if len(value) > _MAX_NAME or "\x00" in value:
        raise InvalidAlertRequest(f"name must be at most {_MAX_NAME} characters, without NUL")
    return value


def _alert_type(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidAlertRequest("alert_type is required and must be a string")
    if value in SERVED_TYPES:
        return value
    if value in CLOUDFLARE_TYPES:
        raise NotEntitled()
    raise UnknownAlertType()


def _mechanisms(value: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(value, dict):
        raise InvalidAlertRequest("mechanisms is required and must be an object")
    webhooks: list[str] = []
    emails: list[str] = []
    for key, entries in value.items():
        if not isinstance(entries, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("id"), str) for entry in entries
        ):
            raise InvalidAlertRequest(f"mechanisms.{str(key)[:32]} must be a list of {{id}}")
        ids = [entry["id"] for entry in entries]
        if key == "pagerduty":
            if ids:
                raise NotEntitled()
        elif key == "webhooks":
            for raw in ids:
                webhook_id = alerting_id(raw)
                if webhook_id is None:
                    raise InvalidAlertRequest(f"invalid Webhook ID: {raw[:64]}")
                if webhook_id not in webhooks:
                    webhooks.append(webhook_id)
        elif key == "email":
            for address in ids:
                if not _EMAIL.match(address):
                    raise InvalidAlertRequest(f"invalid email address: {address[:64]}")
                if address not in emails:
                    emails.append(address)
        else:
            raise InvalidAlertRequest(f"unknown mechanism type {str(key)[:32]}")
    if len(webhooks) > MAX_WEBHOOKS_PER_POLICY:
        raise LimitReached(f"a policy may name at most {MAX_WEBHOOKS_PER_POLICY} webhooks")
    if len(emails) > _MAX_EMAILS:
        raise InvalidAlertRequest("too many mechanisms")
    if not webhooks and not emails:
        raise NoMechanism()
    return tuple(webhooks), tuple(emails)


def _filters(value: object) -> dict[str, list[str]] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidAlertRequest("filters must be an object of string arrays")
    filters: dict[str, list[str]] = {}
    for key, values in value.items():
        if key not in _FILTER_KEYS:
            raise InvalidAlertRequest(f"filter {str(key)[:32]} is not offered by this alert type")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidAlertRequest(f"filters.{key} must be an array of strings")
        if len(values) > _MAX_FILTER_VALUES:
            raise InvalidAlertRequest(f"filters.{key} has more than {_MAX_FILTER_VALUES} values")
        for token_id in values:
            if not _TOKEN_ID.match(token_id):
                raise InvalidAlertRequest(f"filters.token_id: {token_id[:64]} is not a token id")
        filters[key] = sorted(set(values))
    return filters


def _optional_text(value: object, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise InvalidAlertRequest(f"{field} must be a string of at most {limit} characters")
    return value


def _interval(value: object) -> str | None:
    text = _optional_text(value, "alert_interval", 64)
    if text is not None:
        try:
            parse_go_duration(text)
        except DurationError:
            raise InvalidAlertRequest("alert_interval must be a duration such as 30m") from None
    return text


def _enabled(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidAlertRequest("enabled must be true or false")
    return value


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidAlertRequest("the body must be a JSON object")
    return body


def parse_policy_create(body: object) -> PolicyFields:
    """A create body: `name`, `alert_type`, `mechanisms` required; `enabled` defaults to
    true; checked in the order docs/compatibility.md gives (type, mechanisms, filters)."""
    data = _object(body)
    name = _name(data.get("name"))
    alert_type = _alert_type(data.get("alert_type"))
    webhooks, emails = _mechanisms(data.get("mechanisms"))
    return PolicyFields(
        name=name,
        alert_type=alert_type,
        enabled=_enabled(data.get("enabled", True)),
        webhooks=webhooks,
        emails=emails,
        description=_optional_text(data.get("description"), "description", _MAX_DESCRIPTION),
        alert_interval=_interval(data.get("alert_interval")),
        filters=_filters(data.get("filters")),
    )


def apply_update(fields: PolicyFields, body: object) -> PolicyFields:
    """A partial update: the fields the body carries, over the stored ones."""
    data = _object(body)
    changed = fields
    if "name" in data:
        changed = replace(changed, name=_name(data["name"]))
    if "alert_type" in data:
        changed = replace(changed, alert_type=_alert_type(data["alert_type"]))
    if "enabled" in data:
        changed = replace(changed, enabled=_enabled(data["enabled"]))
    if "mechanisms" in data:
        webhooks, emails = _mechanisms(data["mechanisms"])
        changed = replace(changed, webhooks=webhooks, emails=emails)
    if "description" in data:
        changed = replace(
            changed,
            description=_optional_text(data["description"], "description", _MAX_DESCRIPTION),
        )
    if "alert_interval" in data:
        changed = replace(changed, alert_interval=_interval(data["alert_interval"]))
    if "filters" in data:
        filters = _filters(data["filters"])
        changed = replace(changed, filters=filters or None)
    return changed
