"""The alerting API's errors, each with its HTTP status and code once.

Cloudflare publishes few of these: 17004, 17102, 17103, 17200 and the message texts are
reported from live responses; the 179xx codes are servicetokens' own (see
docs/compatibility.md). Every one but `SecretsUnavailable` (a server without its
key-encryption key, 503) is a 4xx the SDKs do not retry.
"""

from __future__ import annotations

from servicetokens.domain.errors import DomainError

__all__ = [
    "AlertTypeNotServed",
    "InvalidAlertRequest",
    "InvalidWebhookId",
    "InvalidWebhookUrl",
    "LimitReached",
    "NoMechanism",
    "NotEntitled",
    "PolicyNotFound",
    "SecretsUnavailable",
    "UnknownAlertType",
    "UnsupportedWebhookType",
    "WebhookNotFound",
    "WebhookTestFailed",
]


class InvalidAlertRequest(DomainError):
    """A malformed body, field or query parameter (400, 17906)."""

    status = 400
    code = 17906

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"invalid request: {detail}")


class UnknownAlertType(DomainError):
    """An `alert_type` no one serves (400, 17004)."""

    status = 400
    code = 17004
    message = "invalid alert type"


class NotEntitled(DomainError):
    """A Cloudflare alert type (or PagerDuty) this server does not serve (400, 17200)."""

    status = 400
    code = 17200
    message = "account is not entitled to create policies for the alert type"


AlertTypeNotServed = NotEntitled


class NoMechanism(DomainError):
    """A policy with no mechanism at all (400, 17102)."""

    status = 400
    code = 17102
    message = "at least one mechanism is required"


class InvalidWebhookId(DomainError):
    """A policy mechanism naming a webhook the account does not have (400, 17904)."""

    status = 400
    code = 17904

    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"invalid Webhook ID: {webhook_id[:64]}")


class PolicyNotFound(DomainError):
    """No such notification policy in this account (404, 17902)."""

    status = 404
    code = 17902
    message = "Policy not found"


class WebhookNotFound(DomainError):
    """No such webhook destination in this account (404, 17903)."""

    status = 404
    code = 17903
    message = "Webhook not found"


class UnsupportedWebhookType(DomainError):
    """A URL of a service whose payload format this server does not send (400, 17905)."""

    status = 400
    code = 17905

    def __init__(self, kind: str) -> None:
        super().__init__(f"webhook type {kind} is not supported by this server")


class WebhookTestFailed(DomainError):
    """The test message to a new or changed destination failed (400, 17907)."""

    status = 400
    code = 17907

    def __init__(self, detail: str) -> None:
        super().__init__(f"Webhook test failed{detail}")


class InvalidWebhookUrl(DomainError):
    """A URL the target rules refuse: scheme, syntax, port or address (400, 17908)."""

    status = 400
    code = 17908

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid webhook URL: {reason}")


class SecretsUnavailable(DomainError):
    """A webhook secret must be sealed or opened, and this server has no key-encryption
    key (503, 17909): the operator's to fix (`SERVICETOKENS_KEY_ENCRYPTION_KEY`)."""

    status = 503
    code = 17909
    message = "Webhook secrets are unavailable: the server has no key-encryption key"


class LimitReached(DomainError):
    """A create past one of the account's alerting caps (`limits.py`; 400, 17911)."""

    status = 400
    code = 17911
