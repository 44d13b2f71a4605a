"""The Zero Trust organization over HTTP (`/{accounts|zones}/{id}/access/organizations`), on
SQLite and PostgreSQL: 404 before it exists, POST creates (409 twice), PUT and PATCH merge
(and create, as Terraform does), every field stored faithfully, validation."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.usecases.facade import UseCases
from tests.api.access_helpers import org_url
from tests.api.test_service_tokens import error, ok, parse_ts
from tests.conftest import World

SCOPES = ["account", "zone"]
STRICT_OFF = (
    "access.api.error.invalid_request: strict service token authentication cannot be "
    "turned off for this organization"
)


def team() -> str:
    return f"team-{secrets.token_hex(4)}.cloudflareaccess.com"


def headers(world: World, scope: str) -> dict[str, str]:
    return world.bearer(world.write_a if scope == "account" else world.write_zone_a)


@pytest.mark.parametrize("scope", SCOPES)
def test_absent_then_created_then_conflict(client: TestClient, world: World, scope: str) -> None:
    url, auth = org_url(world, scope), headers(world, scope)
    failure = error(client.get(url, headers=auth), 404, 12135)
    assert failure["message"] == "access.api.error.not_found"
    domain = team()
    created = ok(client.post(url, json={"name": "Acme", "auth_domain": domain}, headers=auth), 201)
    assert created == {
        "name": "Acme",
        "auth_domain": domain,
        "strict_service_token_auth": True,
        "deny_unmatched_requests": False,
        "deny_unmatched_requests_exempted_zone_names": [],
        "is_ui_read_only": False,
        "allow_authenticate_via_warp": False,
        "warp_auth_non_browser_401": False,
        "auto_redirect_to_identity": False,
        "mfa_required_for_all_apps": False,
        "trusted_accounts": [],
        "created_at": created["created_at"],
        "updated_at": created["created_at"],
    }
    parse_ts(created["created_at"])
    assert ok(client.get(url, headers=auth)) == created
    again = client.post(url, json={"name": "Other", "auth_domain": team()}, headers=auth)
    failure = error(again, 409, 12130)
    assert failure["message"] == "access.api.error.conflict: organization already exists"
    assert again.headers["x-should-retry"] == "false"


def test_account_and_zone_organizations_are_separate(client: TestClient, world: World) -> None:
    account = ok(
        client.post(
            org_url(world),
            json={"name": "A", "auth_domain": team()},
            headers=headers(world, "account"),
        ),
        201,
    )
    error(client.get(org_url(world, "zone"), headers=headers(world, "zone")), 404, 12135)
    zone = ok(
        client.put(
            org_url(world, "zone"),
            json={"name": "Z", "auth_domain": team()},
            headers=headers(world, "zone"),
        )
    )
    assert ok(client.get(org_url(world), headers=headers(world, "account"))) == account
    assert zone["name"] == "Z"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_put_merges_and_creates_when_absent(client: TestClient, world: World, method: str) -> None:
    url, auth = org_url(world), headers(world, "account")
    missing = client.request(method, url, json={"name": "No domain"}, headers=auth)
    assert "auth_domain is required" in error(missing, 400, 12130)["message"]
    domain = team()
    created = ok(
        client.request(method, url, json={"name": "T", "auth_domain": domain}, headers=auth)
    )
    inactivity = {"enabled": True, "inactivity_threshold_days": 30, "action": "disable"}
    updated = ok(
        client.request(method, url, json={"service_token_inactivity": inactivity}, headers=auth)
    )
    assert updated["service_token_inactivity"] == inactivity
    assert updated["name"] == "T"
    assert updated["auth_domain"] == domain
    assert updated["created_at"] == created["created_at"]
    assert parse_ts(updated["updated_at"]) > parse_ts(created["updated_at"])
    renamed = ok(client.request(method, url, json={"name": "Renamed"}, headers=auth))
    assert renamed["service_token_inactivity"] == inactivity
    assert renamed["name"] == "Renamed"


def test_every_field_is_stored_and_echoed(client: TestClient, world: World) -> None:
    fields: dict[str, Any] = {
        "name": "Every field",
        "auth_domain": team(),
        "session_duration": "12h",
        "strict_service_token_auth": True,
        "service_token_inactivity": {
            "enabled": False,
            "inactivity_threshold_days": 365,
            "action": "delete",
        },
        "deny_unmatched_requests": True,
        "deny_unmatched_requests_exempted_zone_names": ["example.com"],
        "is_ui_read_only": True,
        "ui_read_only_toggle_reason": "terraform",
        "allow_authenticate_via_warp": True,
        "warp_auth_session_duration": "90m",
        "warp_auth_non_browser_401": True,
        "auto_redirect_to_identity": True,
        "login_design": {
            "background_color": "#000",
            "footer_text": "f",
            "header_text": "h",
            "logo_path": "https://logo.example/l.png",
            "text_color": "#fff",
        },
        "mfa_config": {"allowed_authenticators": ["totp", "piv_key"], "session_duration": "1h"},
        "mfa_piv_key_requirements": {"pin_policy": "once", "require_fips_device": True},
        "mfa_required_for_all_apps": True,
        "user_seat_expiration_inactive_time": "730h",
        "custom_pages": {"forbidden": "f1", "identity_denied": "i1"},
    }
    stored = ok(client.put(org_url(world), json=fields, headers=headers(world, "account")))
    assert {k: stored[k] for k in fields} == fields
    assert stored["trusted_accounts"] == []


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"inactivity_threshold_days": 29}, "inactivity_threshold_days must be a whole number"),
        ({"inactivity_threshold_days": 366}, "30-365"),
        ({"inactivity_threshold_days": 30.5}, "30-365"),
        ({"inactivity_threshold_days": True}, "30-365"),
        ({"action": "archive"}, "action must be disable or delete"),
        ({"enabled": "yes"}, "enabled must be a boolean"),
        ({"action": None}, "service_token_inactivity.action is required"),
    ],
)
def test_service_token_inactivity_is_validated(
    client: TestClient, world: World, change: dict[str, Any], detail: str
) -> None:
    inactivity: dict[str, Any] = {
        "enabled": True,
        "inactivity_threshold_days": 90,
        "action": "disable",
    }
    inactivity.update(change)
    inactivity = {k: v for k, v in inactivity.items() if v is not None}
    body = {"name": "T", "auth_domain": team(), "service_token_inactivity": inactivity}
    response = client.post(org_url(world), json=body, headers=headers(world, "account"))
    assert detail in error(response, 400, 12130)["message"]
    error(client.get(org_url(world), headers=headers(world, "account")), 404, 12135)


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("auth_domain", "not a host", "auth_domain must be a hostname"),
        ("auth_domain", "nodots", "auth_domain must be a hostname"),
        ("auth_domain", f"{'a' * 64}.example.com", "auth_domain must be a hostname"),
        ("name", "", "name must not be empty"),
        ("session_duration", "1 day", "session_duration"),
        ("warp_auth_session_duration", "30s", "may only use the units m, h"),
        ("user_seat_expiration_inactive_time", "729h", "must be at least 730h"),
        ("deny_unmatched_requests", "no", "deny_unmatched_requests must be a boolean"),
        ("login_design", [], "login_design must be an object"),
        ("custom_pages", {"forbidden": 1}, "custom_pages.forbidden must be a string"),
    ],
)
def test_fields_are_validated(
    client: TestClient, world: World, field: str, value: Any, detail: str
) -> None:
    body = {"name": "T", "auth_domain": team(), field: value}
    response = client.put(org_url(world), json=body, headers=headers(world, "account"))
    assert detail in error(response, 400, 12130)["message"]


def test_strict_mode_cannot_be_turned_off_for_new_organizations(
    client: TestClient, world: World
) -> None:
    url, auth = org_url(world), headers(world, "account")
    body = {"name": "T", "auth_domain": team(), "strict_service_token_auth": False}
    assert error(client.post(url, json=body, headers=auth), 400, 12130)["message"] == STRICT_OFF
    ok(client.post(url, json={"name": "T", "auth_domain": body["auth_domain"]}, headers=auth), 201)
    off = client.put(url, json={"strict_service_token_auth": False}, headers=auth)
    assert error(off, 400, 12130)["message"] == STRICT_OFF
    assert ok(client.get(url, headers=auth))["strict_service_token_auth"] is True


@pytest.fixture
def legacy_client(service: UseCases) -> Iterator[TestClient]:
    """The API of a server whose new organizations are legacy (pre-2026-10-05) ones."""
    legacy = build_use_cases(service.database, legacy_organizations=True)
    with TestClient(create_app(legacy), raise_server_exceptions=False) as client:
        yield client


def test_legacy_organizations_start_non_strict_and_may_toggle(
    legacy_client: TestClient, client: TestClient, world: World
) -> None:
    url, auth = org_url(world), headers(world, "account")
    created = ok(
        legacy_client.post(url, json={"name": "L", "auth_domain": team()}, headers=auth), 201
    )
    assert created["strict_service_token_auth"] is False
    on = ok(legacy_client.put(url, json={"strict_service_token_auth": True}, headers=auth))
    assert on["strict_service_token_auth"] is True
    # The rule is the organization's (when it was created), not the server's current one.
    off = ok(client.put(url, json={"strict_service_token_auth": False}, headers=auth))
    assert off["strict_service_token_auth"] is False


def test_an_auth_domain_belongs_to_one_organization(client: TestClient, world: World) -> None:
    domain = team()
    ok(
        client.post(
            org_url(world),
            json={"name": "A", "auth_domain": domain},
            headers=headers(world, "account"),
        ),
        201,
    )
    other = f"/client/v4/accounts/{world.account_b}/access/organizations"
    taken = client.post(
        other,
        json={"name": "B", "auth_domain": domain.upper()},
        headers=world.bearer(world.write_b),
    )
    failure = error(taken, 409, 12130)
    assert failure["message"] == (
        "access.api.error.conflict: auth_domain is already in use by another organization"
    )
    assert taken.headers["x-should-retry"] == "false"
    # The holder may send its own domain back (a full PUT, as after a GET).
    same = client.put(
        org_url(world), json={"auth_domain": domain}, headers=headers(world, "account")
    )
    assert ok(same)["auth_domain"] == domain


def test_read_credentials_read_but_do_not_write(client: TestClient, world: World) -> None:
    url = org_url(world)
    ok(
        client.put(
            url, json={"name": "T", "auth_domain": team()}, headers=headers(world, "account")
        )
    )
    read = world.bearer(world.read_a)
    assert ok(client.get(url, headers=read))["name"] == "T"
    error(client.put(url, json={"name": "X"}, headers=read), 403, 10000)
    error(client.post(url, json={"name": "X", "auth_domain": team()}, headers=read), 403, 10000)
    error(client.patch(url, json={"name": "X"}, headers=read), 403, 10000)
    error(client.delete(url, headers=read), 405, 10000)
