"""What the enforcement engine is given: applications, their policies, the organization and one
request, as small frozen values the gate builds from what the API stored.

Rules stay the raw JSON objects the API stores (`{"service_token": {"token_id": ...}}`), so
the engine sees exactly what an SDK or Terraform sent; `compile_apps` turns them into
evaluators once, not per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "AppView",
    "OrgView",
    "PolicyDecision",
    "PolicyView",
    "RequestFacts",
    "TokenFacts",
]

Rule = Mapping[str, Any]


class PolicyDecision(StrEnum):
    """A policy's `decision` on the wire, with the dashboard's name in the comment."""

    ALLOW = "allow"  # Allow: needs a human login; never admits a service token
    DENY = "deny"  # Block
    NON_IDENTITY = "non_identity"  # Service Auth
    BYPASS = "bypass"  # Bypass: no Access enforcement, no JWT


@dataclass(frozen=True, slots=True)
class PolicyView:
    """One policy as an application uses it (reusable, app-scoped or inline alike)."""

    id: str
    decision: str
    """The stored `decision`; anything but the four `PolicyDecision` values never matches."""
    precedence: int
    """Ascending: lower runs first within its group (§5.2)."""
    include: tuple[Rule, ...]
    require: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()
    session_duration: str | None = None
    """Go duration; the JWT lifetime when this policy admits (else the app's, the org's)."""


@dataclass(frozen=True, slots=True)
class AppView:
    """A self-hosted application: where it lives, its policies and the settings the gate reads.

    Hostnames come from `destinations` (public `uri`s, with their `overrides`) when that list
    is not empty, else from `self_hosted_domains` when that is not empty, else from `domain`.
    """

    id: str
    aud: str
    """The 64-hex audience tag: the JWT's `aud`."""
    domain: str
    account_id: str
    """The account the application belongs to (whose tokens `any_valid_service_token` means)."""
    zone_id: str | None = None
    """Set for a zone-scoped application: tokens of that zone or of its account count."""
    destinations: tuple[Mapping[str, Any], ...] = ()
    """The stored destination objects; only `type: public` ones are matched."""
    self_hosted_domains: tuple[str, ...] = ()
    policies: tuple[PolicyView, ...] = ()
    session_duration: str | None = "24h"
    service_auth_401_redirect: bool = False
    custom_non_identity_deny_url: str | None = None
    read_service_tokens_from_header: str | None = None
    """The single header carrying `{"cf-access-client-id", "cf-access-client-secret"}` JSON
    (§5.5): read by the gate before `decide`, kept here because it is per application."""
    options_preflight_bypass: bool = False


@dataclass(frozen=True, slots=True)
class OrgView:
    """The organization settings enforcement reads."""

    auth_domain: str
    """`<team>.cloudflareaccess.com`-style host: the JWT issuer and the login redirect's host."""
    strict_service_token_auth: bool = True
    deny_unmatched_requests: bool = True
    """Stored and echoed only: the gate refuses unmatched requests either way (§5.1)."""
    session_duration: str | None = None


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """The service token a request authenticated with (valid: current or in-grace secret,
    enabled, unexpired)."""

    token_id: str
    """The token's `id` (a lower-case UUID, as stored)."""
    client_id: str
    account_id: str
    zone_id: str | None = None
    """The zone a zone-scoped token belongs to; None for an account-level token."""


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the gate knows about one request once it has read its credentials.

    `token` is the authenticated token (credentials present and valid); `credentials_rejected`
    says credentials were present but could not authenticate (unknown id, wrong secret,
    expired, disabled, malformed, duplicated, or in both the standard and the custom header).
    At most one of the two holds; with neither, the request carried no service-token
    credentials. `session` says a valid, unrevoked app JWT for the matched application came
    with the request (cookie or `cf-access-token`).
    """

    host: str
    """The `Host` (or a trusted proxy's `X-Forwarded-Host`), port allowed."""
    path: str
    """The request target's path, query allowed (dropped for matching, kept for redirects)."""
    client_ip: str | None = None
    """The client address per the gate's trusted-proxy rules (None: unknown)."""
    token: TokenFacts | None = None
    credentials_rejected: bool = False
    session: bool = False
    preflight: bool = False
    """`OPTIONS` with `Access-Control-Request-Method`: a CORS preflight."""

    def __post_init__(self) -> None:
        if self.token is not None and self.credentials_rejected:
            raise ValueError("a request cannot both authenticate and fail to")
