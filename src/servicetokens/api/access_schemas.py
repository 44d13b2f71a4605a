"""Control-plane shapes for the served OpenAPI document (documentation and contract tests).

Handlers render with orjson (`access_bodies.py`); these models describe what they render
and what they accept. Rules and the settings stored verbatim are open objects: the server
keeps whatever an SDK sends there, so the document promises no more than the shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from servicetokens.api.schemas import ResultInfo, Success

__all__ = [
    "AppEnvelope",
    "AppInput",
    "AppListEnvelope",
    "AppPolicyEnvelope",
    "AppPolicyInput",
    "AppPolicyListEnvelope",
    "IdEnvelope",
    "NullEnvelope",
    "OrganizationEnvelope",
    "OrganizationInput",
    "PolicyEnvelope",
    "PolicyInput",
    "PolicyListEnvelope",
]

Rule = dict[str, dict[str, Any]]
Decision = Literal["allow", "deny", "non_identity", "bypass"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class PolicyInput(_Open):
    """A policy as created or replaced; unknown fields are ignored."""

    name: str = Field(min_length=1, max_length=350)
    decision: Decision
    include: list[Rule] = Field(min_length=1, description="Rules, any of which must match.")
    require: list[Rule] | None = Field(default=None, description="Rules that must all match.")
    exclude: list[Rule] | None = Field(default=None, description="Rules none of which may match.")
    session_duration: str | None = Field(default=None, description="Go duration; default 24h.")
    approval_groups: list[dict[str, Any]] | None = None
    approval_required: bool | None = None
    isolation_required: bool | None = None
    purpose_justification_required: bool | None = None
    purpose_justification_prompt: str | None = None


class AppPolicyInput(PolicyInput):
    """An app-scoped policy; a PUT may send any subset (it is merged)."""

    precedence: int | None = Field(default=None, ge=0)


class Policy(_Open):
    """A policy (its rules and settings as stored)."""

    id: str
    name: str
    decision: Decision
    include: list[Rule]
    require: list[Rule]
    exclude: list[Rule]
    session_duration: str
    approval_groups: list[dict[str, Any]]
    approval_required: bool
    isolation_required: bool
    purpose_justification_required: bool
    created_at: str = Field(description="RFC 3339, UTC.")
    updated_at: str
    reusable: bool


class ReusablePolicy(Policy):
    """A reusable policy with the number of applications that use it."""

    account_id: str
    app_count: int = Field(ge=0)


class AppPolicy(Policy):
    """A policy as an application runs it, at its precedence there."""

    precedence: int


class AppInput(_Open):
    """A self-hosted application; other types are refused."""

    type: Literal["self_hosted"]
    domain: str = Field(description="Primary hostname and optional path.")
    name: str | None = None
    destinations: list[dict[str, Any]] | None = None
    self_hosted_domains: list[str] | None = None
    policies: list[str | dict[str, Any]] | None = Field(
        default=None, description="Reusable policy ids or links, or inline policies."
    )
    session_duration: str | None = None
    service_auth_401_redirect: bool | None = None
    read_service_tokens_from_header: str | None = None


class App(_Open):
    """A self-hosted application, its settings as stored and its policies expanded."""

    id: str
    aud: str = Field(description="64 hex digits: the audience of the JWTs issued for it.")
    type: Literal["self_hosted"]
    domain: str
    name: str
    destinations: list[dict[str, Any]]
    self_hosted_domains: list[str]
    session_duration: str
    policies: list[AppPolicy]
    created_at: str
    updated_at: str


class OrganizationInput(_Open):
    """Organization fields (create: `name` and `auth_domain` required; update: any)."""

    name: str | None = None
    auth_domain: str | None = None
    session_duration: str | None = None
    strict_service_token_auth: bool | None = None
    service_token_inactivity: dict[str, Any] | None = None
    deny_unmatched_requests: bool | None = None


class Organization(_Open):
    """The Zero Trust organization."""

    name: str
    auth_domain: str
    strict_service_token_auth: bool
    deny_unmatched_requests: bool
    trusted_accounts: list[str]
    created_at: str
    updated_at: str


class Id(BaseModel):
    """The id of what was deleted."""

    id: str


class PolicyEnvelope(Success):
    """A reusable policy."""

    result: ReusablePolicy


class PolicyListEnvelope(Success):
    """A page of reusable policies."""

    result: list[ReusablePolicy]
    result_info: ResultInfo


class AppPolicyEnvelope(Success):
    """A policy of an application."""

    result: AppPolicy


class AppPolicyListEnvelope(Success):
    """A page of an application's policies, by precedence."""

    result: list[AppPolicy]
    result_info: ResultInfo


class AppEnvelope(Success):
    """An application."""

    result: App


class AppListEnvelope(Success):
    """A page of applications."""

    result: list[App]
    result_info: ResultInfo


class OrganizationEnvelope(Success):
    """The organization."""

    result: Organization


class IdEnvelope(Success):
    """A deletion's result."""

    result: Id


class NullEnvelope(Success):
    """A result-less success (revoke_tokens)."""

    result: None
