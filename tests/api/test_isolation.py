"""No credential for account/zone B (or a Read one) can read, list, change or delete A's tokens."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.test_service_tokens import V4, ok
from tests.conftest import World

Operation = Callable[[TestClient, str, dict[str, str]], Any]


def _collection(world: World, scope: str) -> str:
    container = world.account_a if scope == "accounts" else world.zone_a
    return f"{V4}/{scope}/{container}/access/service_tokens"


OPERATIONS: dict[str, tuple[bool, Callable[[TestClient, str, str, dict[str, str]], Any]]] = {
    # name: (needs write, call(client, collection url, token id, headers))
    "list": (False, lambda c, url, _id, h: c.get(url, headers=h)),
    "get": (False, lambda c, url, tid, h: c.get(f"{url}/{tid}", headers=h)),
    "create": (True, lambda c, url, _id, h: c.post(url, json={"name": "evil"}, headers=h)),
    "update": (
        True,
        lambda c, url, tid, h: c.put(f"{url}/{tid}", json={"name": "evil"}, headers=h),
    ),
    "delete": (True, lambda c, url, tid, h: c.delete(f"{url}/{tid}", headers=h)),
    "refresh": (True, lambda c, url, tid, h: c.post(f"{url}/{tid}/refresh", headers=h)),
    "rotate": (True, lambda c, url, tid, h: c.post(f"{url}/{tid}/rotate", json={}, headers=h)),
}

# credential name -> (headers builder, allowed on account A?, allowed on zone A?, may write?)
CREDENTIALS: dict[str, tuple[Callable[[World], dict[str, str]], bool, bool, bool]] = {
    "write_a": (lambda w: w.bearer(w.write_a), True, True, True),
    "read_a": (lambda w: w.bearer(w.read_a), True, True, False),
    "user_a": (lambda w: w.key(w.user_a), True, True, True),
    "write_zone_a": (lambda w: w.bearer(w.write_zone_a), False, True, True),
    "read_zone_a": (lambda w: w.bearer(w.read_zone_a), False, True, False),
    "write_b": (lambda w: w.bearer(w.write_b), False, False, True),
    "write_zone_b": (lambda w: w.bearer(w.write_zone_b), False, False, True),
    "user_b": (lambda w: w.key(w.user_b), False, False, True),
}


@pytest.mark.parametrize("scope", ["accounts", "zones"])
@pytest.mark.parametrize("credential", list(CREDENTIALS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_matrix(
    client: TestClient, world: World, scope: str, credential: str, operation: str
) -> None:
    url = _collection(world, scope)
    owner = world.bearer(world.write_a)
    victim = ok(client.post(url, json={"name": "victim"}, headers=owner), 201)
    make_headers, on_account, on_zone, may_write = CREDENTIALS[credential]
    needs_write, call = OPERATIONS[operation]
    allowed = (on_account if scope == "accounts" else on_zone) and (may_write or not needs_write)

    response = call(client, url, victim["id"], make_headers(world))
    if allowed:
        assert response.status_code in (200, 201), response.text
        return
    assert response.status_code == 403, response.text
    body = response.json()
    assert body == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    # Nothing changed, and nothing of A's leaked into the body.
    after = ok(client.get(f"{url}/{victim['id']}", headers=owner))
    assert after == {k: v for k, v in victim.items() if k != "client_secret"}
    assert victim["client_id"] not in response.text


def test_unknown_account_looks_like_a_foreign_one(client: TestClient, world: World) -> None:
    url = f"{V4}/accounts/{'0' * 32}/access/service_tokens"
    response = client.get(url, headers=world.bearer(world.write_a))
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == 10000


# -- the Access control plane: policies, applications, their policies, the organization ----

_APP = {"type": "self_hosted", "domain": "evil.example"}
_POLICY = {"name": "evil", "decision": "bypass", "include": [{"everyone": {}}]}

CONTROL_PLANE: dict[
    str, tuple[bool, bool, Callable[[TestClient, str, dict[str, str], dict[str, str]], Any]]
] = {
    # name: (needs write, account scope only, call(client, container url, victim ids, headers))
    "policies.list": (False, True, lambda c, u, v, h: c.get(f"{u}/policies", headers=h)),
    "policies.get": (
        False,
        True,
        lambda c, u, v, h: c.get(f"{u}/policies/{v['policy']}", headers=h),
    ),
    "policies.create": (
        True,
        True,
        lambda c, u, v, h: c.post(f"{u}/policies", json=_POLICY, headers=h),
    ),
    "policies.update": (
        True,
        True,
        lambda c, u, v, h: c.put(f"{u}/policies/{v['policy']}", json=_POLICY, headers=h),
    ),
    "policies.delete": (
        True,
        True,
        lambda c, u, v, h: c.delete(f"{u}/policies/{v['spare']}", headers=h),
    ),
    "apps.list": (False, False, lambda c, u, v, h: c.get(f"{u}/apps", headers=h)),
    "apps.get": (False, False, lambda c, u, v, h: c.get(f"{u}/apps/{v['app']}", headers=h)),
    "apps.create": (
        True,
        False,
        lambda c, u, v, h: c.post(
            f"{u}/apps", json={**_APP, "domain": v["free_domain"]}, headers=h
        ),
    ),
    "apps.update": (
        True,
        False,
        lambda c, u, v, h: c.put(
            f"{u}/apps/{v['app']}", json={**_APP, "domain": v["domain"]}, headers=h
        ),
    ),
    "apps.delete": (True, False, lambda c, u, v, h: c.delete(f"{u}/apps/{v['app']}", headers=h)),
    "apps.revoke_tokens": (
        True,
        False,
        lambda c, u, v, h: c.post(f"{u}/apps/{v['app']}/revoke_tokens", headers=h),
    ),
    "app_policies.list": (
        False,
        False,
        lambda c, u, v, h: c.get(f"{u}/apps/{v['app']}/policies", headers=h),
    ),
    "app_policies.get": (
        False,
        False,
        lambda c, u, v, h: c.get(f"{u}/apps/{v['app']}/policies/{v['app_policy']}", headers=h),
    ),
    "app_policies.create": (
        True,
        False,
        lambda c, u, v, h: c.post(f"{u}/apps/{v['app']}/policies", json=_POLICY, headers=h),
    ),
    "app_policies.update": (
        True,
        False,
        lambda c, u, v, h: c.put(
            f"{u}/apps/{v['app']}/policies/{v['app_policy']}", json={"name": "evil"}, headers=h
        ),
    ),
    "app_policies.delete": (
        True,
        False,
        lambda c, u, v, h: c.delete(f"{u}/apps/{v['app']}/policies/{v['app_policy']}", headers=h),
    ),
    "organization.get": (False, False, lambda c, u, v, h: c.get(f"{u}/organizations", headers=h)),
    "organization.update": (
        True,
        False,
        lambda c, u, v, h: c.put(f"{u}/organizations", json={"name": "evil"}, headers=h),
    ),
    "organization.patch": (
        True,
        False,
        lambda c, u, v, h: c.patch(f"{u}/organizations", json={"name": "evil"}, headers=h),
    ),
}


def _victims(client: TestClient, world: World, url: str, scope: str) -> dict[str, str]:
    """A's objects in the container (`url`): an app with its own policy, an organization,
    and (account scope) reusable policies."""
    owner = world.bearer(world.write_a)
    suffix = secrets.token_hex(4)
    domain = f"victim-{suffix}.a.example"
    app = ok(client.post(f"{url}/apps", json={**_APP, "domain": domain}, headers=owner), 201)
    own = {"name": "own", "decision": "non_identity", "include": [{"everyone": {}}]}
    app_policy = ok(client.post(f"{url}/apps/{app['id']}/policies", json=own, headers=owner), 201)
    org = {"name": "victim", "auth_domain": f"{suffix}-{scope}.victims.example"}
    ok(client.put(f"{url}/organizations", json=org, headers=owner))
    ids = {
        "app": app["id"],
        "aud": app["aud"],
        "app_policy": app_policy["id"],
        "domain": domain,
        "free_domain": f"free-{suffix}.a.example",
    }
    if scope == "accounts":
        for key in ("policy", "spare"):
            ids[key] = ok(client.post(f"{url}/policies", json=own, headers=owner), 201)["id"]
    return ids


def _state(client: TestClient, world: World, url: str, scope: str) -> list[Any]:
    owner = world.bearer(world.write_a)
    paths = ["apps", "organizations"] + (["policies"] if scope == "accounts" else [])
    return [ok(client.get(f"{url}/{path}", headers=owner)) for path in paths]


@pytest.mark.parametrize("scope", ["accounts", "zones"])
@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_control_plane_matrix(
    client: TestClient, world: World, scope: str, credential: str
) -> None:
    container = world.account_a if scope == "accounts" else world.zone_a
    url = f"{V4}/{scope}/{container}/access"
    make_headers, on_account, on_zone, may_write = CREDENTIALS[credential]
    for operation, (needs_write, account_only, call) in CONTROL_PLANE.items():
        if account_only and scope == "zones":
            continue  # reusable policies exist at account scope only
        victims = _victims(client, world, url, scope)
        before = _state(client, world, url, scope)
        allowed = (on_account if scope == "accounts" else on_zone) and (
            may_write or not needs_write
        )
        response = call(client, url, victims, make_headers(world))
        if allowed:
            assert 200 <= response.status_code < 300, (operation, response.text)
            continue
        assert response.status_code == 403, (operation, response.text)
        assert response.json()["errors"] == [{"code": 10000, "message": "Authentication error"}]
        assert _state(client, world, url, scope) == before, operation
        for secret in (victims["app"], victims["aud"], victims["domain"]):
            assert secret not in response.text, operation
