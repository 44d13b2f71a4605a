"""Applications of an organization without strict service-token authentication: the cookie,
failed credentials treated as absent, the 401 / custom-URL / login answers, JWT reuse only
where an Allow policy exists, the policy's session duration, and `revoke_tokens`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.tokens import ServiceToken
from tests.gate.access_world import (
    EVERYONE,
    app,
    assertion_claims,
    make_org,
    rule_token,
    service_auth,
)
from tests.gate.conftest import GateFactory, Tenant, creds, until

AUTH_DOMAIN = "relaxed.gate-tests.example"
ISSUER = f"https://{AUTH_DOMAIN}"


@dataclass
class World:
    gate: str
    token: ServiceToken
    secret: str
    apps: dict[str, AppWithPolicies]
    second: tuple[ServiceToken, str]
    """Another token Service Auth admits to mixed.test (disabled by a test)."""

    def get(self, host: str, **headers: str) -> httpx.Response:
        return httpx.get(self.gate + "/x", headers={"Host": host, **headers})

    @property
    def creds(self) -> dict[str, str]:
        return creds(self.token.client_id, self.secret)


@pytest.fixture(scope="module")
def world(tenant: Tenant, start_gate: GateFactory, upstream: str) -> World:
    make_org(tenant, AUTH_DOMAIN, strict=False)
    token, secret = tenant.token("relaxed")
    second = tenant.token("second")
    mine = rule_token(token.id)
    allow = {"name": "people", "decision": "allow", "include": [EVERYONE]}
    apps = {
        "svc": app(tenant, "svc.test", [service_auth(mine, session_duration="30m")]),
        "mixed": app(tenant, "mixed.test", [service_auth(mine, rule_token(second[0].id)), allow]),
        "r401": app(tenant, "r401.test", [service_auth(mine)], service_auth_401_redirect=True),
        "deny-url": app(
            tenant,
            "deny-url.test",
            [service_auth(mine)],
            custom_non_identity_deny_url="https://deny.example/sorry",
        ),
    }
    routes = tuple((f"{name}.test", upstream) for name in apps)
    return World(start_gate(upstream=None, routes=routes), token, secret, apps, second)


def _assertion(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    (assertion,) = body["headers"]["cf-access-jwt-assertion"]
    return str(assertion)


def _cookie_jwt(response: httpx.Response) -> str:
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("CF_Authorization=")
    return cookie.split(";")[0].removeprefix("CF_Authorization=")


def test_an_admitted_token_is_offered_the_cookie_once(world: World) -> None:
    first = world.get("svc.test", **world.creds)
    jwt = _cookie_jwt(first)
    assert jwt == _assertion(first)
    claims = assertion_claims(world.gate, jwt, aud=world.apps["svc"].app.aud, iss=ISSUER)
    assert claims["exp"] - claims["iat"] == 30 * 60  # the admitting policy's session_duration
    again = world.get("svc.test", **world.creds, Cookie=f"CF_Authorization={jwt}")
    assert _assertion(again) == jwt
    assert "set-cookie" not in again.headers


def test_credentials_that_fail_are_treated_as_absent(world: World) -> None:
    response = world.get("svc.test", **creds(world.token.client_id, "f" * 64))
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{ISSUER}/cdn-cgi/access/login/svc.test?")


def test_the_answers_when_nothing_admits(world: World) -> None:
    refused = world.get("r401.test")
    assert refused.status_code == 401
    assert refused.json()["reason"] == "no policy admits"
    elsewhere = world.get("deny-url.test")
    assert elsewhere.status_code == 302
    assert elsewhere.headers["location"] == "https://deny.example/sorry"


def test_a_jwt_is_reused_only_on_its_application_and_only_with_an_allow_policy(
    world: World,
) -> None:
    svc_jwt = _assertion(world.get("svc.test", **world.creds))
    assert world.get("svc.test", **{"cf-access-token": svc_jwt}).status_code == 302
    mixed_jwt = _assertion(world.get("mixed.test", **world.creds))
    reused = world.get("mixed.test", Cookie=f"CF_Authorization={mixed_jwt}")
    assert _assertion(reused) == mixed_jwt  # the session's own JWT is forwarded
    assert "set-cookie" not in reused.headers
    assert world.get("mixed.test", **{"cf-access-token": svc_jwt}).status_code == 302


def test_revoke_tokens_ends_sessions_but_not_credentials(world: World, tenant: Tenant) -> None:
    jwt = _assertion(world.get("mixed.test", **world.creds))
    assert world.get("mixed.test", **{"cf-access-token": jwt}).status_code == 200
    tenant.service.applications.revoke_tokens(
        tenant.principal, tenant.ref, world.apps["mixed"].app.id
    )
    until(lambda: world.get("mixed.test", **{"cf-access-token": jwt}).status_code == 302, within=1)
    fresh = _assertion(world.get("mixed.test", **world.creds))
    assert fresh != jwt
    assert world.get("mixed.test", **{"cf-access-token": fresh}).status_code == 200


def test_a_session_ends_with_its_token(world: World, tenant: Tenant) -> None:
    token, secret = world.second
    jwt = _assertion(world.get("mixed.test", **creds(token.client_id, secret)))
    assert world.get("mixed.test", **{"cf-access-token": jwt}).status_code == 200
    tenant.update(token, name=token.name, enabled=False)
    until(lambda: world.get("mixed.test", **{"cf-access-token": jwt}).status_code == 302, within=1)
