"""Webhook destinations: what is stored, what a create or update body may say, and the
`type` derived from the URL.

The `secret` is write-only: it is sent as `cf-webhook-auth` with every message and keys the
Standard Webhooks signature (`signatures.py`), and no response ever carries it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from servicetokens.domain.errors import InvalidIdentifier
from servicetokens.domain.notifications.errors import (
    InvalidAlertRequest,
    UnsupportedWebhookType,
)
from servicetokens.domain.notifications.targets import Target, parse_target

__all__ = [
    "MAX_SECRET_LENGTH",
    "WebhookDestination",
    "WebhookFields",
    "alerting_id",
    "alerting_path_id",
    "new_alerting_id",
    "parse_webhook_fields",
    "webhook_type",
]

MAX_NAME = 256
MAX_SECRET_LENGTH = 1024
_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""An alerting id as written: 32 hex digits, or a dashed UUID (either case)."""
_SENT_TYPES = frozenset({"generic", "slack", "gchat"})
"""Types whose receivers accept the generic payload (Slack and Google Chat render `text`)."""


def new_alerting_id() -> str:
    """A new webhook, policy or delivery id: a random UUID as 32 lowercase hex digits."""
    return uuid.uuid4().hex


def alerting_id(raw: str) -> str | None:
    """An id in its stored form (dashes dropped, lowercase), or None when it is not
    shaped like one (32 hex digits or a dashed UUID) and so can name nothing."""
    lowered = raw.lower()
    return lowered.replace("-", "") if _ID.fullmatch(lowered) else None


def alerting_path_id(raw: str, *, path: str) -> str:
    """A webhook or policy id from the request `path`, in its stored form; one not shaped
    like an id cannot be routed (400/7003, as a malformed account id)."""
    found = alerting_id(raw)
    if found is None:
        raise InvalidIdentifier(path)
    return found


def webhook_type(url: str) -> str:
    """The destination type Cloudflare derives from a URL."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path
    if host == "hooks.slack.com" and path.startswith("/services/"):
        return "slack"
    if host == "chat.googleapis.com":
        return "gchat"
    if host in ("discord.com", "discordapp.com") and path.startswith("/api/webhooks/"):
        return "discord"
    if host == "open.feishu.cn":
        return "feishu"
    if host.startswith("api.") and ".datadoghq." in f".{host}":
        return "datadog"
    if host in ("api.opsgenie.com", "api.eu.opsgenie.com") and path.startswith("/v2/alerts"):
        return "opsgenie"
    if path.endswith(("/services/collector", "/collector/raw", "/collector/event")):
        return "splunk"
    return "generic"


@dataclass(frozen=True, slots=True)
class WebhookDestination:
    """A webhook destination as stored."""

    id: str
    account_id: str
    name: str
    url: str
    sealed_secret: str | None
    """The shared secret as stored: sealed under the key-encryption key `secret_kek_id`
    names (`usecases/webhook_secrets.py` seals and opens it); None when there is none."""
    secret_kek_id: str | None
    """The KEK the secret is sealed under; None with a secret: a row written before
    secrets were sealed, holding it as it came."""
    type: str
    created_at: datetime
    last_success: datetime | None = None
    last_failure: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookFields:
    """A validated create or update body. `secret`: None when the body has none (create:
    no secret; update: keep the stored one), `""` to clear it on update."""

    name: str
    target: Target
    type: str
    secret: str | None


def _text(body: dict[str, object], key: str, *, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidAlertRequest(f"{key} is required and must be a non-empty string")
    if len(value) > limit or "\x00" in value:
        raise InvalidAlertRequest(f"{key} must be at most {limit} characters, without NUL")
    return value


def parse_webhook_fields(body: object) -> WebhookFields:
    """A create or update body: `name` and `url` required (the SDKs always send both),
    `secret` optional; other fields are ignored, as Cloudflare ignores `type`."""
    if not isinstance(body, dict):
        raise InvalidAlertRequest("the body must be a JSON object")
    name = _text(body, "name", limit=MAX_NAME)
    target = parse_target(body.get("url"))
    kind = webhook_type(target.url)
    if kind not in _SENT_TYPES:
        raise UnsupportedWebhookType(kind)
    secret = body.get("secret")
    if secret is not None:
        if not isinstance(secret, str):
            raise InvalidAlertRequest("secret must be a string")
        if len(secret) > MAX_SECRET_LENGTH or any(
            ord(ch) < 0x20 or ord(ch) == 0x7F for ch in secret
        ):
            raise InvalidAlertRequest(
                f"secret must be at most {MAX_SECRET_LENGTH} characters, without control "
                "characters (it travels in a header)"
            )
    return WebhookFields(name=name, target=target, type=kind, secret=secret)
