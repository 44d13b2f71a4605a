"""Alerting path ids and PagerDuty `connect` over HTTP on both engines: a webhook or policy
id not shaped like one (32 hex digits or a dashed UUID) cannot be routed (400/7003, the
answer a malformed account id gets), a well-formed unknown one is 404/17902 or 17903, and
the checks run in the API's order (credentials, account id, permission, path id, body)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, error, make_policy, make_webhook

MALFORMED = [
    "not-an-id",
    "0" * 31,
    "0" * 33,
    "g" * 32,
    "0000-0000000000000000000000000000",  # 32 hex digits, dashed where no UUID is
    "{" + "0" * 32 + "}",
]
ENCODED = ["0" * 32 + "%0A", "%20" + "0" * 32, "0" * 32 + "%00"]
"""Malformed once decoded (the message's path is as the server's URL parser renders it)."""


def _could_not_route(response: Any, path: str) -> None:
    """The whole answer, exactly as a malformed account id gets it (below)."""
    assert response.status_code == 400, response.text
    assert response.json() == {
        "success": False,
        "errors": [
            {
                "code": 7003,
                "message": f"Could not route to {path}, perhaps your object identifier is invalid?",
            }
        ],
        "messages": [],
        "result": None,
    }


def _bodies(receiver: Receiver) -> dict[str, dict[str, Any]]:
    return {
        "policies": {"name": "renamed"},
        "destinations/webhooks": {"name": "renamed", "url": receiver.url, "secret": "s3cret"},
    }


def test_a_malformed_account_id_is_answered_in_the_shape_asserted_here(
    api: TestClient, notify_world: World
) -> None:
    # The reference the other tests compare with: the API-wide 7003 of a malformed account.
    path = "/client/v4/accounts/xyz/alerting/v3/policies/" + "0" * 32
    _could_not_route(api.get(path, headers=notify_world.bearer(notify_world.write_a)), path)


@pytest.mark.parametrize("collection", ["policies", "destinations/webhooks"])
def test_a_malformed_path_id_cannot_be_routed(
    api: TestClient, notify_world: World, receiver: Receiver, collection: str
) -> None:
    world = notify_world
    auth = world.bearer(world.write_a)
    body = _bodies(receiver)[collection]
    for bad in MALFORMED:
        url = f"{alerting(world.account_a)}/{collection}/{bad}"
        path = api.get(url, headers=auth).request.url.path
        _could_not_route(api.get(url, headers=auth), path)
        _could_not_route(api.put(url, json=body, headers=auth), path)
        _could_not_route(api.delete(url, headers=auth), path)
    for bad in ENCODED:
        url = f"{alerting(world.account_a)}/{collection}/{bad}"
        error(api.get(url, headers=auth), 400, 7003)
        error(api.put(url, json=body, headers=auth), 400, 7003)
        error(api.delete(url, headers=auth), 400, 7003)
    # Read may read: a malformed id is 7003 for it too, not 403.
    url = f"{alerting(world.account_a)}/{collection}/not-an-id"
    _could_not_route(api.get(url, headers=world.bearer(world.read_a)), url)


@pytest.mark.parametrize(
    ("collection", "code"), [("policies", 17902), ("destinations/webhooks", 17903)]
)
def test_a_well_formed_unknown_id_is_not_found_and_both_forms_name_an_object(
    api: TestClient, notify_world: World, receiver: Receiver, collection: str, code: int
) -> None:
    world = notify_world
    auth = world.bearer(world.write_a)
    body = _bodies(receiver)[collection]
    unknown = uuid.uuid4()
    for form in (unknown.hex, str(unknown), str(unknown).upper(), unknown.hex.upper()):
        url = f"{alerting(world.account_a)}/{collection}/{form}"
        error(api.get(url, headers=auth), 404, code)
        error(api.put(url, json=body, headers=auth), 404, code)
        error(api.delete(url, headers=auth), 404, code)
    webhook_id = make_webhook(api, world, receiver.url)
    known = webhook_id if collection != "policies" else make_policy(api, world, webhook_id)
    dashed = str(uuid.UUID(known)).upper()
    found = api.get(f"{alerting(world.account_a)}/{collection}/{dashed}", headers=auth)
    assert found.status_code == 200, found.text
    assert found.json()["result"]["id"] == known


@pytest.mark.parametrize("collection", ["policies", "destinations/webhooks"])
def test_the_path_id_is_checked_after_permission_and_before_the_body(
    api: TestClient, notify_world: World, collection: str
) -> None:
    world = notify_world
    url = f"{alerting(world.account_a)}/{collection}/not-an-id"
    # 1. Credentials: a revoked token or an unknown key learns nothing about the path.
    error(api.get(url, headers=world.bearer(world.revoked_a)), 403, 9109)
    error(api.delete(url, headers=world.key((world.user_a[0], "0" * 64))), 403, 9103)
    error(api.get(url), 400, 9106)
    # 2. The account id's format, then 3. the permission on it.
    bad_account = f"/client/v4/accounts/xyz/alerting/v3/{collection}/not-an-id"
    _could_not_route(api.get(bad_account, headers=world.bearer(world.write_a)), bad_account)
    error(api.get(url, headers=world.bearer(world.write_b)), 403, 10000)
    error(api.put(url, json={"name": "x"}, headers=world.bearer(world.read_a)), 403, 10000)
    error(api.delete(url, headers=world.bearer(world.read_zone_a)), 403, 10000)
    # 4. The path id, before the body is looked at.
    auth = world.bearer(world.write_a)
    _could_not_route(api.put(url, content=b"{", headers=auth), url)
    _could_not_route(api.put(url, json=["not", "an", "object"], headers=auth), url)
    _could_not_route(api.request("DELETE", url, content=b"{", headers=auth), url)
