"""The Host is the client's to choose: a gate serving applications matches on the host the
forwarding code validated (the `Host` header, or `X-Forwarded-Host` from a trusted proxy
only) and, for forward-auth, on the `X-Forwarded-Host` and `X-Forwarded-Uri` a trusted proxy
sends; an untrusted peer's `X-Forwarded-*` are ignored."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.settings import FORWARD_AUTH_PATH
from tests.gate.access_world import (
    EVERYONE,
    app,
    assertion_claims,
    make_org,
    rule_token,
    service_auth,
)
from tests.gate.conftest import GateFactory, Tenant, creds

AUTH_DOMAIN = "forward.gate-tests.example"
ISSUER = f"https://{AUTH_DOMAIN}"
NO_URI = "forward-auth needs X-Forwarded-Uri from a trusted proxy"


@dataclass
class World:
    trusting: str
    """A gate that trusts loopback proxies (the default): the tests' client is one."""
    distrusting: str
    """A gate started with `--trusted-proxy none`."""
    tokens: dict[str, tuple[ServiceToken, str]]
    apps: dict[str, AppWithPolicies]

    def creds(self, name: str) -> dict[str, str]:
        token, secret = self.tokens[name]
        return creds(token.client_id, secret)


@pytest.fixture(scope="module")
def world(tenant: Tenant, start_gate: GateFactory, upstream: str) -> World:
    make_org(tenant, AUTH_DOMAIN)
    tokens = {name: tenant.token(name) for name in ("a", "b")}
    apps = {
        "a": app(tenant, "a.test", [service_auth(rule_token(tokens["a"][0].id))]),
        "a-admin": app(tenant, "a.test/admin", [service_auth(rule_token(tokens["b"][0].id))]),
        "open": app(
            tenant, "open.test", [{"name": "o", "decision": "bypass", "include": [EVERYONE]}]
        ),
        "human": app(
            tenant, "human.test", [{"name": "h", "decision": "allow", "include": [EVERYONE]}]
        ),
    }
    routes = tuple((host, upstream) for host in ("a.test", "open.test", "human.test"))
    return World(
        start_gate(upstream=None, routes=routes),
        start_gate(upstream=None, routes=routes, trusted_proxies=("none",)),
        tokens,
        apps,
    )


def _authorize(gate: str, host: str, uri: str | None, **headers: str) -> httpx.Response:
    sent = {"X-Forwarded-Host": host, **headers}
    if uri is not None:
        sent["X-Forwarded-Uri"] = uri
    return httpx.get(gate + FORWARD_AUTH_PATH, headers=sent)


def test_forward_auth_decides_by_what_a_trusted_proxy_forwards(world: World) -> None:
    admitted = _authorize(world.trusting, "a.test", "/x?y=1", **world.creds("a"))
    assert admitted.status_code == 200, admitted.text
    aud = world.apps["a"].app.aud
    claims = assertion_claims(
        world.trusting, admitted.headers["cf-access-jwt-assertion"], aud=aud, iss=ISSUER
    )
    assert claims["common_name"] == world.tokens["a"][0].client_id
    assert _authorize(world.trusting, "a.test", "/admin/x", **world.creds("a")).status_code == 403
    by_path = _authorize(world.trusting, "a.test", "/admin/x", **world.creds("b"))
    assert by_path.status_code == 200
    aud = world.apps["a-admin"].app.aud
    assertion_claims(
        world.trusting, by_path.headers["cf-access-jwt-assertion"], aud=aud, iss=ISSUER
    )
    bypass = _authorize(world.trusting, "open.test", "/")
    assert bypass.status_code == 200
    assert "cf-access-jwt-assertion" not in bypass.headers
    unknown = _authorize(world.trusting, "nowhere.test", "/", **world.creds("a"))
    assert unknown.status_code == 403
    assert unknown.json()["reason"] == "no application for this host and path"


def test_forward_auth_answers_what_nginx_understands(world: World) -> None:
    # A login redirect becomes a 401 (nginx's auth_request takes only 2xx, 401 and 403),
    # keeping its Location.
    login = _authorize(world.trusting, "human.test", "/page")
    assert login.status_code == 401
    assert login.headers["location"].startswith(f"{ISSUER}/cdn-cgi/access/login/human.test?")
    missing = _authorize(world.trusting, "a.test", None, **world.creds("a"))
    assert missing.status_code == 403
    assert missing.json()["reason"] == NO_URI
    for bad in ("x", "http://a.test/x", "/a#b", "/" + "a" * 9000, "/a b"):
        refused = _authorize(world.trusting, "a.test", bad, **world.creds("a"))
        assert refused.status_code == 403, bad
        assert refused.json()["reason"] == NO_URI


def test_an_untrusted_peers_forwarded_host_and_uri_are_ignored(world: World) -> None:
    refused = _authorize(world.distrusting, "a.test", "/x", **world.creds("a"))
    assert refused.status_code == 403
    assert refused.json()["reason"] == NO_URI
    # Through the proxy path, the Host header decides, whatever X-Forwarded-Host says.
    spoofed = httpx.get(
        world.distrusting + "/x", headers={"Host": "human.test", "X-Forwarded-Host": "open.test"}
    )
    assert spoofed.status_code == 302
    assert "/cdn-cgi/access/login/human.test?" in spoofed.headers["location"]


def test_a_trusted_proxys_forwarded_host_is_believed_on_the_proxy_path(world: World) -> None:
    response = httpx.get(
        world.trusting + "/x", headers={"Host": "human.test", "X-Forwarded-Host": "open.test"}
    )
    assert response.status_code == 200
    assert response.json()["headers"]["x-forwarded-host"] == ["open.test"]


def test_a_host_that_is_not_a_host_name_matches_nothing(world: World) -> None:
    for host in ("open.test/evil", "open.test@a.test", "*.test", "open test"):
        response = httpx.get(world.distrusting + "/x", headers={"Host": host})
        assert response.status_code == 403, host
        assert response.json()["reason"] == "no application for this host and path"
