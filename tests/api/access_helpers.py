"""What the control-plane API tests share: paths, a service token to name, and every rule
shape the official SDKs can send."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.test_service_tokens import V4, ok
from tests.conftest import World

__all__ = [
    "SDK_RULES",
    "apps_url",
    "new_token",
    "org_url",
    "policies_url",
    "policy_body",
]

SDK_RULES: list[dict[str, Any]] = [
    # One of each selector of the Python SDK's AccessRule union (cloudflare 5.9.0), with its
    # wire spelling and every field the SDK model has, plus the 2024 OpenAPI's older names.
    {"any_valid_service_token": {}},
    {"everyone": {}},
    {"ip": {"ip": "192.0.2.0/24"}},
    {"ip": {"ip": "2400:cb00:21:10a::/64"}},
    {"ip": {"ip": "198.51.100.7"}},
    {"geo": {"country_code": "US"}},
    {"ip_list": {"id": "aa0a4aab-672b-4bdb-bc33-a59f1130a11f"}},
    {"certificate": {}},
    {"common_name": {"common_name": "client.example.com"}},
    {"device_posture": {"integration_uid": "aa0a4aab-672b-4bdb-bc33-a59f1130a11f"}},
    {"linked_app_token": {"app_uid": "aa0a4aab-672b-4bdb-bc33-a59f1130a11f"}},
    {"group": {"id": "aa0a4aab-672b-4bdb-bc33-a59f1130a11f"}},
    {"email": {"email": "test@example.com"}},
    {"email_domain": {"domain": "example.com"}},
    {"email_list": {"id": "aa0a4aab-672b-4bdb-bc33-a59f1130a11f"}},
    {"azureAD": {"id": "aa0a4aab", "identity_provider_id": "ea85612a"}},
    {"azureAD": {"id": "aa0a4aab", "connection_id": "ea85612a"}},
    {"github-organization": {"identity_provider_id": "ea85612a", "name": "cf", "team": "api"}},
    {"gsuite": {"email": "devs@example.com", "identity_provider_id": "ea85612a"}},
    {"okta": {"identity_provider_id": "ea85612a", "name": "devs"}},
    {"okta": {"email": "devs@example.com", "connection_id": "ea85612a"}},
    {"saml": {"attribute_name": "group", "attribute_value": "devs", "identity_provider_id": "x"}},
    {"oidc": {"claim_name": "groups", "claim_value": "devs", "identity_provider_id": "x"}},
    {"auth_context": {"id": "x", "ac_id": "c1", "identity_provider_id": "y"}},
    {"login_method": {"id": "ea85612a"}},
    {"auth_method": {"auth_method": "mfa"}},
    {"user_risk_score": {"user_risk_score": ["low", "medium"]}},
    {"cloudflare_account_member": {}},
    {"cloudflare_account_member": {"account_id": "0123456789abcdef0123456789abcdef"}},
    {"external_evaluation": {"evaluate_url": "https://e.example", "keys_url": "https://k.example"}},
    {"a_selector_from_a_newer_sdk": {"nested": {"list": [1, 2.5, None, True, "x"]}}},
]


def policies_url(world: World) -> str:
    return f"{V4}/accounts/{world.account_a}/access/policies"


def apps_url(world: World, scope: str = "account") -> str:
    if scope == "account":
        return f"{V4}/accounts/{world.account_a}/access/apps"
    return f"{V4}/zones/{world.zone_a}/access/apps"


def org_url(world: World, scope: str = "account") -> str:
    if scope == "account":
        return f"{V4}/accounts/{world.account_a}/access/organizations"
    return f"{V4}/zones/{world.zone_a}/access/organizations"


def new_token(client: TestClient, world: World, scope: str = "account") -> str:
    """A fresh service token's id in account A (or zone A)."""
    container = f"accounts/{world.account_a}" if scope == "account" else f"zones/{world.zone_a}"
    created = ok(
        client.post(
            f"{V4}/{container}/access/service_tokens",
            json={"name": "named by a policy"},
            headers=world.bearer(world.write_a),
        ),
        201,
    )
    return str(created["id"])


def policy_body(**overrides: Any) -> dict[str, Any]:
    """A minimal valid policy (Service Auth for any token)."""
    body: dict[str, Any] = {
        "name": "service auth",
        "decision": "non_identity",
        "include": [{"any_valid_service_token": {}}],
    }
    body.update(overrides)
    return body
