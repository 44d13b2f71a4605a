"""Notifications across real `servicetokens serve` processes, with a real aiohttp receiver:

- SIGKILLed with deliveries pending — some waiting for a retry because the receiver was
  down, some in flight to a receiver too slow to answer — the restarted server delivers
  every alert, and any alert the receiver saw twice came with the same `webhook-id`;
- two servers over one database deliver each alert from one of them only, and the survivor
  carries on alone when the other stops.

Alerts are counted at the receiver by `webhook-id` and by the token they name; the outbox's
rows are read from the database for the final word.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from bench.harness import Server
from sqlalchemy import select

from servicetokens.config import (
    ALLOW_PRIVATE_WEBHOOKS_ENV,
    JOBS_INTERVAL_ENV,
    NOTIFY_RETRY_SCHEDULE_ENV,
)
from servicetokens.store.engine import make_engine
from servicetokens.store.schema import alert_deliveries
from tests.conftest import own_postgres_database
from tests.notifications.receiver import Received, Receiver
from tests.reliability.live import cli_json

pytestmark = pytest.mark.slow

ALERTING = "/client/v4/accounts/{account}/alerting/v3"
TOKENS = "/client/v4/accounts/{account}/access/service_tokens"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        ALLOW_PRIVATE_WEBHOOKS_ENV: "1",
        JOBS_INTERVAL_ENV: "0.3",
        # Retries come quickly once the receiver is back (the default starts at 5 s).
        NOTIFY_RETRY_SCHEDULE_ENV: "0.5,1,2,4,8,16,32",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: the outbox is global, and it is counted whole."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notify.db'}"
        return
    with own_postgres_database("st_notify") as url:
        yield url


class Account:
    """An account with a write token, made through the CLI."""

    def __init__(self, database: str) -> None:
        self.id = cli_json(database, "accounts", "create", "notify")["id"]
        self.token = cli_json(
            database, "api-tokens", "create", "w", "--account", self.id, "--permission", "write"
        )["token"]

    def client(self, server: Server) -> httpx.Client:
        return httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def subscribe(self, server: Server, receiver: Receiver) -> None:
        """A webhook destination at `receiver` and a policy for expiring tokens."""
        base = ALERTING.format(account=self.id)
        with self.client(server) as client:
            made = client.post(
                f"{base}/destinations/webhooks",
                json={"name": "ops", "url": receiver.url, "secret": "whsec_c2VjcmV0LWtleS0x"},
            )
            assert made.status_code == 201, made.text
            policy = client.post(
                f"{base}/policies",
                json={
                    "name": "expiring",
                    "alert_type": "expiring_service_token_alert",
                    "enabled": True,
                    "mechanisms": {"webhooks": [{"id": made.json()["result"]["id"]}]},
                },
            )
            assert policy.status_code == 200, policy.text

    def tokens(self, server: Server, count: int, prefix: str) -> set[str]:
        """`count` tokens that expire in 72 hours: each enters the alert window at once."""
        made = set()
        with self.client(server) as client:
            for n in range(count):
                created = client.post(
                    TOKENS.format(account=self.id), json={"name": f"{prefix}{n}", "duration": "72h"}
                )
                assert created.status_code == 201, created.text
                made.add(created.json()["result"]["id"])
        return made


def alerts(received: list[Received]) -> list[tuple[str, str]]:
    """(token id, webhook-id) of every alert received (test messages left out)."""
    found = []
    for request in received:
        body = json.loads(request.body)
        if body.get("alert_type") == "expiring_service_token_alert":
            found.append((body["data"]["service_token_id"], request.headers["webhook-id"]))
    return found


def one_id_per_token(received: list[Received]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = defaultdict(set)
    for token_id, webhook_id in alerts(received):
        ids[token_id].add(webhook_id)
    return ids


def outbox_states(database: str) -> dict[str, str]:
    """Every delivery's status, by the `webhook-id` it is sent with (`msg_` + its id)."""
    engine = make_engine(database, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(alert_deliveries.c.id, alert_deliveries.c.status))
            return {f"msg_{row.id}": row.status for row in rows}
    finally:
        engine.dispose()


def until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def serve(database: str, log: Path) -> Server:
    return Server.api(database, log=log, env=_env(), timeout=60)


def kill(server: Server) -> None:
    os.killpg(server.pid, signal.SIGKILL)
    assert server.process is not None
    server.process.wait(timeout=10)
    server.stop()


def test_sigkill_with_deliveries_pending_delivers_all_after_restart(
    database: str, tmp_path: Path, receiver: Receiver
) -> None:
    account = Account(database)
    server = serve(database, tmp_path / "api.log")
    try:
        account.subscribe(server, receiver)

        # Receiver down: these alerts fail and wait for a retry.
        receiver.stop()
        waiting = account.tokens(server, 3, "down-")
        until(
            lambda: sum(s == "retrying" for s in outbox_states(database).values()) == 3,
            timeout=30,
            what="three failed attempts",
        )

        # Receiver back but too slow to answer: every alert is in flight when the server
        # dies (the retries of the first three, and three new ones).
        receiver.delay = 120
        receiver.start()
        in_flight = account.tokens(server, 3, "slow-")
        expected = waiting | in_flight
        receiver.wait_for(lambda got: {t for t, _ in alerts(got)} == expected, timeout=30)
    finally:
        kill(server)
    states = outbox_states(database)
    assert len(states) == 6
    assert "succeeded" not in states.values()  # nothing was answered before the kill

    receiver.delay = 0
    with serve(database, tmp_path / "api-restarted.log"):
        # The dead holder's lease and claims expire (15 s, the send timeout + 30 s); then
        # the restarted server sends everything again.
        until(
            lambda: set(outbox_states(database).values()) == {"succeeded"},
            timeout=120,
            what="every delivery to succeed after the restart",
        )
    ids = one_id_per_token(receiver.received)
    assert set(ids) == expected
    assert all(len(webhook_ids) == 1 for webhook_ids in ids.values()), ids
    assert {next(iter(v)) for v in ids.values()} == set(outbox_states(database))
    # Each in-flight alert was seen at least twice (before the kill and after), same id.
    counts = defaultdict(int)
    for token_id, _ in alerts(receiver.received):
        counts[token_id] += 1
    assert all(counts[t] >= 2 for t in in_flight), counts


def test_two_servers_deliver_each_alert_once(
    database: str, tmp_path: Path, receiver: Receiver
) -> None:
    account = Account(database)
    first = serve(database, tmp_path / "first.log")
    second = serve(database, tmp_path / "second.log")
    try:
        account.subscribe(first, receiver)
        # Tokens made through both servers; both run the expiry job and a delivery worker.
        expected = account.tokens(first, 10, "a-") | account.tokens(second, 10, "b-")
        receiver.wait_for(lambda got: {t for t, _ in alerts(got)} == expected, timeout=60)

        # One server stops (gracefully, handing over the lease): the other carries on.
        first.stop()
        expected |= account.tokens(second, 10, "c-")
        receiver.wait_for(lambda got: {t for t, _ in alerts(got)} == expected, timeout=60)
        until(
            lambda: set(outbox_states(database).values()) == {"succeeded"},
            timeout=30,
            what="every delivery recorded",
        )
    finally:
        first.stop()
        second.stop()
    received = alerts(receiver.received)
    # Every receiver answer was 200: at-least-once had no cause to repeat anything, so each
    # alert arrived exactly once — from one server, not both.
    assert len(received) == len(expected) == 30
    ids = one_id_per_token(receiver.received)
    assert all(len(webhook_ids) == 1 for webhook_ids in ids.values())
    assert {next(iter(v)) for v in ids.values()} == set(outbox_states(database))
