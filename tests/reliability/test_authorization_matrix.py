"""Authorization matrix beyond tests/api/test_isolation.py: credentials that must never reach
account A's tokens (revoked, absent, unknown, malformed, a non-member's key, a wrong key, the
zone token of another zone, a read token writing), for every endpoint in both scopes, and
ids of tokens that exist elsewhere. Each gets exactly its status and code, nothing changes,
and no body carries anything of A's tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import World
from tests.reliability.conftest import Api

OPERATIONS: dict[str, tuple[str, str, bool]] = {
    # name: (method, suffix after the collection, needs write)
    "list": ("GET", "", False),
    "create": ("POST", "", True),
    "get": ("GET", "/{id}", False),
    "update": ("PUT", "/{id}", True),
    "delete": ("DELETE", "/{id}", True),
    "refresh": ("POST", "/{id}/refresh", True),
    "rotate": ("POST", "/{id}/rotate", True),
}

Headers = Callable[[World], dict[str, str]]
# name: (headers, status, code, status/code when the operation only reads, if different)
CREDENTIALS: dict[str, tuple[Headers, int, int]] = {
    "no credentials": (lambda w: {}, 400, 9106),
    "revoked token of A": (lambda w: w.bearer(w.revoked_a), 403, 9109),
    "unknown token": (lambda w: w.bearer("stk_" + "0" * 64), 403, 9109),
    "malformed bearer": (lambda w: {"Authorization": "Bearer stk_!"}, 400, 6003),
    "non-member key (user of B)": (lambda w: w.key(w.user_b), 403, 10000),
    "member email, wrong key": (lambda w: w.key((w.user_a[0], "0" * 64)), 403, 9103),
    "member key, other email": (lambda w: w.key(("x" + w.user_a[0], w.user_a[1])), 403, 9103),
    "write token of B": (lambda w: w.bearer(w.write_b), 403, 10000),
    "zone token of another zone": (lambda w: w.bearer(w.write_zone_b), 403, 10000),
}
# Credentials of A that may read but not write: only the write operations are refused.
READ_ONLY: dict[str, Headers] = {
    "read token of A": lambda w: w.bearer(w.read_a),
    "read token of zone A": lambda w: w.bearer(w.read_zone_a),
}


def _request(api: Api, scope: str, operation: str, token_id: str, headers: dict[str, str]) -> Any:
    method, suffix, _ = OPERATIONS[operation]
    url = api.base(scope) + suffix.format(id=token_id)
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT") and operation != "refresh":
        kwargs["json"] = {"name": "evil", "duration": "1h"}
    return api.client.request(method, url, **kwargs)


def _assert_refused(response: Any, status: int, code: int, victims: list[dict[str, Any]]) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    assert body["result"] is None, body
    assert body["messages"] == [], body
    assert body["errors"][0]["code"] == code, body
    if code == 10000:
        assert body["errors"] == [{"code": 10000, "message": "Authentication error"}], body
    for victim in victims:
        for key in ("id", "client_id", "name"):
            assert victim[key] not in response.text, (key, response.text)


def _victims(api: Api) -> list[dict[str, Any]]:
    """A's tokens, named uniquely so a leak of the name would be seen."""
    for scope in ("accounts", "zones"):
        if scope not in api._victims:
            api._victims[scope] = api.create(f"victim-{secrets.token_hex(8)}", scope)
    return [api.victim("accounts"), api.victim("zones")]


@pytest.mark.parametrize("scope", ["accounts", "zones"])
@pytest.mark.parametrize("credential", list(CREDENTIALS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_refused(api: Api, scope: str, credential: str, operation: str) -> None:
    victims = _victims(api)
    before = {s: api.listing(s) for s in ("accounts", "zones")}
    make_headers, status, code = CREDENTIALS[credential]
    response = _request(api, scope, operation, api.victim(scope)["id"], make_headers(api.world))
    _assert_refused(response, status, code, victims)
    assert {s: api.listing(s) for s in ("accounts", "zones")} == before


@pytest.mark.parametrize("scope", ["accounts", "zones"])
@pytest.mark.parametrize("credential", list(READ_ONLY))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_read_credentials_cannot_write(
    api: Api, scope: str, credential: str, operation: str
) -> None:
    victims = _victims(api)
    if credential == "read token of zone A" and scope == "accounts":
        expected: tuple[int, int] | None = (403, 10000)  # a zone token never reaches its account
    elif OPERATIONS[operation][2]:
        expected = (403, 10000)
    else:
        expected = None
    before = {s: api.listing(s) for s in ("accounts", "zones")}
    response = _request(
        api, scope, operation, api.victim(scope)["id"], READ_ONLY[credential](api.world)
    )
    if expected is None:
        assert response.status_code == 200, response.text
        assert '"client_secret":' not in response.text
    else:
        _assert_refused(response, *expected, victims)
    assert {s: api.listing(s) for s in ("accounts", "zones")} == before


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if "{id}" in OPERATIONS[op][1]])
@pytest.mark.parametrize(
    ("scope", "elsewhere"),
    [
        ("accounts", "zone A"),  # a zone token's id under its account's path
        ("zones", "account A"),  # an account token's id under one of its zones
        ("accounts", "account B"),
        ("zones", "zone B"),
    ],
)
def test_ids_of_tokens_elsewhere_are_not_found(
    api: Api, scope: str, elsewhere: str, operation: str
) -> None:
    """The owner's own credential, a real token id, the wrong container: 404, untouched."""
    world = api.world
    victims = _victims(api)
    if elsewhere == "zone A":
        target = api.victim("zones")
    elif elsewhere == "account A":
        target = api.victim("accounts")
    else:
        key = f"foreign {elsewhere}"
        if key not in api._victims:
            kind = "accounts" if elsewhere == "account B" else "zones"
            container = world.account_b if kind == "accounts" else world.zone_b
            response = api.client.post(
                f"/client/v4/{kind}/{container}/access/service_tokens",
                json={"name": f"foreign-{secrets.token_hex(8)}"},
                headers=world.bearer(world.write_b),
            )
            assert response.status_code == 201, response.text
            api._victims[key] = response.json()["result"]
        target = api._victims[key]
        victims = [*victims, target]
    before = {s: api.listing(s) for s in ("accounts", "zones")}
    response = _request(api, scope, operation, target["id"], api.headers)
    _assert_refused(response, 404, 12135, victims)
    assert {s: api.listing(s) for s in ("accounts", "zones")} == before
    if elsewhere.endswith("B"):
        kind = "accounts" if elsewhere == "account B" else "zones"
        container = world.account_b if kind == "accounts" else world.zone_b
        again = api.client.get(
            f"/client/v4/{kind}/{container}/access/service_tokens/{target['id']}",
            headers=world.bearer(world.write_b),
        )
        shown = again.json()["result"]
        assert {k: shown[k] for k in ("name", "client_secret_version", "expires_at")} == {
            k: target[k] for k in ("name", "client_secret_version", "expires_at")
        }
