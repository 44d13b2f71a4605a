"""The alerting v3 API over HTTP on both engines: webhook destinations (with the test
message a create sends), policies, available alerts, eligibility, history, the errors the
spec lists, and account isolation."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.test_service_tokens import V4
from tests.conftest import World
from tests.notifications.receiver import Receiver

_NOT_ENTITLED = "account is not entitled to create policies for the alert type"


def alerting(account: str) -> str:
    return f"{V4}/accounts/{account}/alerting/v3"


def ok(response: Any, status: int = 200) -> Any:
    """The whole success envelope (its `messages` matter here)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    assert body["errors"] == []
    return body


def error(response: Any, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] == code, body
    message: str = body["errors"][0]["message"]
    return message


def make_webhook(
    api: TestClient,
    world: World,
    url: str,
    *,
    secret: str | None = "s3cret",  # noqa: S107
    name: str = "ops",
) -> str:
    body: dict[str, Any] = {"name": name, "url": url}
    if secret is not None:
        body["secret"] = secret
    created = ok(
        api.post(
            f"{alerting(world.account_a)}/destinations/webhooks",
            json=body,
            headers=world.bearer(world.write_a),
        ),
        201,
    )
    webhook_id: str = created["result"]["id"]
    return webhook_id


def make_policy(api: TestClient, world: World, webhook_id: str, **extra: Any) -> str:
    body = {
        "name": "Expiring tokens",
        "alert_type": "expiring_service_token_alert",
        "enabled": True,
        "mechanisms": {"webhooks": [{"id": webhook_id}]},
        **extra,
    }
    created = ok(
        api.post(
            f"{alerting(world.account_a)}/policies", json=body, headers=world.bearer(world.write_a)
        )
    )
    policy_id: str = created["result"]["id"]
    return policy_id


def test_webhook_lifecycle_sends_a_test_message_and_never_shows_the_secret(
    api: TestClient, notify_world: World, receiver: Receiver
) -> None:
    world = notify_world
    base, auth = alerting(world.account_a), world.bearer(world.write_a)
    webhook_id = make_webhook(api, world, receiver.url, secret="s3cret")
    assert len(webhook_id) == 32
    (test_message,) = receiver.received
    assert test_message.headers["cf-webhook-auth"] == "s3cret"
    assert b"Hello World! This is a test message" in test_message.body
    assert test_message.headers["webhook-id"].startswith("msg_")

    shown = ok(api.get(f"{base}/destinations/webhooks/{webhook_id}", headers=auth))["result"]
    assert shown == {
        "id": webhook_id,
        "name": "ops",
        "url": receiver.url,
        "type": "generic",
        "created_at": shown["created_at"],
        "last_success": None,
        "last_failure": None,
    }
    listed = ok(api.get(f"{base}/destinations/webhooks", headers=auth))["result"]
    assert [w["id"] for w in listed] == [webhook_id]
    assert "secret" not in str(listed)
    assert "s3cret" not in api.get(f"{base}/destinations/webhooks", headers=auth).text

    # A rename needs no test; a new secret is tested (and sent) first.
    ok(api.put(f"{base}/destinations/webhooks/{webhook_id}", json={"name": "renamed",
       "url": receiver.url}, headers=auth))  # fmt: skip
    assert len(receiver.received) == 1
    ok(api.put(f"{base}/destinations/webhooks/{webhook_id}", json={"name": "renamed",
       "url": receiver.url, "secret": "new"}, headers=auth))  # fmt: skip
    assert receiver.received[-1].headers["cf-webhook-auth"] == "new"

    deleted = ok(api.delete(f"{base}/destinations/webhooks/{webhook_id}", headers=auth))
    assert deleted["result"] is None
    error(api.get(f"{base}/destinations/webhooks/{webhook_id}", headers=auth), 404, 17903)


def test_a_failing_test_message_refuses_the_create(
    api: TestClient, notify_world: World, receiver: Receiver
) -> None:
    world = notify_world
    receiver.status = 403
    message = error(
        api.post(
            f"{alerting(world.account_a)}/destinations/webhooks",
            json={"name": "n", "url": receiver.url},
            headers=world.bearer(world.write_a),
        ),
        400,
        17907,
    )
    assert message == "Webhook test failed with status code 403 403 Forbidden"
    receiver.stop()
    message = error(
        api.post(
            f"{alerting(world.account_a)}/destinations/webhooks",
            json={"name": "n", "url": receiver.url},
            headers=world.bearer(world.write_a),
        ),
        400,
        17907,
    )
    assert message.startswith("Webhook test failed: ")
    listed = api.get(
        f"{alerting(world.account_a)}/destinations/webhooks", headers=world.bearer(world.read_a)
    )
    assert ok(listed)["result"] == []


def test_policy_lifecycle_and_partial_update(
    api: TestClient, notify_world: World, receiver: Receiver
) -> None:
    world = notify_world
    base, auth = alerting(world.account_a), world.bearer(world.write_a)
    webhook_id = make_webhook(api, world, receiver.url)
    token_id = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
    policy_id = make_policy(api, world, webhook_id, filters={"token_id": [token_id]})
    shown = ok(api.get(f"{base}/policies/{policy_id}", headers=auth))["result"]
    assert shown["alert_type"] == "expiring_service_token_alert"
    assert shown["mechanisms"] == {"webhooks": [{"id": webhook_id}]}
    assert shown["filters"] == {"token_id": [token_id]}
    assert shown["description"] is None
    assert shown["alert_interval"] is None

    ok(api.put(f"{base}/policies/{policy_id}", json={"enabled": False}, headers=auth))
    shown = ok(api.get(f"{base}/policies/{policy_id}", headers=auth))["result"]
    assert shown["enabled"] is False
    assert shown["name"] == "Expiring tokens"
    assert shown["filters"] == {"token_id": [token_id]}

    # Email: stored and echoed, not sent; the response says so.
    written = ok(
        api.put(
            f"{base}/policies/{policy_id}",
            json={"mechanisms": {"email": [{"id": "ops@example.com"}]}},
            headers=auth,
        )
    )
    assert written["messages"][0]["code"] == 17901
    listed = ok(api.get(f"{base}/policies", headers=auth))["result"]
    assert listed[0]["mechanisms"] == {"email": [{"id": "ops@example.com"}]}

    assert ok(api.delete(f"{base}/policies/{policy_id}", headers=auth))["result"] is None
    error(api.get(f"{base}/policies/{policy_id}", headers=auth), 404, 17902)


def test_policy_errors(api: TestClient, notify_world: World, receiver: Receiver) -> None:
    world = notify_world
    url, auth = f"{alerting(world.account_a)}/policies", world.bearer(world.write_a)
    webhook_id = make_webhook(api, world, receiver.url)
    good = {
        "name": "p",
        "alert_type": "expiring_service_token_alert",
        "enabled": True,
        "mechanisms": {"webhooks": [{"id": webhook_id}]},
    }
    cases = [
        ({**good, "alert_type": "no_such_alert"}, 17004),
        ({**good, "alert_type": "dos_attack_l7"}, 17200),
        ({**good, "mechanisms": {}}, 17102),
        ({**good, "mechanisms": {"webhooks": [{"id": "0" * 32}]}}, 17904),
        ({**good, "mechanisms": {"pagerduty": [{"id": "x"}]}}, 17200),
        ({**good, "filters": {"zones": ["a"]}}, 17906),
        ({**good, "filters": {"token_id": ["not-a-token"]}}, 17906),
        ({"alert_type": "expiring_service_token_alert"}, 17906),
        ([good], 17906),
    ]
    for body, code in cases:
        error(api.post(url, json=body, headers=auth), 400, code)
    error(api.post(url, content=b"{", headers=auth), 400, 12130)
    error(api.get(f"{url}/not-an-id", headers=auth), 400, 7003)
    error(api.get(f"{url}/{'0' * 32}", headers=auth), 404, 17902)


def test_catalogue_eligibility_and_pagerduty(api: TestClient, notify_world: World) -> None:
    world = notify_world
    base, auth = alerting(world.account_a), world.bearer(world.read_a)
    catalogue = ok(api.get(f"{base}/available_alerts", headers=auth))["result"]
    (access,) = catalogue["Access"]
    assert access["type"] == "expiring_service_token_alert"
    assert access["display_name"] == "Expiring Access Service Token Alert"
    extension_types = {a["type"] for a in catalogue["Access (servicetokens extensions)"]}
    assert "servicetokens_service_token_rotated" in extension_types
    eligible = ok(api.get(f"{base}/destinations/eligible", headers=auth))["result"]
    assert eligible["webhook"] == [{"eligible": True, "ready": True, "type": "webhook"}]
    assert eligible["email"][0]["ready"] is False
    assert ok(api.get(f"{base}/destinations/pagerduty", headers=auth))["result"] == []


def test_pagerduty_connect_is_not_entitled(api: TestClient, notify_world: World) -> None:
    world = notify_world
    base, auth = f"{alerting(world.account_a)}/destinations/pagerduty", world.bearer(world.write_a)
    connect = f"{base}/connect"
    assert error(api.post(connect, headers=auth), 400, 17200) == _NOT_ENTITLED
    assert error(api.post(connect, json={}, headers=auth), 400, 17200) == _NOT_ENTITLED
    for token in ("8c71e667571b4f61b94d9e4b12158038", "anything-at-all"):
        assert error(api.get(f"{connect}/{token}", headers=auth), 400, 17200) == _NOT_ENTITLED
    # Only the methods the spec lists: the others are the API's 405, with `Allow`.
    wrong = api.get(connect, headers=auth)
    error(wrong, 405, 10000)
    assert wrong.headers["allow"] == "POST"
    wrong = api.post(f"{connect}/x", headers=auth)
    error(wrong, 405, 10000)
    assert wrong.headers["allow"] == "GET"
    # Connecting is a write, checked as every write is: Read, another account, none.
    error(api.post(connect, headers=world.bearer(world.read_a)), 403, 10000)
    error(api.get(f"{connect}/x", headers=world.bearer(world.read_a)), 403, 10000)
    error(api.post(connect, headers=world.bearer(world.write_b)), 403, 10000)
    error(api.post(connect), 400, 9106)
    # Nothing was connected.
    assert api.get(base, headers=world.bearer(world.read_a)).json()["result"] == []


def test_accounts_are_isolated(api: TestClient, notify_world: World, receiver: Receiver) -> None:
    world = notify_world
    webhook_id = make_webhook(api, world, receiver.url)
    policy_id = make_policy(api, world, webhook_id)
    other = world.bearer(world.write_b)
    # B's credential on A's account: 403 before anything else.
    error(api.get(f"{alerting(world.account_a)}/policies", headers=other), 403, 10000)
    # B on its own account never finds A's objects, nor may it name A's webhook.
    base_b = alerting(world.account_b)
    error(api.get(f"{base_b}/destinations/webhooks/{webhook_id}", headers=other), 404, 17903)
    error(api.get(f"{base_b}/policies/{policy_id}", headers=other), 404, 17902)
    error(api.delete(f"{base_b}/policies/{policy_id}", headers=other), 404, 17902)
    body = {
        "name": "steal",
        "alert_type": "expiring_service_token_alert",
        "mechanisms": {"webhooks": [{"id": webhook_id}]},
    }
    error(api.post(f"{base_b}/policies", json=body, headers=other), 400, 17904)
    assert ok(api.get(f"{base_b}/policies", headers=other))["result"] == []
    assert ok(api.get(f"{base_b}/history", headers=other))["result"] == []
    # Read may not write; a zone's credential does not reach the account's alerting.
    error(
        api.post(f"{alerting(world.account_a)}/policies", json=body,
                 headers=world.bearer(world.read_a)), 403, 10000,
    )  # fmt: skip
    error(
        api.get(f"{alerting(world.account_a)}/policies",
                headers=world.bearer(world.read_zone_a)), 403, 10000,
    )  # fmt: skip


def test_history_paging_and_filters(api: TestClient, notify_world: World) -> None:
    world = notify_world
    url, auth = f"{alerting(world.account_a)}/history", world.bearer(world.read_a)
    page = ok(api.get(url, params={"per_page": "5.0", "page": "3"}, headers=auth))
    assert page["result"] == []
    assert page["result_info"]["per_page"] == 5
    ok(api.get(url, params={"since": "2024-01-01T00:00:00", "before": "2030-01-01T00:00:00Z"},
               headers=auth))  # fmt: skip
    error(api.get(url, params={"since": "yesterday"}, headers=auth), 400, 17906)
    error(api.get(url, params={"delivery_status": "lost"}, headers=auth), 400, 17906)
