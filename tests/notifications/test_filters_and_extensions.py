"""What the other notification tests leave unproven, on both engines: the `token_id` filter
narrows what is delivered (not only what is stored), the `expired` and inactivity extension
alerts fire, the history's `since`/`before`/paging with rows in it, a plain (non-`whsec_`)
secret's signature, an unsupported webhook type, and the default retry schedule's shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from servicetokens.domain.notifications.alert_types import (
    EXPIRED,
    EXPIRING,
    INACTIVE_ACTION,
    TOKEN_ROTATED,
)
from servicetokens.domain.notifications.delivery import DEFAULT_RETRY_SCHEDULE, RetrySchedule
from servicetokens.usecases.expiry_alerts import ExpiryAlerts
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.inactivity import InactiveTokens
from tests.clocks import HandClock
from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, error, make_policy, make_webhook, ok
from tests.notifications.test_delivery import create_token, tokens_url, worker
from tests.notifications.test_fanout import _delivery


def _sent(receiver: Receiver) -> list[tuple[str, str]]:
    """(alert_type, token id) of every alert received."""
    bodies = [json.loads(m.body) for m in receiver.messages()]
    return sorted((b["alert_type"], b["data"]["service_token_id"]) for b in bodies)


def test_the_token_id_filter_narrows_what_is_delivered(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    world = notify_world
    webhook_id = make_webhook(api, world, receiver.url)
    kept, other = create_token(api, world, "72h"), create_token(api, world, "72h")
    for alert_type in (EXPIRING, TOKEN_ROTATED):
        make_policy(api, world, webhook_id, alert_type=alert_type, filters={"token_id": [kept]})
    for token_id in (kept, other):
        rotated = api.post(
            f"{tokens_url(world)}/{token_id}/rotate", headers=world.bearer(world.write_a)
        )
        assert rotated.status_code == 200, rotated.text
    assert ExpiryAlerts(notify_service.database, clock=clock).run_once().expiring == 1
    worker(notify_service, clock).run_once()
    assert _sent(receiver) == [(EXPIRING, kept), (TOKEN_ROTATED, kept)]


def test_the_expired_extension_fires_once_after_expires_at(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    world = notify_world
    make_policy(api, world, make_webhook(api, world, receiver.url), alert_type=EXPIRED)
    expiring, disabled = create_token(api, world, "24h"), create_token(api, world, "24h")
    create_token(api, world, "forever")
    put = api.put(f"{tokens_url(world)}/{disabled}", json={"enabled": False},
                  headers=world.bearer(world.write_a))  # fmt: skip
    assert put.status_code == 200, put.text
    jobs = ExpiryAlerts(notify_service.database, clock=clock)
    assert jobs.run_once().expired == 0  # not yet
    clock.advance(timedelta(hours=25))
    assert jobs.run_once().expired == 1
    assert jobs.run_once().expired == 0  # once
    worker(notify_service, clock).run_once()
    assert _sent(receiver) == [(EXPIRED, expiring)]
    assert "expired_at" in json.loads(receiver.messages()[0].body)["data"]


def test_the_inactivity_job_raises_its_extension_alert(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    world = notify_world
    auth = world.bearer(world.write_a)
    organization = api.post(
        f"/client/v4/accounts/{world.account_a}/access/organizations",
        json={"name": "org", "auth_domain": f"t{secrets.token_hex(6)}.cloudflareaccess.com",
              "service_token_inactivity": {"enabled": True, "inactivity_threshold_days": 30,
                                           "action": "disable"}},
        headers=auth,
    )  # fmt: skip
    assert organization.status_code == 201, organization.text
    make_policy(api, world, make_webhook(api, world, receiver.url), alert_type=INACTIVE_ACTION)
    stale = create_token(api, world, "8760h")
    clock.advance(timedelta(days=31))
    assert InactiveTokens(notify_service.database, clock=clock).run_once().disabled == 1
    worker(notify_service, clock).run_once()
    assert _sent(receiver) == [(INACTIVE_ACTION, stale)]
    assert json.loads(receiver.messages()[0].body)["data"]["action"] == "disabled"


def test_history_since_before_and_pages_over_real_rows(
    api: TestClient, notify_service: UseCases, notify_world: World, clock: HandClock
) -> None:
    world = notify_world
    rows = [_delivery(world.account_a, "c" * 32, clock, age=60 * (12 - n)) for n in range(12)]
    rows.append(_delivery(world.account_b, "d" * 32, clock, age=30))  # not A's
    notify_service.database.run_write(lambda tx: tx.outbox.add(rows))
    newest_first = [d.id for d in reversed(rows[:12])]
    url, auth = f"{alerting(world.account_a)}/history", world.bearer(world.read_a)
    walked = []
    for page in (1, 2, 3, 4):
        body = ok(api.get(url, params={"per_page": "5.0", "page": str(page)}, headers=auth))
        assert body["result_info"]["total_count"] == 12
        walked.append([item["id"] for item in body["result"]])
    assert [len(p) for p in walked] == [5, 5, 2, 0]
    assert [item for page in walked for item in page] == newest_first
    since, before = rows[3].created_at, rows[8].created_at  # inclusive, exclusive
    window = ok(api.get(url, params={"since": since.isoformat(), "before": before.isoformat()},
                        headers=auth))["result"]  # fmt: skip
    assert [item["id"] for item in window] == newest_first[4:9]
    naive = since.astimezone(UTC).replace(tzinfo=None).isoformat()  # naive = UTC
    assert len(ok(api.get(url, params={"since": naive}, headers=auth))["result"]) == 9
    assert ok(api.get(url, params={"delivery_status": "succeeded"}, headers=auth))["result"] == []
    assert (
        len(ok(api.get(url, params={"delivery_status": "pending"}, headers=auth))["result"]) == 12
    )


def test_a_plain_secret_signs_with_its_utf8_bytes(
    api: TestClient, notify_world: World, receiver: Receiver
) -> None:
    make_webhook(api, notify_world, receiver.url, secret="s3cret")
    (test_message,) = receiver.received
    headers = test_message.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + test_message.body
    expected = base64.b64encode(hmac.new(b"s3cret", signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_an_unsupported_webhook_type_is_17905(api: TestClient, notify_world: World) -> None:
    url = f"{alerting(notify_world.account_a)}/destinations/webhooks"
    hook = {"name": "d", "url": "https://discord.com/api/webhooks/1/abc"}
    error(api.post(url, json=hook, headers=notify_world.bearer(notify_world.write_a)), 400, 17905)


def test_the_default_schedule_retries_within_30s_and_for_at_least_24h() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    schedule = RetrySchedule()
    latest = schedule.next_attempt(1, now=now, jitter=lambda: 1.0)
    earliest = schedule.next_attempt(1, now=now, jitter=lambda: 0.0)
    assert latest is not None
    assert earliest is not None
    assert earliest < latest <= now + timedelta(seconds=30)  # jittered, first within 30 s
    assert list(DEFAULT_RETRY_SCHEDULE) == sorted(DEFAULT_RETRY_SCHEDULE)  # backing off
    assert DEFAULT_RETRY_SCHEDULE[-1] >= 3600  # to hours
    assert sum(DEFAULT_RETRY_SCHEDULE) * 0.8 >= 24 * 3600  # at least 24 h, jitter included
    assert schedule.next_attempt(len(DEFAULT_RETRY_SCHEDULE) + 1, now=now) is None
