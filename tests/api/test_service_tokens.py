"""Every service-token operation over HTTP, in both scopes, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import World

V4 = "/client/v4"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_ts(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00")


def base(world: World, scope: str) -> str:
    if scope == "account":
        return f"{V4}/accounts/{world.account_a}/access/service_tokens"
    return f"{V4}/zones/{world.zone_a}/access/service_tokens"


def auth(world: World, scope: str) -> dict[str, str]:
    return world.bearer(world.write_a if scope == "account" else world.write_zone_a)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is True
    assert body["errors"] == []
    assert body["messages"] == [] or isinstance(body["messages"], list)
    return body["result"]


def error(response: Any, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    assert body["errors"][0]["code"] == code, body
    return dict(body["errors"][0])


SCOPES = ["account", "zone"]


@pytest.mark.parametrize("scope", SCOPES)
def test_create_returns_201_with_secret_once(client: TestClient, world: World, scope: str) -> None:
    created = ok(
        client.post(
            base(world, scope), json={"name": "ci", "duration": "60m"}, headers=auth(world, scope)
        ),
        201,
    )
    assert UUID_RE.match(created["id"])
    assert re.fullmatch(r"[0-9a-f]{32}\.access", created["client_id"])
    assert re.fullmatch(r"[0-9a-f]{64}", created["client_secret"])
    assert created["duration"] == "60m"
    assert created["enabled"] is True
    assert created["last_seen_at"] is None
    assert created["client_secret_version"] == 1
    assert created["previous_client_secret_expires_at"] is None
    assert parse_ts(created["expires_at"]) - parse_ts(created["created_at"]) == timedelta(hours=1)
    assert created["created_at"] == created["updated_at"]

    fetched = ok(client.get(f"{base(world, scope)}/{created['id']}", headers=auth(world, scope)))
    assert "client_secret" not in fetched
    assert fetched == {k: v for k, v in created.items() if k != "client_secret"}
    listed = ok(client.get(base(world, scope), headers=auth(world, scope)))
    assert all("client_secret" not in t for t in listed)


def test_create_defaults(client: TestClient, world: World) -> None:
    created = ok(
        client.post(base(world, "account"), json={"name": "d"}, headers=auth(world, "account")), 201
    )
    assert created["duration"] == "8760h"
    assert parse_ts(created["expires_at"]) - parse_ts(created["created_at"]) == timedelta(
        hours=8760
    )


def test_create_with_all_fields(client: TestClient, world: World) -> None:
    created = ok(
        client.post(
            base(world, "account"),
            json={
                "name": "v2",
                "duration": "forever",
                "client_secret_version": 2,
                "previous_client_secret_expires_at": "2030-01-01T00:00:00+00:00",
                "enabled": False,
                "unknown_field": "ignored",
            },
            headers=auth(world, "account"),
        ),
        201,
    )
    assert created["duration"] == "forever"
    assert created["client_secret_version"] == 2
    assert created["previous_client_secret_expires_at"] == "2030-01-01T00:00:00Z"
    assert created["enabled"] is False
    assert parse_ts(created["expires_at"]) > datetime.now(UTC) + timedelta(days=365 * 99)


@pytest.mark.parametrize("scope", SCOPES)
def test_update_is_partial(client: TestClient, world: World, scope: str) -> None:
    created = ok(
        client.post(
            base(world, scope), json={"name": "u", "duration": "1h"}, headers=auth(world, scope)
        ),
        201,
    )
    url = f"{base(world, scope)}/{created['id']}"
    renamed = ok(client.put(url, json={"name": "renamed"}, headers=auth(world, scope)))
    assert renamed["name"] == "renamed"
    assert renamed["duration"] == "1h"
    assert renamed["expires_at"] == created["expires_at"]
    assert "client_secret" not in renamed
    assert parse_ts(renamed["updated_at"]) >= parse_ts(created["updated_at"])

    extended = ok(client.put(url, json={"duration": "17520h"}, headers=auth(world, scope)))
    assert extended["duration"] == "17520h"
    assert parse_ts(extended["expires_at"]) - parse_ts(extended["updated_at"]) == timedelta(
        hours=17520
    )

    disabled = ok(client.put(url, json={"enabled": False}, headers=auth(world, scope)))
    assert disabled["enabled"] is False
    assert disabled["name"] == "renamed"

    unchanged = ok(client.put(url, json={}, headers=auth(world, scope)))
    assert unchanged["name"] == "renamed"
    empty_body = ok(client.put(url, content=b"", headers=auth(world, scope)))
    assert empty_body["duration"] == "17520h"


def test_update_version_bump_rotates(client: TestClient, world: World) -> None:
    created = ok(
        client.post(base(world, "account"), json={"name": "v"}, headers=auth(world, "account")), 201
    )
    url = f"{base(world, 'account')}/{created['id']}"
    same = ok(client.put(url, json={"client_secret_version": 1}, headers=auth(world, "account")))
    assert "client_secret" not in same
    grace = "2031-05-06T07:08:09Z"
    bumped = ok(
        client.put(
            url,
            json={"client_secret_version": 2, "previous_client_secret_expires_at": grace},
            headers=auth(world, "account"),
        )
    )
    assert bumped["client_secret_version"] == 2
    assert re.fullmatch(r"[0-9a-f]{64}", bumped["client_secret"])
    assert bumped["client_secret"] != created["client_secret"]
    assert bumped["client_id"] == created["client_id"]
    assert bumped["previous_client_secret_expires_at"] == grace
    lower = client.put(url, json={"client_secret_version": 1}, headers=auth(world, "account"))
    detail = error(lower, 400, 12130)
    assert detail["message"].startswith("access.api.error.invalid_request: ")
    moved = ok(
        client.put(
            url,
            json={"previous_client_secret_expires_at": "2030-01-01T00:00:00"},
            headers=auth(world, "account"),
        )
    )
    assert moved["previous_client_secret_expires_at"] == "2030-01-01T00:00:00Z"


@pytest.mark.parametrize("scope", SCOPES)
def test_rotate(client: TestClient, world: World, scope: str) -> None:
    created = ok(
        client.post(base(world, scope), json={"name": "r"}, headers=auth(world, scope)), 201
    )
    url = f"{base(world, scope)}/{created['id']}/rotate"
    before = datetime.now(UTC)
    rotated = ok(client.post(url, json={}, headers=auth(world, scope)))
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    assert rotated["client_secret_version"] == 2
    assert rotated["expires_at"] == created["expires_at"]
    previous = parse_ts(rotated["previous_client_secret_expires_at"])
    assert before - timedelta(seconds=1) <= previous <= datetime.now(UTC)

    graced = ok(
        client.post(
            url,
            json={"previous_client_secret_expires_at": "2030-01-01T00:00:00.5+02:00"},
            headers=auth(world, scope),
        )
    )
    assert graced["client_secret_version"] == 3
    assert graced["previous_client_secret_expires_at"] == "2029-12-31T22:00:00.500000Z"
    no_body = ok(client.post(url, headers=auth(world, scope)))
    assert no_body["client_secret_version"] == 4


@pytest.mark.parametrize("scope", SCOPES)
def test_refresh(client: TestClient, world: World, scope: str) -> None:
    created = ok(
        client.post(
            base(world, scope), json={"name": "f", "duration": "2h"}, headers=auth(world, scope)
        ),
        201,
    )
    refreshed = ok(
        client.post(
            f"{base(world, scope)}/{created['id']}/refresh",
            headers={**auth(world, scope), "Content-Type": "application/json"},
        )
    )
    assert "client_secret" not in refreshed
    assert parse_ts(refreshed["expires_at"]) >= parse_ts(created["expires_at"])
    assert parse_ts(refreshed["expires_at"]) - parse_ts(refreshed["updated_at"]) == timedelta(
        hours=2
    )
    assert refreshed["client_secret_version"] == 1


def test_refresh_keeps_forever(client: TestClient, world: World) -> None:
    created = ok(
        client.post(
            base(world, "account"),
            json={"name": "f", "duration": "forever"},
            headers=auth(world, "account"),
        ),
        201,
    )
    refreshed = ok(
        client.post(
            f"{base(world, 'account')}/{created['id']}/refresh", headers=auth(world, "account")
        )
    )
    assert refreshed["expires_at"] == created["expires_at"]
    assert refreshed["duration"] == "forever"


@pytest.mark.parametrize("scope", SCOPES)
def test_delete_returns_token_then_404(client: TestClient, world: World, scope: str) -> None:
    created = ok(
        client.post(base(world, scope), json={"name": "x"}, headers=auth(world, scope)), 201
    )
    url = f"{base(world, scope)}/{created['id']}"
    deleted = ok(
        client.delete(url, headers={**auth(world, scope), "Content-Type": "application/json"})
    )
    assert deleted["id"] == created["id"]
    assert "client_secret" not in deleted
    for response in (
        client.get(url, headers=auth(world, scope)),
        client.delete(url, headers=auth(world, scope)),
        client.put(url, json={"name": "y"}, headers=auth(world, scope)),
        client.post(f"{url}/refresh", headers=auth(world, scope)),
        client.post(f"{url}/rotate", json={}, headers=auth(world, scope)),
    ):
        detail = error(response, 404, 12135)
        assert detail["message"] == "access.api.error.not_found"


def test_account_and_zone_tokens_are_separate_sets(client: TestClient, world: World) -> None:
    in_zone = ok(
        client.post(base(world, "zone"), json={"name": "z"}, headers=auth(world, "zone")), 201
    )
    in_account = ok(
        client.post(base(world, "account"), json={"name": "a"}, headers=auth(world, "account")), 201
    )
    account_ids = {
        t["id"] for t in ok(client.get(base(world, "account"), headers=auth(world, "account")))
    }
    zone_ids = {t["id"] for t in ok(client.get(base(world, "zone"), headers=auth(world, "zone")))}
    assert in_account["id"] in account_ids
    assert in_zone["id"] not in account_ids
    assert in_zone["id"] in zone_ids
    assert in_account["id"] not in zone_ids
    # An account token reaches the zone's tokens (its grant covers the account's zones) ...
    ok(client.get(f"{base(world, 'zone')}/{in_zone['id']}", headers=auth(world, "account")))
    # ... but not under the wrong container path.
    error(
        client.get(f"{base(world, 'account')}/{in_zone['id']}", headers=auth(world, "account")),
        404,
        12135,
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "n", "duration": "1d"}, "invalid duration"),
        ({"name": "n", "duration": ""}, "invalid duration"),
        ({"name": "n", "duration": "0s"}, "positive"),
        ({"name": "n", "duration": "-1h"}, "positive"),
        ({"name": "n", "duration": "9999999999999h"}, "duration"),
        ({"name": "n", "duration": 60}, "duration"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 351}, "351"),
        ({"name": 5}, "name"),
        ({"name": "nul\u0000byte"}, "control"),
        ({}, "name is required"),
        ({"name": "n", "enabled": "yes"}, "enabled"),
        ({"name": "n", "client_secret_version": 0}, "client_secret_version"),
        ({"name": "n", "client_secret_version": 1.5}, "client_secret_version"),
        ({"name": "n", "client_secret_version": True}, "client_secret_version"),
        (
            {"name": "n", "previous_client_secret_expires_at": "tomorrow"},
            "previous_client_secret_expires_at",
        ),
        ([1, 2], "JSON object"),
    ],
)
def test_create_validation(client: TestClient, world: World, body: Any, fragment: str) -> None:
    before = ok(client.get(base(world, "account"), headers=auth(world, "account")))
    detail = error(
        client.post(base(world, "account"), json=body, headers=auth(world, "account")), 400, 12130
    )
    assert detail["message"].startswith("access.api.error.invalid_request: ")
    assert fragment in detail["message"]
    assert ok(client.get(base(world, "account"), headers=auth(world, "account"))) == before


def test_name_limits(client: TestClient, world: World) -> None:
    longest = ok(
        client.post(
            base(world, "account"), json={"name": "é" * 350}, headers=auth(world, "account")
        ),
        201,
    )
    assert longest["name"] == "é" * 350
    unicode = ok(
        client.post(
            base(world, "account"), json={"name": "服务令牌 🔑"}, headers=auth(world, "account")
        ),
        201,
    )
    assert unicode["name"] == "服务令牌 🔑"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"\xff\xfe\x00", b'{"name": "a"', b"[" * 5000 + b"]" * 5000, b'"just a string"'],
)
def test_bad_json_is_400(client: TestClient, world: World, raw: bytes) -> None:
    response = client.post(
        base(world, "account"),
        content=raw,
        headers={**auth(world, "account"), "Content-Type": "application/json"},
    )
    error(response, 400, 12130)


def test_oversized_body_is_413(client: TestClient, world: World) -> None:
    huge = b'{"name": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    response = client.post(
        base(world, "account"),
        content=huge,
        headers={**auth(world, "account"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["success"] is False


def test_unknown_and_malformed_token_ids_are_404(client: TestClient, world: World) -> None:
    for token_id in [
        "f174e90a-fafe-4643-bbbc-4a0ed4fc8415",
        "not-a-uuid",
        "x" * 300,
    ]:
        error(
            client.get(f"{base(world, 'account')}/{token_id}", headers=auth(world, "account")),
            404,
            12135,
        )


def test_path_traversal_in_token_id_is_404(client: TestClient, world: World) -> None:
    response = client.get(f"{base(world, 'account')}/..%2F..%2Fetc", headers=auth(world, "account"))
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_malformed_container_id_is_7003(client: TestClient, world: World) -> None:
    for bad in ["xyz", "023E105F4ECEF8AD9CA31A8372D0C353", "0" * 33]:
        detail = error(
            client.get(
                f"{V4}/accounts/{bad}/access/service_tokens", headers=auth(world, "account")
            ),
            400,
            7003,
        )
        assert "perhaps your object identifier is invalid" in detail["message"]
        error(
            client.get(f"{V4}/zones/{bad}/access/service_tokens", headers=auth(world, "account")),
            400,
            7003,
        )


@pytest.mark.parametrize("tail", ["", "/f174e90a-fafe-4643-bbbc-4a0ed4fc8415"])
def test_the_credential_is_checked_before_the_container_id(
    client: TestClient, world: World, tail: str
) -> None:
    # docs/compatibility.md: credentials, then the id's format, on the list as on every route.
    for bad in ["xyz", "0" * 33]:
        url = f"{V4}/accounts/{bad}/access/service_tokens{tail}"
        error(client.get(url, headers=world.bearer(world.revoked_a)), 403, 9109)
        error(client.get(url, headers=world.key((world.user_a[0], "0" * 64))), 403, 9103)
        error(client.get(url, headers=world.bearer(world.read_a)), 400, 7003)


def test_unknown_route_and_method(client: TestClient, world: World) -> None:
    error(client.get(f"{V4}/nowhere", headers=auth(world, "account")), 404, 7000)
    response = client.patch(base(world, "account"), json={}, headers=auth(world, "account"))
    assert response.status_code == 405
    assert response.json()["success"] is False


def test_healthz_needs_no_auth(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
