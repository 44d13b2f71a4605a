"""Access applications for gate tests, made through the control plane's use cases (the same
ones the API runs): an organization, reusable policies, applications with inline policies."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.usecases.access_common import PolicyView
from tests.gate.conftest import Tenant

__all__ = [
    "ANY_TOKEN",
    "EVERYONE",
    "app",
    "assertion_claims",
    "delete_app",
    "make_org",
    "reusable",
    "rule_token",
    "service_auth",
]

EVERYONE: dict[str, Any] = {"everyone": {}}
ANY_TOKEN: dict[str, Any] = {"any_valid_service_token": {}}


def rule_token(token_id: str) -> dict[str, Any]:
    """The rule naming one service token."""
    return {"service_token": {"token_id": token_id}}


def service_auth(*include: dict[str, Any], name: str = "svc", **fields: Any) -> dict[str, Any]:
    """An inline Service Auth policy."""
    return {"name": name, "decision": "non_identity", "include": list(include), **fields}


def make_org(tenant: Tenant, auth_domain: str, *, strict: bool = True) -> None:
    """The account's organization (created as before the 2026-10-05 rule, so `strict` may be
    off)."""
    legacy = build_use_cases(tenant.service.database, legacy_organizations=True)
    legacy.organizations.update(
        tenant.principal,
        tenant.ref,
        {"name": "gate tests", "auth_domain": auth_domain, "strict_service_token_auth": strict},
    )


def reusable(tenant: Tenant, decision: str, *include: dict[str, Any]) -> PolicyView:
    """A reusable policy of the account."""
    body = {"name": f"{decision} policy", "decision": decision, "include": list(include)}
    return tenant.service.policies.create(tenant.principal, tenant.ref, body)


def app(tenant: Tenant, domain: str, policies: list[Any], **fields: Any) -> AppWithPolicies:
    """A self-hosted application of the account."""
    body = {"type": "self_hosted", "domain": domain, "policies": policies, **fields}
    return tenant.service.applications.create(tenant.principal, tenant.ref, body)


def delete_app(tenant: Tenant, app_id: str) -> None:
    """Delete an application."""
    tenant.service.applications.delete(tenant.principal, tenant.ref, app_id)


def assertion_claims(gate: str, assertion: str, *, aud: str, iss: str) -> dict[str, Any]:
    """The claims of `assertion`, validated with PyJWT against the gate's certs for `aud`
    and `iss` (raises when it does not validate)."""
    keys = httpx.get(f"{gate}/cdn-cgi/access/certs").json()
    kid = jwt.get_unverified_header(assertion)["kid"]
    jwk = next(key for key in keys["keys"] if key["kid"] == kid)
    public_key = jwt.PyJWK(jwk).key
    claims: dict[str, Any] = jwt.decode(
        assertion, public_key, algorithms=["RS256"], audience=aud, issuer=iss
    )
    return claims
