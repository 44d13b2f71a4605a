"""One gate guarding every Access application of an account (strict organization), in front
of a real upstream: each token reaches only its application, Bypass needs no token, Allow
refuses tokens, Block, unknown hosts, path applications, single-header mode, JWTs for the
application's `aud` and the organization's issuer, and changes within a second."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
import pytest

from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.permissions import ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.usecases.authorization import ContainerRef
from tests.gate.access_world import (
    ANY_TOKEN,
    EVERYONE,
    app,
    assertion_claims,
    delete_app,
    make_org,
    reusable,
    rule_token,
    service_auth,
)
from tests.gate.conftest import GateFactory, Tenant, creds, until

AUTH_DOMAIN = "team.gate-tests.example"
ISSUER = f"https://{AUTH_DOMAIN}"


@dataclass
class World:
    gate: str
    tokens: dict[str, tuple[ServiceToken, str]]
    apps: dict[str, AppWithPolicies]
    policy_b: str
    """The reusable policy application B links (edited by a test)."""

    def creds(self, name: str) -> dict[str, str]:
        token, secret = self.tokens[name]
        return creds(token.client_id, secret)

    def get(self, host: str, path: str = "/x", **headers: str) -> httpx.Response:
        return httpx.get(self.gate + path, headers={"Host": host, **headers})


@pytest.fixture(scope="module")
def world(tenant: Tenant, start_gate: GateFactory, upstream: str) -> World:
    make_org(tenant, AUTH_DOMAIN, strict=True)
    tokens = {name: tenant.token(name) for name in ("a", "b", "c")}
    ids = {name: pair[0].id for name, pair in tokens.items()}
    policy_b = reusable(tenant, "non_identity", rule_token(ids["b"]))
    apps = {
        "a": app(tenant, "a.test", [service_auth(rule_token(ids["a"]))]),
        "a-admin": app(tenant, "a.test/admin", [service_auth(rule_token(ids["b"]))]),
        "b": app(tenant, "b.test", [policy_b.policy.id]),
        "open": app(
            tenant, "open.test", [{"name": "o", "decision": "bypass", "include": [EVERYONE]}]
        ),
        "human": app(
            tenant, "human.test", [{"name": "h", "decision": "allow", "include": [EVERYONE]}]
        ),
        "blocked": app(
            tenant,
            "blocked.test",
            [
                service_auth(rule_token(ids["a"])),
                {"name": "x", "decision": "deny", "include": [EVERYONE]},
            ],
        ),
        "header": app(
            tenant,
            "header.test",
            [service_auth(ANY_TOKEN)],
            read_service_tokens_from_header="X-Svc-Token",
        ),
        "wild": app(tenant, "*.wild.test", [service_auth(rule_token(ids["c"]))]),
        "unrouted": app(tenant, "unrouted.test", [service_auth(ANY_TOKEN)]),
        "gone": app(tenant, "gone.test", [service_auth(rule_token(ids["a"]))]),
    }
    same = ("a.test", "open.test", "human.test", "blocked.test", "header.test", "gone.test")
    routes = (
        *((host, upstream) for host in same),
        ("b.test", upstream + "/b-base"),
        ("*.wild.test", upstream),
    )
    gate = start_gate(upstream=None, routes=routes)
    return World(gate, tokens, apps, policy_b.policy.id)


def _echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers.get("x-upstream") == "yes", response.text
    body: dict[str, Any] = response.json()
    return body


def _refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert "x-upstream" not in response.headers
    assert response.json()["reason"] == reason


def test_each_token_reaches_only_its_application(world: World) -> None:
    seen = _echo(world.get("a.test", "/x?q=1", **world.creds("a")))
    assert seen["path"] == "/x"
    assert seen["query"] == "q=1"
    seen_b = _echo(world.get("b.test", "/y", **world.creds("b")))
    assert seen_b["path"] == "/b-base/y"  # b.test's route
    strict = "no service auth or bypass policy admits the token"
    _refused(world.get("b.test", **world.creds("a")), 403, strict)
    _refused(world.get("a.test", **world.creds("b")), 403, strict)
    _refused(world.get("a.test", **world.creds("c")), 403, strict)


def test_the_jwt_is_the_applications_and_validates_with_pyjwt(world: World) -> None:
    for name, host in (("a", "a.test"), ("b", "b.test")):
        response = world.get(host, **world.creds(name))
        assert "set-cookie" not in response.headers  # strict: no cookie
        (assertion,) = _echo(response)["headers"]["cf-access-jwt-assertion"]
        aud = world.apps[name].app.aud
        claims = assertion_claims(world.gate, assertion, aud=aud, iss=ISSUER)
        assert claims["aud"] == [aud]
        assert claims["common_name"] == world.tokens[name][0].client_id
        assert claims["type"] == "app"
        assert claims["sub"] == ""
        assert claims["exp"] - claims["iat"] == 24 * 3600  # the policy's session_duration
        other = world.apps["b" if name == "a" else "a"].app.aud
        with pytest.raises(jwt.InvalidAudienceError):  # not valid for the other application
            assertion_claims(world.gate, assertion, aud=other, iss=ISSUER)


def test_the_most_specific_application_wins_by_path(world: World) -> None:
    assert _echo(world.get("a.test", "/admin/panel", **world.creds("b")))["path"] == "/admin/panel"
    strict = "no service auth or bypass policy admits the token"
    _refused(world.get("a.test", "/admin/panel", **world.creds("a")), 403, strict)
    _refused(world.get("a.test", "/ADMIN/./panel", **world.creds("a")), 403, strict)
    _echo(world.get("a.test", "/administrator", **world.creds("a")))  # another path
    response = world.get("a.test", "/admin/panel", **world.creds("b"))
    (assertion,) = _echo(response)["headers"]["cf-access-jwt-assertion"]
    aud = world.apps["a-admin"].app.aud
    assert assertion_claims(world.gate, assertion, aud=aud, iss=ISSUER)["aud"] == [aud]


def test_a_bypass_application_needs_no_token_and_carries_no_jwt(world: World) -> None:
    seen = _echo(world.get("open.test", **{"Cf-Access-Jwt-Assertion": "forged"}))
    assert "cf-access-jwt-assertion" not in seen["headers"]
    # Strict mode: credentials that do not authenticate are refused before any policy.
    _refused(
        world.get("open.test", **creds(world.tokens["a"][0].client_id, "f" * 64)),
        401,
        "invalid credentials",
    )


def test_an_allow_only_application_refuses_tokens(world: World) -> None:
    strict = "no service auth or bypass policy admits the token"
    _refused(world.get("human.test", **world.creds("a")), 403, strict)
    response = world.get("human.test", "/x?y=1")  # no token: the login page, as Cloudflare
    assert response.status_code == 302
    aud = world.apps["human"].app.aud
    assert response.headers["location"] == (
        f"{ISSUER}/cdn-cgi/access/login/human.test?kid={aud}&redirect_url=%2Fx%3Fy%3D1"
    )


def test_a_block_policy_refuses_and_service_auth_runs_first(world: World) -> None:
    _refused(world.get("blocked.test"), 403, "block policy")
    _echo(world.get("blocked.test", **world.creds("a")))  # Service Auth before Block
    _refused(
        world.get("blocked.test", **world.creds("b")),
        403,
        "no service auth or bypass policy admits the token",
    )


@pytest.mark.parametrize(
    "host", ["nowhere.test", "test", "wild.test", "a.b.wild.test", "a.test/x", "127.0.0.1"]
)
def test_a_host_without_an_application_is_refused(world: World, host: str) -> None:
    _refused(world.get(host, **world.creds("a")), 403, "no application for this host and path")


def test_hosts_match_ignoring_case_port_and_a_trailing_dot_and_wildcards_one_label(
    world: World,
) -> None:
    for host in ("A.Test", "a.test:8443", "a.test."):
        _echo(world.get(host, **world.creds("a")))
    seen = _echo(world.get("x.wild.test", **world.creds("c")))
    assert seen["headers"]["x-forwarded-host"] == ["x.wild.test"]


def test_an_application_without_a_route_is_decided_but_not_proxied(world: World) -> None:
    _refused(world.get("unrouted.test", **world.creds("a")), 502, "no upstream for this host")
    _refused(world.get("unrouted.test"), 302, "no policy admits")


def test_single_header_mode_is_per_application(world: World) -> None:
    token, secret = world.tokens["c"]
    value = {"cf-access-client-id": token.client_id, "cf-access-client-secret": secret}
    single = {"X-Svc-Token": orjson.dumps(value).decode()}
    seen = _echo(world.get("header.test", **single))
    assert "x-svc-token" not in seen["headers"]  # a credential: never forwarded
    # Elsewhere the header is no credential at all (and still never forwarded).
    assert world.get("a.test", **single).status_code == 302
    both = {**single, **world.creds("c")}
    _refused(world.get("header.test", **both), 401, "credentials in both header forms")


def test_unreadable_and_wrong_credentials_keep_their_reasons(world: World) -> None:
    token, _ = world.tokens["a"]
    _refused(world.get("a.test", **creds(token.client_id, "f" * 64)), 401, "invalid credentials")
    _refused(
        world.get("a.test", **{"CF-Access-Client-Id": token.client_id}),
        401,
        "incomplete credentials",
    )


def test_editing_a_policy_takes_effect_within_a_second(world: World, tenant: Tenant) -> None:
    token_a = world.tokens["a"][0]
    assert world.get("b.test", **world.creds("a")).status_code == 403
    tenant.service.policies.update(
        tenant.principal,
        tenant.ref,
        world.policy_b,
        {"name": "b", "decision": "non_identity", "include": [rule_token(token_a.id)]},
    )
    committed = time.monotonic()
    until(lambda: world.get("b.test", **world.creds("a")).status_code == 200, within=1)
    assert time.monotonic() - committed < 1
    assert world.get("b.test", **world.creds("b")).status_code == 403


def test_deleting_an_application_takes_effect_within_a_second(world: World, tenant: Tenant) -> None:
    assert world.get("gone.test", **world.creds("a")).status_code == 200
    delete_app(tenant, world.apps["gone"].app.id)
    until(lambda: world.get("gone.test", **world.creds("a")).status_code == 403, within=1)
    _refused(
        world.get("gone.test", **world.creds("a")), 403, "no application for this host and path"
    )


def test_a_configuration_that_is_no_longer_read_is_not_enforced(
    world: World, start_gate: GateFactory, upstream: str
) -> None:
    gate = start_gate(upstream=None, routes=(("a.test", upstream),))
    headers = {"Host": "a.test", **world.creds("a")}
    assert httpx.get(gate + "/x", headers=headers).status_code == 200
    access = start_gate.apps[gate].access
    assert access is not None
    access.follower.stop()  # as if the database could not be read any more
    until(lambda: httpx.get(gate + "/x", headers=headers).status_code == 503, within=5)
    _refused(httpx.get(gate + "/x", headers=headers), 503, "access configuration unavailable")
    assert httpx.get(gate + "/cdn-cgi/servicetokens/health").status_code == 503


def test_a_zone_application_is_signed_by_its_zones_organization_if_it_has_one(
    world: World, tenant: Tenant, start_gate: GateFactory, upstream: str
) -> None:
    zones = {}
    for name in ("own-org.test", "no-org.test"):
        zone_id = tenant.service.admin.create_zone(name, account_id=tenant.account)
        zones[name] = ContainerRef(ContainerKind.ZONE, zone_id, "/")
    tenant.service.organizations.update(
        tenant.principal,
        zones["own-org.test"],
        {"name": "zone org", "auth_domain": "zone.gate-tests.example"},
    )
    auds = {}
    for name, ref in zones.items():
        body = {
            "type": "self_hosted",
            "domain": f"app.{name}",
            "policies": [service_auth(ANY_TOKEN)],
        }
        auds[name] = tenant.service.applications.create(tenant.principal, ref, body).app.aud
    gate = start_gate(upstream=None, routes=tuple((f"app.{name}", upstream) for name in zones))
    for name, issuer in (
        ("own-org.test", "https://zone.gate-tests.example"),
        ("no-org.test", ISSUER),
    ):
        response = httpx.get(gate + "/x", headers={"Host": f"app.{name}", **world.creds("a")})
        (assertion,) = _echo(response)["headers"]["cf-access-jwt-assertion"]
        assert assertion_claims(gate, assertion, aud=auds[name], iss=issuer)["aud"] == [auds[name]]
