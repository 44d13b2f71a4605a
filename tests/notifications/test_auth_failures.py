"""`servicetokens_auth_failures` on both engines: failed attempts on a known client id, as
gates write them behind (audit entries), raise the alert once they reach 10 within 5
minutes — once per token per window, only for accounts with an enabled policy of the type,
queued in the transaction that writes the entries — and it is delivered like any alert."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from starlette.testclient import TestClient

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.notifications.alert_types import AUTH_FAILURES
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.last_seen import LastSeenWriter
from tests.api.test_service_tokens import V4
from tests.clocks import HandClock
from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import make_policy, make_webhook
from tests.notifications.test_delivery import worker


def failure(token: dict[str, str], account_id: str, at: datetime) -> AuditEntry:
    """A failed attempt as `Verification.record_failure` records it."""
    return AuditEntry(
        at=at,
        actor_kind="gate",
        actor_id=token["client_id"],
        action="gate.auth_failed",
        account_id=account_id,
        target=token["id"],
        origin="203.0.113.9",
        detail={"client_id": token["client_id"], "reason": "invalid credentials"},
    )


def make_token(api: TestClient, world: World, account: str, write: str) -> dict[str, str]:
    created = api.post(
        f"{V4}/accounts/{account}/access/service_tokens",
        json={"name": "deploy"},
        headers=world.bearer(write),
    )
    assert created.status_code == 201, created.text
    result: dict[str, str] = created.json()["result"]
    return result


def open_deliveries(service: UseCases) -> int:
    with service.database.read() as tx:
        return tx.outbox.open_count()


def test_repeated_failures_alert_once_per_window(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    world = notify_world
    webhook_id = make_webhook(api, world, receiver.url)
    make_policy(api, world, webhook_id, alert_type=AUTH_FAILURES, name="failures")
    token = make_token(api, world, world.account_a, world.write_a)
    other = make_token(api, world, world.account_b, world.write_b)  # no policy in B
    writer = LastSeenWriter(notify_service.database, interval=3600.0)
    start = clock()

    def fail(entry_token: dict[str, str], account: str, count: int, at: datetime) -> None:
        for n in range(count):
            writer.record_failure(failure(entry_token, account, at + timedelta(seconds=n)))
        writer.flush()

    fail(token, world.account_a, 9, start)
    fail(other, world.account_b, 30, start)
    assert open_deliveries(notify_service) == 0  # 9 is under the threshold; B has no policy

    fail(token, world.account_a, 1, start + timedelta(seconds=30))
    assert open_deliveries(notify_service) == 1
    fail(token, world.account_a, 20, start + timedelta(seconds=60))
    assert open_deliveries(notify_service) == 1  # once per window

    clock.advance(timedelta(minutes=2))  # the failures' own times are in the future
    assert worker(notify_service, clock).run_once().succeeded == 1
    (message,) = receiver.messages()
    body = json.loads(message.body)
    assert body["alert_type"] == AUTH_FAILURES
    assert body["data"]["service_token_id"] == token["id"]
    assert body["data"]["client_id"] == token["client_id"]
    assert body["data"]["failures"] == 10
    assert body["data"]["window_seconds"] == 300
    assert body["data"]["last_reason"] == "invalid credentials"
    assert "client_secret" not in message.body.decode()

    # The window has moved on: failures keep coming, so it fires again (and only once).
    later = start + timedelta(minutes=6)
    fail(token, world.account_a, 10, later)
    fail(token, world.account_a, 10, later + timedelta(seconds=20))
    clock.advance(timedelta(minutes=7))
    assert worker(notify_service, clock).run_once().succeeded == 1
    assert len(receiver.messages()) == 2


def test_failures_on_an_account_without_a_policy_write_no_alert(
    api: TestClient, notify_service: UseCases, notify_world: World, receiver: Receiver
) -> None:
    world = notify_world
    webhook_id = make_webhook(api, world, receiver.url)
    make_policy(api, world, webhook_id, alert_type=AUTH_FAILURES, name="off", enabled=False)
    token = make_token(api, world, world.account_a, world.write_a)
    writer = LastSeenWriter(notify_service.database, interval=3600.0)
    now = datetime.now().astimezone()
    for n in range(15):
        writer.record_failure(failure(token, world.account_a, now + timedelta(seconds=n)))
    writer.flush()
    assert writer.dropped == 0
    assert open_deliveries(notify_service) == 0
    with notify_service.database.read() as tx:  # the failures themselves are recorded
        entries = tx.audit.entries(account_id=world.account_a, since=now, limit=100)
    assert sum(e.action == "gate.auth_failed" for e in entries) == 15
