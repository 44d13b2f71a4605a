"""Shapes of the alerting API for the served OpenAPI document (what the handlers render)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from servicetokens.api.schemas import ResultInfo, Success

__all__ = [
    "AvailableAlertsEnvelope",
    "DeleteEnvelope",
    "EligibleEnvelope",
    "HistoryListEnvelope",
    "IdEnvelope",
    "PagerdutyListEnvelope",
    "PolicyEnvelope",
    "PolicyInput",
    "PolicyListEnvelope",
    "WebhookEnvelope",
    "WebhookInput",
    "WebhookListEnvelope",
]


class WebhookInput(BaseModel):
    """Create and update body."""

    name: str = Field(min_length=1, max_length=256)
    url: str = Field(description="http(s); public addresses on ports 80, 443, 8088.")
    secret: str | None = Field(default=None, description="Sent as cf-webhook-auth; write-only.")


class Webhook(BaseModel):
    """A webhook destination (never its secret)."""

    id: str
    name: str
    url: str
    type: str
    created_at: str
    last_success: str | None
    last_failure: str | None


class MechanismId(BaseModel):
    id: str


class Mechanisms(BaseModel):
    email: list[MechanismId] | None = None
    webhooks: list[MechanismId] | None = None
    pagerduty: list[MechanismId] | None = None


class PolicyInput(BaseModel):
    """Create body (update: every field optional, only those sent change)."""

    name: str
    alert_type: str
    enabled: bool = True
    mechanisms: Mechanisms
    description: str | None = None
    alert_interval: str | None = None
    filters: dict[str, list[str]] | None = None


class Policy(BaseModel):
    """A notification policy."""

    id: str
    name: str
    alert_type: str
    enabled: bool
    mechanisms: Mechanisms
    description: str | None
    alert_interval: str | None
    filters: dict[str, list[str]] | None
    created: str
    modified: str


class History(BaseModel):
    """One delivery: Cloudflare's fields, then servicetokens' extensions."""

    id: str
    alert_body: str
    alert_type: str
    description: str | None
    mechanism: str
    mechanism_type: str
    name: str
    policy_id: str
    sent: str
    delivery_status: str
    attempts: int


class Id(BaseModel):
    id: str


class IdEnvelope(Success):
    result: Id


class DeleteEnvelope(Success):
    result: None


class WebhookEnvelope(Success):
    result: Webhook


class WebhookListEnvelope(Success):
    result: list[Webhook]


class PolicyEnvelope(Success):
    result: Policy


class PolicyListEnvelope(Success):
    result: list[Policy]


class HistoryListEnvelope(Success):
    result: list[History]
    result_info: ResultInfo


class AvailableAlertsEnvelope(Success):
    result: dict[str, list[dict[str, object]]]


class EligibleEnvelope(Success):
    result: dict[str, list[dict[str, object]]]


class PagerdutyListEnvelope(Success):
    result: list[dict[str, object]]
