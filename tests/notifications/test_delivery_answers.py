"""What a receiver's answer makes of a delivery, on both engines, with a real loopback
receiver and a hand-moved clock (docs/compatibility.md, Notifications, "Delivery"): 410 Gone
stops retrying at once; 429, 502, 503 and 504 have their `Retry-After` (seconds or an HTTP
date) honoured up to four times the step's delay; any other failure keeps to the schedule,
whatever `Retry-After` it carries."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.usecases.delivery_worker import DeliveryWorker
from servicetokens.usecases.expiry_alerts import ExpiryAlerts
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, make_policy, make_webhook, ok
from tests.notifications.test_delivery import SECRET, create_token, worker

# The worker's schedule (`test_delivery.worker`): a first retry after 5 s ± 20 %, a second
# after 60 s ± 20 %, then failed. `Retry-After` may stretch the first to 4 × 5 = 20 s.
FIRST_STEP_AT_MOST = 6


@pytest.fixture(autouse=True)
def _policy(api: TestClient, notify_world: World, receiver: Receiver) -> None:
    """A destination at the receiver, and a policy sending it the expiry alert."""
    make_policy(api, notify_world, make_webhook(api, notify_world, receiver.url, secret=SECRET))


class Stopwatch:
    """Moves the hand clock to moments counted from when it was started."""

    def __init__(self, sender: DeliveryWorker, clock: HandClock) -> None:
        self._sender, self._clock, self._start = sender, clock, clock()

    def due_after(self, seconds: float) -> bool:
        """Whether the delivery is sent once `seconds` have passed since the start (only
        forward: call with growing values)."""
        self._clock.advance(self._start + timedelta(seconds=seconds) - self._clock())
        return self._sender.run_once().sent == 1


def _failing_alert(
    api: TestClient, service: UseCases, world: World, clock: HandClock, receiver: Receiver
) -> DeliveryWorker:
    """One alert queued, and its first attempt made and failed (as the receiver answers)."""
    create_token(api, world, "24h")
    assert ExpiryAlerts(service.database, clock=clock).run_once().expiring == 1
    sender = worker(service, clock)
    cycle = sender.run_once()
    assert (cycle.sent, cycle.succeeded) == (1, 0)
    return sender


def _history_item(api: TestClient, world: World) -> dict[str, Any]:
    auth = world.bearer(world.read_a)
    (item,) = ok(api.get(f"{alerting(world.account_a)}/history", headers=auth))["result"]
    return dict(item)


def test_410_gone_stops_retrying_at_once(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    receiver.status = 410
    receiver.answer_headers = {"Retry-After": "1"}  # says nothing against "never again"
    sender = _failing_alert(api, notify_service, notify_world, clock, receiver)
    assert sender.backlog() == 0
    clock.advance(timedelta(days=3))  # past every step of the schedule
    receiver.status, receiver.answer_headers = 200, {}
    assert sender.run_once().sent == 0
    assert len(receiver.messages()) == 1
    item = _history_item(api, notify_world)
    assert item["delivery_status"] == "failed"
    assert item["attempts"] == 1
    assert item["next_attempt_at"] is None
    assert item["last_response_status"] == 410
    assert [a["status"] for a in item["attempts_log"]] == [410]
    webhook = item["mechanism"]
    auth = notify_world.bearer(notify_world.read_a)
    shown = ok(
        api.get(f"{alerting(notify_world.account_a)}/destinations/webhooks/{webhook}", headers=auth)
    )["result"]
    assert shown["last_failure"] is not None
    assert shown["last_success"] is None
    # Only that delivery: the destination is not disabled (docs/compatibility.md).
    create_token(api, notify_world, "24h")
    assert ExpiryAlerts(notify_service.database, clock=clock).run_once().expiring == 1
    assert sender.run_once().succeeded == 1


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retry_after_is_honoured_on_a_throttling_answer(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    status: int,
) -> None:
    receiver.status, receiver.answer_headers = status, {"Retry-After": "15"}
    sender = _failing_alert(api, notify_service, notify_world, clock, receiver)
    watch = Stopwatch(sender, clock)
    receiver.status, receiver.answer_headers = 200, {}
    assert not watch.due_after(FIRST_STEP_AT_MOST + 1)  # the schedule alone would send it now
    assert not watch.due_after(14.5)
    assert watch.due_after(15.5)
    item = _history_item(api, notify_world)
    assert item["delivery_status"] == "succeeded"
    assert [a["status"] for a in item["attempts_log"]] == [status, 200]


def test_retry_after_is_capped_at_four_times_the_step_and_never_shortens_it(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    receiver.status, receiver.answer_headers = 503, {"Retry-After": "3600"}
    sender = _failing_alert(api, notify_service, notify_world, clock, receiver)
    watch = Stopwatch(sender, clock)
    receiver.answer_headers = {"Retry-After": "0"}  # still 503, asking for no wait at all
    assert not watch.due_after(19.5)
    assert watch.due_after(20.5)  # 4 × 5 s, not an hour
    watch = Stopwatch(sender, clock)  # from the second attempt
    assert not watch.due_after(47)  # the second step: 60 s - 20 %, not 0 s
    assert watch.due_after(73)
    assert [a["status"] for a in _history_item(api, notify_world)["attempts_log"]] == [503] * 3


def test_retry_after_as_an_http_date(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    # An HTTP date has whole seconds: 16 s from now is 15 to 16 s away when it is read.
    receiver.status = 429
    receiver.answer_headers = {"Retry-After": formatdate(time.time() + 16, usegmt=True)}
    sender = _failing_alert(api, notify_service, notify_world, clock, receiver)
    watch = Stopwatch(sender, clock)
    receiver.status, receiver.answer_headers = 200, {}
    assert not watch.due_after(14)
    assert watch.due_after(17)


@pytest.mark.parametrize("status", [500, 404, 302])
def test_retry_after_on_another_failure_is_ignored(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
    status: int,
) -> None:
    receiver.status, receiver.answer_headers = status, {"Retry-After": "3600"}
    sender = _failing_alert(api, notify_service, notify_world, clock, receiver)
    watch = Stopwatch(sender, clock)
    assert watch.due_after(FIRST_STEP_AT_MOST + 0.5)
