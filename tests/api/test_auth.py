"""Authentication errors exactly as Cloudflare's tables, and /user/tokens/verify."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.test_service_tokens import V4, base, error, ok
from tests.conftest import World


def test_no_credentials_is_9106(client: TestClient, world: World) -> None:
    detail = error(client.get(base(world, "account")), 400, 9106)
    assert detail["message"] == "Missing X-Auth-Key, X-Auth-Email or Authorization headers"


@pytest.mark.parametrize(
    ("headers", "chain_code"),
    [
        ({"Authorization": "Basic abc"}, 6111),
        ({"Authorization": "Bearer"}, 6111),
        ({"Authorization": "Bearer not a token"}, 6111),
        ({"X-Auth-Email": "not-an-email", "X-Auth-Key": "a" * 40}, 6102),
        ({"X-Auth-Email": "a@example.com", "X-Auth-Key": "bad key!"}, 6103),
        ({"X-Auth-Email": "a@example.com"}, 6103),
        ({"X-Auth-Key": "a" * 40}, 6102),
    ],
)
def test_malformed_headers_are_6003(
    client: TestClient, world: World, headers: dict[str, str], chain_code: int
) -> None:
    detail = error(client.get(base(world, "account"), headers=headers), 400, 6003)
    assert detail["message"] == "Invalid request headers"
    assert detail["error_chain"][0]["code"] == chain_code


def test_unknown_and_revoked_tokens_are_9109(client: TestClient, world: World) -> None:
    unknown = "stk_" + "0" * 64
    for token in (unknown, world.revoked_a):
        detail = error(client.get(base(world, "account"), headers=world.bearer(token)), 403, 9109)
        assert detail["message"] == "Invalid access token"


def test_unknown_email_or_key_is_9103(client: TestClient, world: World) -> None:
    wrong_key = {"X-Auth-Email": world.user_a[0], "X-Auth-Key": "0" * 64}
    unknown_user = {"X-Auth-Email": "nobody@example.com", "X-Auth-Key": world.user_a[1]}
    for headers in (wrong_key, unknown_user):
        error(client.get(base(world, "account"), headers=headers), 403, 9103)


def test_email_and_key_work(client: TestClient, world: World) -> None:
    headers = world.key(world.user_a)
    created = ok(client.post(base(world, "account"), json={"name": "k"}, headers=headers), 201)
    ok(client.get(f"{base(world, 'zone')}", headers=headers))
    assert created["name"] == "k"
    # Email is matched case-insensitively, as addresses are.
    upper = {"X-Auth-Email": world.user_a[0].upper(), "X-Auth-Key": world.user_a[1]}
    ok(client.get(base(world, "account"), headers=upper))


def test_key_pair_wins_over_bearer(client: TestClient, world: World) -> None:
    headers = {**world.key(world.user_a), **world.bearer(world.write_b)}
    ok(client.get(base(world, "account"), headers=headers))


def test_verify_token(client: TestClient, world: World) -> None:
    response = client.get(f"{V4}/user/tokens/verify", headers=world.bearer(world.read_a))
    result = ok(response)
    assert result["status"] == "active"
    assert len(result["id"]) == 32
    assert response.json()["messages"][0]["message"] == "This API Token is valid and active"
    revoked = ok(client.get(f"{V4}/user/tokens/verify", headers=world.bearer(world.revoked_a)))
    assert revoked["status"] == "disabled"
    account = ok(
        client.get(
            f"{V4}/accounts/{world.account_a}/tokens/verify", headers=world.bearer(world.read_a)
        )
    )
    assert account["id"] == result["id"]


def test_verify_token_errors(client: TestClient, world: World) -> None:
    error(
        client.get(f"{V4}/user/tokens/verify", headers=world.bearer("stk_" + "1" * 64)), 401, 1000
    )
    error(client.get(f"{V4}/user/tokens/verify", headers=world.key(world.user_a)), 400, 1001)


def test_credentials_are_checked_before_the_body(client: TestClient, world: World) -> None:
    # A caller without the right learns nothing from validation: 403 or 9109, not 400.
    bad = {"Content-Type": "application/json"}
    url = base(world, "account")
    error(
        client.post(url, content=b"{not json", headers={**bad, **world.bearer(world.read_a)}),
        403,
        10000,
    )
    error(
        client.post(url, content=b"{not json", headers={**bad, **world.bearer("stk_" + "0" * 64)}),
        403,
        9109,
    )
    error(client.post(url, json={"name": ""}, headers=world.bearer(world.write_b)), 403, 10000)
