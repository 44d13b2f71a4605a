"""No credential for account/zone B (or a Read one) can read, list, change or delete A's tokens."""

from __future__ import annotations

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
