"""Real nginx `auth_request` (the documented configuration) in front of a gate serving
applications: the gate decides by the host nginx forwards and the URI it sends."""

from __future__ import annotations

from collections.abc import Iterator

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
from tests.gate.conftest import GateFactory, Tenant, creds
from tests.gate.test_nginx import running_nginx

pytestmark = pytest.mark.nginx

ISSUER = "https://nginx.gate-tests.example"


@pytest.fixture(scope="module")
def world(
    tenant: Tenant,
    tmp_path_factory: pytest.TempPathFactory,
    start_gate: GateFactory,
    upstream: str,
) -> Iterator[tuple[str, str, tuple[ServiceToken, str], dict[str, AppWithPolicies]]]:
    make_org(tenant, ISSUER.removeprefix("https://"))
    token = tenant.token("nginx")
    other = tenant.token("other")
    apps = {
        "a": app(tenant, "a.test", [service_auth(rule_token(token[0].id))]),
        "admin": app(tenant, "a.test/admin", [service_auth(rule_token(other[0].id))]),
        "open": app(
            tenant, "open.test", [{"name": "o", "decision": "bypass", "include": [EVERYONE]}]
        ),
    }
    gate = start_gate(upstream=None)  # forward-auth only: no route
    with running_nginx(tmp_path_factory.mktemp("nginx-apps"), gate, upstream) as url:
        yield url, gate, token, apps


def test_nginx_asks_the_gate_about_the_host_and_uri_it_serves(
    world: tuple[str, str, tuple[ServiceToken, str], dict[str, AppWithPolicies]],
) -> None:
    nginx, gate, (token, secret), apps = world
    headers = creds(token.client_id, secret)
    response = httpx.get(f"{nginx}/x?y=1", headers={"Host": "a.test", **headers})
    assert response.status_code == 200, response.text
    (assertion,) = response.json()["headers"]["cf-access-jwt-assertion"]
    aud = apps["a"].app.aud
    assert assertion_claims(gate, assertion, aud=aud, iss=ISSUER)["common_name"] == token.client_id
    admin = httpx.get(f"{nginx}/admin/x", headers={"Host": "a.test", **headers})
    assert admin.status_code == 403  # a.test/admin is another application
    bypass = httpx.get(f"{nginx}/", headers={"Host": "open.test"})
    assert bypass.status_code == 200
    assert "cf-access-jwt-assertion" not in bypass.json()["headers"]
    assert httpx.get(f"{nginx}/", headers={"Host": "nowhere.test", **headers}).status_code == 403
    assert httpx.get(f"{nginx}/", headers={"Host": "a.test"}).status_code == 401  # login
