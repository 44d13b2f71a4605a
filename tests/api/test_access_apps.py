"""Self-hosted Access applications over HTTP (`/{accounts|zones}/{id}/access/apps`), on
SQLite and PostgreSQL: every operation, the defaults, the errors, hostnames claimed once."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.usecases.facade import UseCases
from tests.api.access_helpers import apps_url, policies_url, policy_body
from tests.api.test_service_tokens import UUID_RE, V4, error, ok, parse_ts
from tests.conftest import World

SCOPES = ["account", "zone"]
INVALID_TYPE = "access.api.error.invalid_request: app type is missing or invalid"


def auth(world: World, scope: str = "account") -> dict[str, str]:
    return world.bearer(world.write_a if scope == "account" else world.write_zone_a)


def host(scope: str = "account") -> str:
    """A hostname no other test uses (inside zone A's `a.example` for zone apps)."""
    label = uuid.uuid4().hex[:12]
    return f"{label}.a.example" if scope == "zone" else f"{label}.example.com"


def make_app(client: TestClient, world: World, scope: str = "account", **fields: Any) -> Any:
    body = {"type": "self_hosted", "domain": host(scope), **fields}
    return ok(client.post(apps_url(world, scope), json=body, headers=auth(world, scope)), 201)


def make_policy(client: TestClient, world: World, **overrides: Any) -> Any:
    body = policy_body(**overrides)
    return ok(client.post(policies_url(world), json=body, headers=auth(world)), 201)


@pytest.mark.parametrize("scope", SCOPES)
def test_create_fills_defaults_and_read_only_fields(
    client: TestClient, world: World, scope: str
) -> None:
    domain = host(scope)
    app = ok(
        client.post(
            apps_url(world, scope),
            json={"type": "self_hosted", "domain": domain},
            headers=auth(world, scope),
        ),
        201,
    )
    assert UUID_RE.match(app["id"])
    assert re.fullmatch(r"[0-9a-f]{64}", app["aud"])
    assert app == {
        "id": app["id"],
        "aud": app["aud"],
        "type": "self_hosted",
        "domain": domain,
        "name": domain,
        "destinations": [{"type": "public", "uri": domain}],
        "self_hosted_domains": [domain],
        "session_duration": "24h",
        "service_auth_401_redirect": False,
        "options_preflight_bypass": False,
        "http_only_cookie_attribute": True,
        "path_cookie_attribute": False,
        "enable_binding_cookie": False,
        "auto_redirect_to_identity": False,
        "app_launcher_visible": True,
        "eager_redirect_cookie_setting": True,
        "allowed_idps": [],
        "tags": [],
        "created_at": app["created_at"],
        "updated_at": app["created_at"],
        "policies": [],
    }
    parse_ts(app["created_at"])
    assert (
        ok(client.get(f"{apps_url(world, scope)}/{app['id']}", headers=auth(world, scope))) == app
    )


def test_every_documented_field_is_stored_and_echoed(client: TestClient, world: World) -> None:
    domain = host()
    fields: dict[str, Any] = {
        "name": "Every field",
        "destinations": [
            {"type": "public", "uri": domain},
            {"type": "public", "uri": f"{domain}/admin/*"},
            {"type": "private", "cidr": "10.0.0.0/8", "l4_protocol": "tcp", "port_range": "443"},
            {"type": "via_mcp_server_portal", "mcp_server_id": "m1"},
            {"type": "worker", "worker_id": "w1"},
        ],
        "self_hosted_domains": [domain],
        "session_duration": "8h",
        "service_auth_401_redirect": True,
        "read_service_tokens_from_header": "X-Service-Token",
        "custom_non_identity_deny_url": "https://deny.example/",
        "options_preflight_bypass": False,
        "cors_headers": {
            "allow_all_headers": True,
            "allowed_methods": ["GET", "POST"],
            "allowed_origins": ["https://a.example"],
            "max_age": 600,
        },
        "http_only_cookie_attribute": False,
        "same_site_cookie_attribute": "strict",
        "path_cookie_attribute": True,
        "enable_binding_cookie": True,
        "custom_deny_url": "https://deny.example/x",
        "custom_deny_message": "no",
        "custom_pages": ["p1"],
        "allowed_idps": ["idp"],
        "auto_redirect_to_identity": True,
        "app_launcher_visible": False,
        "logo_url": "https://logo.example/l.png",
        "skip_interstitial": True,
        "allow_authenticate_via_warp": True,
        "allow_iframe": False,
        "eager_redirect_cookie_setting": False,
        "use_clientless_isolation_app_launcher_url": True,
        "mfa_config": {"allowed_authenticators": ["totp"], "mfa_disabled": True},
        "oauth_configuration": {"enabled": True, "grant": {"access_token_lifetime": "5m"}},
        "scim_config": {"idp_uid": "i", "remote_uri": "https://scim.example", "enabled": False},
        "tags": ["engineering"],
    }
    app = make_app(client, world, domain=domain, **fields)
    assert {k: app[k] for k in fields} == fields
    assert app["domain"] == domain


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"domain": "x.example.com"},
        {"type": None, "domain": "x.example.com"},
        {"type": 1, "domain": "x.example.com"},
        *(
            {"type": kind, "domain": "x.example.com"}
            for kind in (
                "saas",
                "ssh",
                "vnc",
                "app_launcher",
                "warp",
                "biso",
                "bookmark",
                "dash_sso",
                "infrastructure",
                "rdp",
                "mcp",
                "mcp_portal",
                "proxy_endpoint",
                "SELF_HOSTED",
            )
        ),
    ],
)
def test_other_types_are_refused_with_the_real_message(
    client: TestClient, world: World, body: dict[str, Any]
) -> None:
    response = client.post(apps_url(world), json=body, headers=auth(world))
    assert error(response, 400, 12130)["message"] == INVALID_TYPE


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"domain": None}, "domain is required"),
        ({"domain": "not a host"}, "is not a hostname"),
        ({"domain": "a**.example.com"}, "more than one * in a label"),
        ({"domain": "https://x.example.com"}, "is not a hostname"),
        ({"name": "x" * 351}, "limit is 350"),
        ({"session_duration": "forever"}, "session_duration"),
        ({"service_auth_401_redirect": "true"}, "service_auth_401_redirect must be a boolean"),
        ({"tags": "t"}, "tags must be an array of strings"),
        ({"read_service_tokens_from_header": "a header"}, "must be an HTTP header name"),
        ({"same_site_cookie_attribute": "sometimes"}, "strict, lax, none"),
        ({"scim_config": {"idp_uid": "i"}}, "scim_config.remote_uri is required"),
        ({"cors_headers": [], "options_preflight_bypass": True}, "cors_headers must be an object"),
        (
            {"cors_headers": {}, "options_preflight_bypass": True},
            "options_preflight_bypass cannot be turned on if cors_headers is set",
        ),
        ({"destinations": [{"uri": "x.example.com"}]}, "destinations[0].type must be one of"),
        ({"destinations": [{"type": "public"}]}, "destinations[0].uri is required"),
        ({"destinations": {"type": "public"}}, "destinations must be an array"),
        ({"self_hosted_domains": ["bad host"]}, "self_hosted_domains[0]"),
        ({"policies": "p"}, "policies must be an array"),
        ({"policies": [7]}, "policies[0] must be a policy id or an object"),
        ({"policies": [{"precedence": 1}]}, "policies[0] needs the id of the policy to link"),
        ({"policies": [{"id": "x", "precedence": "1"}]}, "precedence must be an integer"),
    ],
)
def test_invalid_bodies_are_400_12130(
    client: TestClient, world: World, change: dict[str, Any], detail: str
) -> None:
    body: dict[str, Any] = {"type": "self_hosted", "domain": host()}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post(apps_url(world), json=body, headers=auth(world))
    assert detail in error(response, 400, 12130)["message"]


def test_destinations_and_self_hosted_domains_fill_each_other(
    client: TestClient, world: World
) -> None:
    first, second = host(), host()
    from_hosted = make_app(client, world, domain=first, self_hosted_domains=[first, second])
    assert from_hosted["destinations"] == [
        {"type": "public", "uri": first},
        {"type": "public", "uri": second},
    ]
    third = host()
    destinations = [{"type": "public", "uri": f"{third}/api"}, {"type": "private", "cidr": "10/8"}]
    from_destinations = make_app(client, world, domain=third, destinations=destinations)
    assert from_destinations["destinations"] == destinations
    assert from_destinations["self_hosted_domains"] == [f"{third}/api"]


def test_a_hostname_and_path_belong_to_one_application(client: TestClient, world: World) -> None:
    domain = host()
    make_app(client, world, domain=domain)
    for claimed in (domain.upper(), f"{domain}/", f"{domain}/*"):
        response = client.post(
            apps_url(world), json={"type": "self_hosted", "domain": claimed}, headers=auth(world)
        )
        failure = error(response, 409, 11010)
        assert failure["message"] == "access.api.error.application_already_exists"
        assert response.headers["x-should-retry"] == "false"
    # A destination other than the domain has its own message.
    other_domain = host()
    response = client.post(
        apps_url(world),
        json={
            "type": "self_hosted",
            "domain": other_domain,
            "destinations": [
                {"type": "public", "uri": other_domain},
                {"type": "public", "uri": f"{domain}/*"},
            ],
        },
        headers=auth(world),
    )
    failure = error(response, 409, 11010)
    assert failure["message"] == (
        "access.api.error.conflict: destination belongs to another application"
    )
    assert response.headers["x-should-retry"] == "false"
    make_app(client, world, domain=other_domain)  # nothing of the refused one was kept
    # Another path of the host is another application's to claim; so is the host elsewhere.
    make_app(client, world, domain=f"{domain}/admin")
    other = client.post(
        f"{V4}/accounts/{world.account_b}/access/apps",
        json={"type": "self_hosted", "domain": domain},
        headers=world.bearer(world.write_b),
    )
    ok(other, 201)
    # A zone application of the same account competes for the same hostnames.
    zone_host = host("zone")
    make_app(client, world, domain=zone_host)
    zone = client.post(
        apps_url(world, "zone"),
        json={"type": "self_hosted", "domain": zone_host},
        headers=auth(world, "zone"),
    )
    error(zone, 409, 11010)


def test_a_zone_application_stays_in_its_zone(client: TestClient, world: World) -> None:
    response = client.post(
        apps_url(world, "zone"),
        json={"type": "self_hosted", "domain": host()},
        headers=auth(world, "zone"),
    )
    message = error(response, 400, 12130)["message"]
    assert message == "access.api.error.invalid_request: domain does not belong to zone"
    make_app(client, world, "zone", domain="a.example/exact-apex")
    make_app(client, world, "zone", domain=f"*.{uuid.uuid4().hex[:8]}.a.example")


def test_put_replaces_everything_but_id_aud_created_at_and_unsent_policies(
    client: TestClient, world: World
) -> None:
    policy = make_policy(client, world)
    app = make_app(
        client, world, name="First", service_auth_401_redirect=True, policies=[policy["id"]]
    )
    url = f"{apps_url(world)}/{app['id']}"
    new_domain = host()
    updated = ok(
        client.put(url, json={"type": "self_hosted", "domain": new_domain}, headers=auth(world))
    )
    assert updated["id"] == app["id"]
    assert updated["aud"] == app["aud"]
    assert updated["created_at"] == app["created_at"]
    assert parse_ts(updated["updated_at"]) > parse_ts(app["updated_at"])
    assert updated["name"] == new_domain  # omitted: back to the default
    assert updated["service_auth_401_redirect"] is False
    assert updated["destinations"] == [{"type": "public", "uri": new_domain}]
    assert [p["id"] for p in updated["policies"]] == [policy["id"]]  # absent: kept
    # The old hostname is free again.
    make_app(client, world, domain=app["domain"])
    cleared = ok(
        client.put(
            url,
            json={"type": "self_hosted", "domain": new_domain, "policies": []},
            headers=auth(world),
        )
    )
    assert cleared["policies"] == []
    assert (
        ok(client.get(f"{policies_url(world)}/{policy['id']}", headers=auth(world)))["app_count"]
        == 0
    )
    saas = client.put(url, json={"type": "saas", "domain": new_domain}, headers=auth(world))
    assert error(saas, 400, 12130)["message"] == INVALID_TYPE


def test_get_then_put_round_trips_exactly(client: TestClient, world: World) -> None:
    first, second = make_policy(client, world, name="one"), make_policy(client, world, name="two")
    app = make_app(
        client,
        world,
        policies=[{"id": second["id"], "precedence": 2}, {"id": first["id"], "precedence": 1}],
        tags=["t"],
    )
    url = f"{apps_url(world)}/{app['id']}"
    fetched = ok(client.get(url, headers=auth(world)))
    # Terraform and SDK users send back what they read: expanded policies included.
    again = ok(client.put(url, json=fetched, headers=auth(world)))
    assert {k: v for k, v in again.items() if k != "updated_at"} == {
        k: v for k, v in fetched.items() if k != "updated_at"
    }
    counts = [
        ok(client.get(f"{policies_url(world)}/{p['id']}", headers=auth(world)))["app_count"]
        for p in (first, second)
    ]
    assert counts == [1, 1]


def test_delete_is_202_then_404_and_frees_its_policies(client: TestClient, world: World) -> None:
    policy = make_policy(client, world)
    app = make_app(client, world, policies=[policy["id"]])
    policy_url = f"{policies_url(world)}/{policy['id']}"
    refused = client.delete(policy_url, headers=auth(world))
    failure = error(refused, 409, 12130)
    assert failure["message"] == (
        "access.api.error.conflict: policy is used by one or more applications"
    )
    assert refused.headers["x-should-retry"] == "false"
    url = f"{apps_url(world)}/{app['id']}"
    headers = {**auth(world), "content-type": "application/json"}
    assert ok(client.delete(url, headers=headers), 202) == {"id": app["id"]}
    error(client.get(url, headers=headers), 404, 12135)
    error(client.delete(url, headers=headers), 404, 12135)
    assert ok(client.get(policy_url, headers=headers))["app_count"] == 0
    assert ok(client.delete(policy_url, headers=headers), 202) == {"id": policy["id"]}
    make_app(client, world, domain=app["domain"])  # its hostname is free


@pytest.mark.parametrize("scope", SCOPES)
def test_revoke_tokens_is_202_with_a_null_result(
    client: TestClient, world: World, scope: str
) -> None:
    app = make_app(client, world, scope)
    url = f"{apps_url(world, scope)}/{app['id']}/revoke_tokens"
    headers = {**auth(world, scope), "content-type": "application/json"}
    assert ok(client.post(url, headers=headers), 202) is None
    error(
        client.post(f"{apps_url(world, scope)}/{uuid.uuid4()}/revoke_tokens", headers=headers),
        404,
        12135,
    )


def test_account_and_zone_applications_are_apart(client: TestClient, world: World) -> None:
    zone_app = make_app(client, world, "zone")
    account_app = make_app(client, world)
    error(client.get(f"{apps_url(world)}/{zone_app['id']}", headers=auth(world)), 404, 12135)
    error(
        client.get(f"{apps_url(world, 'zone')}/{account_app['id']}", headers=auth(world, "zone")),
        404,
        12135,
    )
    zone_ids = [
        a["id"] for a in ok(client.get(apps_url(world, "zone"), headers=auth(world, "zone")))
    ]
    assert zone_app["id"] in zone_ids
    assert account_app["id"] not in zone_ids


# Fixed values: parallel runs (pytest-xdist) need every worker to collect the same ids.
@pytest.mark.parametrize(
    "app_id",
    ["5b0c7a1e-3f6d-4e2a-9c8b-1d2e3f4a5b6c", "nope", "0" * 32],
    ids=["unknown", "malformed", "zeros"],
)
def test_unknown_or_malformed_ids_are_404_12135(
    client: TestClient, world: World, app_id: str
) -> None:
    url = f"{apps_url(world)}/{app_id}"
    assert error(client.get(url, headers=auth(world)), 404, 12135)["message"] == (
        "access.api.error.not_found"
    )
    body = {"type": "self_hosted", "domain": host()}
    error(client.put(url, json=body, headers=auth(world)), 404, 12135)


def test_list_filters_and_pages(client: TestClient, world: World) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [
        make_app(client, world, name=f"{tag} Alpha", domain=f"alpha-{tag}.example.com"),
        make_app(client, world, name=f"{tag} beta", domain=f"beta-{tag}.example.com"),
        make_app(client, world, name=f"{tag} gamma", domain=f"gamma-{tag}.example.org"),
    ]
    url, headers = apps_url(world), world.bearer(world.read_a)

    def ids(**params: Any) -> list[str]:
        return [a["id"] for a in ok(client.get(url, params=params, headers=headers))]

    assert ids(name=f"{tag} ALPHA") == [made[0]["id"]]
    assert ids(name=tag) == [a["id"] for a in made]
    assert ids(name=f"{tag} Alpha", exact="true") == [made[0]["id"]]
    assert ids(name=f"{tag} alpha", exact="true") == []
    assert ids(domain=f"{tag}.example.com") == [made[0]["id"], made[1]["id"]]
    assert ids(domain=f"beta-{tag}.example.com", exact="true") == [made[1]["id"]]
    assert ids(aud=made[2]["aud"]) == [made[2]["id"]]
    assert ids(search=f"gamma-{tag}") == [made[2]["id"]]
    assert ids(search=f"{tag} BETA") == [made[1]["id"]]
    assert ids(search="100%_") == []
    assert ids(name=tag, target_attributes="ignored") == [a["id"] for a in made]
    pages = [ids(name=tag, per_page=2, page=n) for n in (1, 2, 3)]
    assert pages == [[made[0]["id"], made[1]["id"]], [made[2]["id"]], []]
    info = client.get(url, params={"name": tag, "per_page": 2}, headers=headers).json()
    assert info["result_info"] == {
        "page": 1,
        "per_page": 2,
        "count": 2,
        "total_count": 3,
        "total_pages": 2,
    }
    error(client.get(url, params={"exact": "yes"}, headers=headers), 400, 12130)


def test_the_application_limit_is_a_setting(service: UseCases, world: World) -> None:
    limited = build_use_cases(service.database, max_applications=1)
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        make_app(client, world)
        response = client.post(
            apps_url(world, "zone"),
            json={"type": "self_hosted", "domain": host("zone")},
            headers=auth(world, "zone"),
        )
        assert error(response, 400, 12130)["message"] == (
            "access.api.error.invalid_request: maximum number of applications has been reached"
        )


def test_read_credentials_cannot_write(client: TestClient, world: World) -> None:
    app = make_app(client, world)
    read = world.bearer(world.read_a)
    url = f"{apps_url(world)}/{app['id']}"
    body = {"type": "self_hosted", "domain": host()}
    assert ok(client.get(url, headers=read))["id"] == app["id"]
    error(client.post(apps_url(world), json=body, headers=read), 403, 10000)
    error(client.put(url, json=body, headers=read), 403, 10000)
    error(client.delete(url, headers=read), 403, 10000)
    error(client.post(f"{url}/revoke_tokens", headers=read), 403, 10000)
