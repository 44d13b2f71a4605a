"""A security review's finding on fan-out: one token change queues one delivery per
(policy × webhook), so an account's counts are capped; and the delivery worker shares its
connections between accounts and destinations, so one account's hanging receiver cannot
hold another account's alerts back."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.notifications.delivery import Delivery, DeliveryStatus
from servicetokens.domain.notifications.destinations import new_alerting_id
from servicetokens.domain.notifications.limits import MAX_WEBHOOKS_PER_POLICY, AlertLimits
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.conftest import World, make_world
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, error, ok
from tests.notifications.test_delivery import worker

ROTATED = "servicetokens_service_token_rotated"


@pytest.fixture
def capped(own_database: str, clock: HandClock) -> Iterator[UseCases]:
    """Use cases whose accounts may have 2 destinations and 3 policies."""
    engine = make_engine(own_database, pool_size=4)
    upgrade(engine)
    service = build_use_cases(
        Database(engine),
        clock=clock,
        allow_private_webhooks=True,
        alert_limits=AlertLimits(webhooks=2, policies=3),
    )
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def capped_api(capped: UseCases) -> Iterator[TestClient]:
    with TestClient(
        create_app(capped), raise_server_exceptions=False, client=("127.0.0.1", 50000)
    ) as client:
        yield client


def _webhook(api: TestClient, account: str, token: str, url: str) -> Any:
    return api.post(
        f"{alerting(account)}/destinations/webhooks",
        json={"name": "ops", "url": url, "secret": "s3cret"},
        headers=World.bearer(token),
    )


def _policy(
    api: TestClient, account: str, token: str, webhooks: list[str], *, name: str = "p"
) -> Any:
    return api.post(
        f"{alerting(account)}/policies",
        json={
            "name": name,
            "alert_type": ROTATED,
            "enabled": True,
            "mechanisms": {"webhooks": [{"id": w} for w in webhooks]},
        },
        headers=World.bearer(token),
    )


def _rotate(api: TestClient, account: str, token: str) -> None:
    auth = World.bearer(token)
    url = f"/client/v4/accounts/{account}/access/service_tokens"
    created = api.post(url, json={"name": "t", "duration": "8760h"}, headers=auth)
    assert created.status_code == 201, created.text
    rotated = api.post(f"{url}/{created.json()['result']['id']}/rotate", headers=auth)
    assert rotated.status_code == 200, rotated.text


def test_destinations_per_account_are_capped(
    capped_api: TestClient, capped: UseCases, receiver: Receiver
) -> None:
    world = make_world(capped)
    for _ in range(2):
        ok(_webhook(capped_api, world.account_a, world.write_a, receiver.url), 201)
    tested = len(receiver.received)
    message = error(_webhook(capped_api, world.account_a, world.write_a, receiver.url), 400, 17911)
    assert message == "an account may have at most 2 webhook destinations"
    assert len(receiver.received) == tested  # refused before its test message
    # another account's count is its own
    ok(_webhook(capped_api, world.account_b, world.write_b, receiver.url), 201)


def test_policies_per_account_are_capped(
    capped_api: TestClient, capped: UseCases, receiver: Receiver
) -> None:
    world = make_world(capped)
    webhook = ok(_webhook(capped_api, world.account_a, world.write_a, receiver.url), 201)
    webhook_id = webhook["result"]["id"]
    for n in range(3):
        ok(_policy(capped_api, world.account_a, world.write_a, [webhook_id], name=f"p{n}"))
    message = error(_policy(capped_api, world.account_a, world.write_a, [webhook_id]), 400, 17911)
    assert message == "an account may have at most 3 notification policies"
    listed = capped_api.get(
        f"{alerting(world.account_a)}/policies", headers=World.bearer(world.write_a)
    )
    assert len(listed.json()["result"]) == 3


def test_concurrent_creates_never_pass_the_cap(
    capped_api: TestClient, capped: UseCases, receiver: Receiver
) -> None:
    """Creates racing each other (PostgreSQL's READ COMMITTED would let each count the
    others' rows as absent) still stop at the cap: the account's notifications lock."""
    world = make_world(capped)
    webhook_id = ok(_webhook(capped_api, world.account_a, world.write_a, receiver.url), 201)[
        "result"
    ]["id"]

    def create(n: int) -> int:
        answer = _policy(capped_api, world.account_a, world.write_a, [webhook_id], name=f"r{n}")
        return int(answer.status_code)

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(create, range(24)))
    assert statuses == Counter({200: 3, 400: 21})
    listed = capped_api.get(
        f"{alerting(world.account_a)}/policies", headers=World.bearer(world.write_a)
    )
    assert len(listed.json()["result"]) == 3
    with ThreadPoolExecutor(max_workers=12) as pool:
        made = Counter(
            pool.map(
                lambda _: (
                    _webhook(capped_api, world.account_a, world.write_a, receiver.url).status_code
                ),
                range(12),
            )
        )
    assert made == Counter({201: 1, 400: 11})  # one more destination fits beside the first


def test_webhooks_per_policy_are_capped(
    api: TestClient, notify_world: World, receiver: Receiver
) -> None:
    world = notify_world
    ids = [
        ok(_webhook(api, world.account_a, world.write_a, receiver.url), 201)["result"]["id"]
        for _ in range(MAX_WEBHOOKS_PER_POLICY + 1)
    ]
    ok(_policy(api, world.account_a, world.write_a, ids[:MAX_WEBHOOKS_PER_POLICY]))
    message = error(_policy(api, world.account_a, world.write_a, ids), 400, 17911)
    assert message == f"a policy may name at most {MAX_WEBHOOKS_PER_POLICY} webhooks"
    assert MAX_WEBHOOKS_PER_POLICY == 10


def test_defaults_a_real_account_does_not_meet() -> None:
    assert AlertLimits() == AlertLimits(webhooks=100, policies=200)


def test_one_change_reaches_a_webhook_once_per_policy_that_names_it(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    # Each policy's message carries its own policy_id and policy_name (Cloudflare's
    # payload), so two policies naming one webhook are two messages; one policy naming it
    # twice is one.
    world = notify_world
    webhook_id = ok(_webhook(api, world.account_a, world.write_a, receiver.url), 201)["result"][
        "id"
    ]
    first = ok(_policy(api, world.account_a, world.write_a, [webhook_id, webhook_id], name="one"))
    second = ok(_policy(api, world.account_a, world.write_a, [webhook_id], name="two"))
    _rotate(api, world.account_a, world.write_a)
    worker(notify_service, clock).run_once()
    sent = [json.loads(m.body) for m in receiver.messages()]
    assert sorted(m["policy_id"] for m in sent) == sorted(
        [first["result"]["id"], second["result"]["id"]]
    )


def _delivery(account: str, webhook: str, clock: HandClock, *, age: int) -> Delivery:
    now = clock()
    return Delivery(
        id=new_alerting_id(),
        account_id=account,
        webhook_id=webhook,
        policy_id=new_alerting_id(),
        policy_name="p",
        description=None,
        alert_type=ROTATED,
        correlation_id=new_alerting_id(),
        alert_event="ALERT_STATE_EVENT_START",
        body=b"{}",
        status=DeliveryStatus.PENDING,
        created_at=now - timedelta(seconds=age),
        next_attempt_at=now - timedelta(seconds=age),
    )


def test_a_claim_shares_its_batch_between_accounts_and_destinations(
    notify_service: UseCases, clock: HandClock
) -> None:
    # Account A has 300 older deliveries over 3 destinations, the 200 oldest to its first;
    # B has one, newer than all.
    hooks_a = [new_alerting_id() for _ in range(3)]
    older = [
        _delivery("a" * 32, hooks_a[0 if n >= 100 else n % 3], clock, age=1000 + n)
        for n in range(300)
    ]
    newest = _delivery("b" * 32, new_alerting_id(), clock, age=1)
    notify_service.database.run_write(lambda tx: tx.outbox.add([*older, newest]))

    def claim(busy: dict[str, int]) -> list[Delivery]:
        return notify_service.database.run_write(
            lambda tx: tx.outbox.claim_due(
                clock(),
                until=clock() + timedelta(minutes=1),
                limit=200,
                per_destination=4,
                per_account=8,
                busy_destinations=busy,
                busy_accounts={"a" * 32: sum(busy.values())},
            )
        )

    claimed = claim({})
    assert newest.id in {d.id for d in claimed}
    mine = [d for d in claimed if d.account_id == "a" * 32]
    per_destination = Counter(d.webhook_id for d in mine)
    assert len(mine) == 8
    assert per_destination[hooks_a[0]] == 4
    for hook in per_destination:  # oldest first within each destination's share
        queued = [d.id for d in sorted(older, key=lambda d: d.created_at) if d.webhook_id == hook]
        assert {d.id for d in mine if d.webhook_id == hook} == set(queued[: per_destination[hook]])
    # With A's 8 still in flight, the next claim leaves A alone.
    assert claim(dict(per_destination)) == []


def test_a_hanging_receiver_does_not_delay_another_accounts_alerts(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    clock: HandClock,
) -> None:
    world = notify_world
    with Receiver() as slow, Receiver() as fast:
        hook_a = ok(_webhook(api, world.account_a, world.write_a, slow.url), 201)["result"]["id"]
        hook_b = ok(_webhook(api, world.account_b, world.write_b, fast.url), 201)["result"]["id"]
        for n in range(6):  # six messages per rotate, all to the hanging receiver
            ok(_policy(api, world.account_a, world.write_a, [hook_a], name=f"a{n}"))
        ok(_policy(api, world.account_b, world.write_b, [hook_b]))
        slow.delay = 6.0  # from now on it hangs past the worker's 5 s timeout
        running = worker(notify_service, clock, timeout=5.0, poll=0.05)
        running.start()
        try:
            _rotate(api, world.account_a, world.write_a)
            running.wake()
            slow.wait_for(lambda got: len([r for r in got if b"alert_type" in r.body]) >= 1)
            # A's sends now hang; B's alert, queued after them, must not wait for them.
            _rotate(api, world.account_b, world.write_b)
            running.wake()
            fast.wait_for(lambda got: any(b"alert_type" in r.body for r in got), timeout=2.5)
        finally:
            running.stop(timeout=10.0)
            slow.delay = 0
