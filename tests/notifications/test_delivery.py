"""Delivery end to end on both engines, in-process and without sleeping: the scheduled job
finds a token entering its window, the worker POSTs to a real loopback receiver, and the
message is verified with the `standardwebhooks` library; once per (token, expires_at);
retried after the receiver was down; lifecycle extension alerts; one lease holder."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from servicetokens.domain.notifications.delivery import RetrySchedule
from servicetokens.domain.notifications.targets import TargetRules
from servicetokens.usecases.delivery_worker import DeliveryWorker
from servicetokens.usecases.expiry_alerts import ExpiryAlerts
from servicetokens.usecases.facade import UseCases
from tests.api.test_service_tokens import V4
from tests.clocks import HandClock
from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, make_policy, make_webhook, ok

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def worker(service: UseCases, clock: HandClock, **options: object) -> DeliveryWorker:
    return DeliveryWorker(
        service.database,
        rules=TargetRules(allow_private=True),
        schedule=RetrySchedule((5.0, 60.0)),
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def tokens_url(world: World) -> str:
    return f"{V4}/accounts/{world.account_a}/access/service_tokens"


def create_token(api: TestClient, world: World, duration: str) -> str:
    created = api.post(
        tokens_url(world),
        json={"name": "ci-deploy", "duration": duration},
        headers=world.bearer(world.write_a),
    )
    assert created.status_code == 201, created.text
    token_id: str = created.json()["result"]["id"]
    return token_id


@pytest.fixture
def setup(
    api: TestClient, notify_service: UseCases, notify_world: World, receiver: Receiver
) -> tuple[str, str]:
    webhook_id = make_webhook(api, notify_world, receiver.url, secret=SECRET)
    return webhook_id, make_policy(api, notify_world, webhook_id)


def test_a_72h_token_alerts_once_signed_and_verifiable(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    setup: tuple[str, str],
) -> None:
    webhook_id, policy_id = setup
    token_id = create_token(api, notify_world, "72h")
    forever = create_token(api, notify_world, "forever")
    jobs = ExpiryAlerts(notify_service.database, clock=clock)
    sender = worker(notify_service, clock)

    assert jobs.run_once().expiring == 1
    assert sender.run_once().succeeded == 1
    assert jobs.run_once().expiring == 0  # once per (token, expires_at)
    clock.advance(timedelta(hours=1))
    assert jobs.run_once().expiring == 0
    assert sender.run_once().sent == 0

    (message,) = receiver.messages()
    payload = Webhook(SECRET).verify(message.body, message.headers)
    assert message.headers["cf-webhook-auth"] == SECRET
    assert payload["alert_type"] == "expiring_service_token_alert"
    assert payload["alert_event"] == "ALERT_STATE_EVENT_START"
    assert payload["policy_id"] == policy_id
    assert payload["name"] == "ops"
    assert payload["data"]["service_token_id"] == token_id != forever
    assert payload["data"]["days_til_expiration"] == 3
    assert payload["account_id"] == notify_world.account_a

    base, auth = alerting(notify_world.account_a), notify_world.bearer(notify_world.read_a)
    (item,) = ok(api.get(f"{base}/history", headers=auth))["result"]
    assert item["delivery_status"] == "succeeded"
    assert item["attempts"] == 1
    assert item["mechanism"] == webhook_id
    assert item["mechanism_type"] == "webhook"
    assert json.loads(item["alert_body"]) == payload
    assert item["attempts_log"][0]["status"] == 200
    assert message.headers["webhook-id"] == f"msg_{item['id']}"
    shown = ok(api.get(f"{base}/destinations/webhooks/{webhook_id}", headers=auth))["result"]
    assert shown["last_success"] is not None
    assert shown["last_failure"] is None


def test_a_refresh_moving_expires_at_alerts_again(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    setup: tuple[str, str],
) -> None:
    token_id = create_token(api, notify_world, "72h")
    url, auth = f"{tokens_url(notify_world)}/{token_id}", notify_world.bearer(notify_world.write_a)
    jobs = ExpiryAlerts(notify_service.database, clock=clock)
    assert jobs.run_once().expiring == 1
    clock.advance(timedelta(days=1))
    assert api.post(f"{url}/refresh", headers=auth).status_code == 200
    assert jobs.run_once().expiring == 1  # a new expires_at, in the window again
    assert api.put(url, json={"enabled": False}, headers=auth).status_code == 200
    clock.advance(timedelta(hours=1))
    assert api.post(f"{url}/refresh", headers=auth).status_code == 200
    assert jobs.run_once().expiring == 0  # disabled tokens never alert
    assert api.delete(url, headers=auth).status_code == 200
    assert jobs.run_once().expiring == 0


def test_receiver_down_then_back_nothing_lost(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    setup: tuple[str, str],
) -> None:
    webhook_id, _ = setup
    create_token(api, notify_world, "24h")
    ExpiryAlerts(notify_service.database, clock=clock).run_once()
    sender = worker(notify_service, clock)
    assert sender.backlog() == 1  # the servicetokens_outbox_backlog gauge
    receiver.status = 503
    assert sender.run_once().succeeded == 0
    assert sender.run_once().sent == 0  # not due until the first retry step (5 s ± 20 %)
    assert sender.backlog() == 1  # waiting for its retry
    receiver.status = 200
    clock.advance(timedelta(seconds=7))
    assert sender.run_once().succeeded == 1
    assert sender.backlog() == 0
    attempts = [m.headers for m in receiver.messages()]
    assert len(attempts) == 2
    assert attempts[0]["webhook-id"] == attempts[1]["webhook-id"]  # same id on every attempt
    base, auth = alerting(notify_world.account_a), notify_world.bearer(notify_world.read_a)
    (item,) = ok(api.get(f"{base}/history", headers=auth))["result"]
    assert [a["status"] for a in item["attempts_log"]] == [503, 200]
    shown = ok(api.get(f"{base}/destinations/webhooks/{webhook_id}", headers=auth))["result"]
    assert shown["last_success"]
    assert shown["last_failure"]


def test_retries_stop_after_the_schedule(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    setup: tuple[str, str],
) -> None:
    create_token(api, notify_world, "24h")
    ExpiryAlerts(notify_service.database, clock=clock).run_once()
    sender = worker(notify_service, clock)
    receiver.status = 500
    for _ in range(3):
        assert sender.run_once().sent == 1
        clock.advance(timedelta(seconds=100))
    assert sender.run_once().sent == 0
    with notify_service.database.read() as tx:
        assert tx.outbox.open_count() == 0


def test_only_the_lease_holder_delivers(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    setup: tuple[str, str],
) -> None:
    create_token(api, notify_world, "24h")
    first, second = worker(notify_service, clock), worker(notify_service, clock)
    assert first.run_once().held
    ExpiryAlerts(notify_service.database, clock=clock).run_once()
    assert not second.run_once().held  # the lease is the first's for 15 s
    assert first.run_once().succeeded == 1
    clock.advance(timedelta(seconds=16))  # the first stopped renewing: it has crashed
    assert second.run_once().held
    assert not first.run_once().held
    assert len(receiver.messages()) == 1


def test_lifecycle_extension_alerts_commit_with_the_change(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    setup: tuple[str, str],
) -> None:
    webhook_id, _ = setup
    world = notify_world
    for alert_type in (
        "servicetokens_service_token_rotated",
        "servicetokens_service_token_disabled",
        "servicetokens_service_token_deleted",
    ):
        make_policy(api, world, webhook_id, alert_type=alert_type, name=alert_type)
    tokens = tokens_url(world)
    auth = world.bearer(world.write_a)
    token = api.post(tokens, json={"name": "t", "duration": "8760h"}, headers=auth).json()
    token_id = token["result"]["id"]
    api.post(f"{tokens}/{token_id}/rotate", headers=auth)
    api.put(f"{tokens}/{token_id}", json={"name": "t2"}, headers=auth)  # no alert
    api.put(f"{tokens}/{token_id}", json={"enabled": False}, headers=auth)
    api.delete(f"{tokens}/{token_id}", headers=auth)
    worker(notify_service, clock).run_once()
    kinds = [json.loads(m.body)["alert_type"] for m in receiver.messages()]
    assert sorted(kinds) == [
        "servicetokens_service_token_deleted",
        "servicetokens_service_token_disabled",
        "servicetokens_service_token_rotated",
    ]
    assert all(b"client_secret" not in m.body for m in receiver.messages())
