"""The delivery worker: drains the outbox to webhook destinations, one worker across every
process and replica.

Each API server process runs one; they share a lease in the database (`worker_leases`,
row `webhook_delivery`): the holder renews it every cycle, the others only try to take it,
which succeeds once it has expired (a holder that crashed, or hung, loses it within
`lease_seconds`). The holder claims due deliveries in one short transaction (moving their
`next_attempt_at` past the longest a send may take, so a crash mid-send makes them due
again: at least once, always with the same `webhook-id`), sends them concurrently outside
any transaction, and records every attempt (status, latency, error), the destinations'
`last_success`/`last_failure`, and the next attempt (`RetrySchedule`) in another.

Fairness: at most `concurrency` sends are in flight, at most `per_destination` to one
destination and `per_account` for one account, and the running loop never waits for a
batch: it records each send when it ends and claims again while others still hang, so a
receiver that hangs until the timeout holds only its own account's share of the
connections, never another account's alerts.

It runs on its own thread with its own event loop, so sends never wait on the API's loop
and the API never waits on a receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from asyncio import FIRST_COMPLETED
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.notifications.delivery import (
    Attempt,
    Delivery,
    DeliveryStatus,
    RetrySchedule,
)
from servicetokens.domain.notifications.destinations import WebhookDestination
from servicetokens.domain.notifications.errors import SecretsUnavailable
from servicetokens.domain.notifications.signatures import signed_headers
from servicetokens.domain.notifications.targets import TargetRules
from servicetokens.signing.kek import KekError
from servicetokens.store.database import Database, Transaction
from servicetokens.store.outbox import RecordedAttempt
from servicetokens.usecases.webhook_secrets import WebhookSecrets
from servicetokens.webhooks.sender import DEFAULT_TIMEOUT, SendResult, WebhookSender

__all__ = ["LEASE", "Cycle", "DeliveryWorker"]

log = logging.getLogger("servicetokens.usecases.delivery_worker")

LEASE = "webhook_delivery"


@dataclass(slots=True)
class Cycle:
    """What one cycle did."""

    held: bool = False
    """Whether this process held the lease (and so looked for work)."""
    sent: int = 0
    succeeded: int = 0


class DeliveryWorker:
    """Sends what the outbox holds; `start()` / `stop()` with the API process."""

    def __init__(
        self,
        database: Database,
        *,
        rules: TargetRules,
        schedule: RetrySchedule | None = None,
        clock: Clock = system_clock,
        poll: float = 1.0,
        lease_seconds: float = 15.0,
        batch: int = 200,
        timeout: float = DEFAULT_TIMEOUT,
        holder: str | None = None,
        secrets: WebhookSecrets | None = None,
        concurrency: int = 64,
        per_destination: int = 4,
        per_account: int = 16,
    ) -> None:
        self._database = database
        self._secrets = secrets or WebhookSecrets.of(database)
        self._rules = rules
        self._schedule = schedule or RetrySchedule()
        self._clock = clock
        self._poll = poll
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch
        self._timeout = timeout
        self._concurrency = concurrency
        self._per_destination = per_destination
        self._per_account = per_account
        self.holder = holder or uuid.uuid4().hex
        """This worker's name in the lease."""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # -- one cycle ----------------------------------------------------------------------------

    def _claim(
        self, tx: Transaction, now: datetime, in_flight: Sequence[Delivery] = ()
    ) -> tuple[list[Delivery], dict[str, WebhookDestination]] | None:
        if not tx.outbox.hold_lease(LEASE, self.holder, now=now, until=now + self._lease):
            return None
        room = min(self._batch, self._concurrency - len(in_flight))
        if room <= 0:
            return [], {}
        until = now + timedelta(seconds=self._timeout + 30)
        due = tx.outbox.claim_due(
            now,
            until=until,
            limit=room,
            per_destination=self._per_destination,
            per_account=self._per_account,
            busy_destinations=Counter(d.webhook_id for d in in_flight),
            busy_accounts=Counter(d.account_id for d in in_flight),
        )
        return due, tx.webhooks.by_ids({d.webhook_id for d in due})

    async def _attempt(
        self, sender: WebhookSender, delivery: Delivery, webhook: WebhookDestination | None
    ) -> RecordedAttempt:
        try:
            return await self._try(sender, delivery, webhook)
        except Exception as exc:
            # One delivery's surprise must not stop its batch from being recorded (the
            # others would be sent again every claim, forever): it is a failed attempt.
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
            result = SendResult(None, 0, f"internal error ({type(exc).__name__})")
            return self._failed(delivery, _attempt(self._clock(), result), result)

    def _failed(self, delivery: Delivery, attempt: Attempt, result: SendResult) -> RecordedAttempt:
        later = None
        if not attempt.final:
            retry_after = result.retry_after if attempt.throttled else None
            later = self._schedule.next_attempt(
                len(delivery.attempts) + 1, now=self._clock(), retry_after=retry_after
            )
        status = DeliveryStatus.FAILED if later is None else DeliveryStatus.RETRYING
        return RecordedAttempt(delivery, attempt, status, later)

    async def _try(
        self, sender: WebhookSender, delivery: Delivery, webhook: WebhookDestination | None
    ) -> RecordedAttempt:
        now = self._clock()
        if webhook is None:  # deleted meanwhile: its deliveries are cancelled
            result = SendResult(None, 0, "the destination was deleted")
            return RecordedAttempt(delivery, _attempt(now, result), DeliveryStatus.CANCELLED, None)
        try:
            secret = self._secrets.open(webhook)
        except (KekError, SecretsUnavailable) as exc:
            # Nothing is sent unsigned: it fails, and is retried, until the KEK is right.
            log.error("webhook %s: %s", webhook.id, exc)
            result = SendResult(None, 0, "the destination's secret could not be opened")
        else:
            headers = signed_headers(
                delivery_id=delivery.id,
                timestamp=int(now.timestamp()),
                body=delivery.body,
                secret=secret,
            )
            result = await sender.post(webhook.url, delivery.body, headers)
        attempt = _attempt(now, result)
        if attempt.succeeded:
            return RecordedAttempt(delivery, attempt, DeliveryStatus.SUCCEEDED, None)
        return self._failed(delivery, attempt, result)

    def _record(self, tx: Transaction, outcomes: list[RecordedAttempt]) -> None:
        tx.outbox.record(outcomes)
        successes: dict[str, datetime] = {}
        failures: dict[str, datetime] = {}
        for outcome in outcomes:
            if outcome.status is DeliveryStatus.CANCELLED:
                continue
            into = successes if outcome.attempt.succeeded else failures
            webhook_id = outcome.delivery.webhook_id
            into[webhook_id] = max(outcome.attempt.at, into.get(webhook_id, outcome.attempt.at))
        tx.webhooks.record_results(successes, failures)

    async def cycle(self, sender: WebhookSender) -> Cycle:
        """Renew (or try to take) the lease; as its holder, send one batch of due
        deliveries and record the outcomes."""
        now = self._clock()
        claimed = await asyncio.to_thread(self._database.run_write, lambda tx: self._claim(tx, now))
        if claimed is None:
            return Cycle()
        due, webhooks = claimed
        if not due:
            return Cycle(held=True)
        outcomes = await asyncio.gather(
            *(self._attempt(sender, d, webhooks.get(d.webhook_id)) for d in due)
        )
        await asyncio.to_thread(self._database.run_write, lambda tx: self._record(tx, outcomes))
        succeeded = sum(1 for o in outcomes if o.status is DeliveryStatus.SUCCEEDED)
        return Cycle(held=True, sent=len(outcomes), succeeded=succeeded)

    def backlog(self) -> int:
        """How many deliveries are still to be sent (the `servicetokens_outbox_backlog`
        gauge, read at scrape time)."""
        with self._database.read() as tx:
            return tx.outbox.open_count()

    def run_once(self) -> Cycle:
        """One cycle from synchronous code (tests, the CLI): its own loop and client."""

        async def once() -> Cycle:
            async with WebhookSender(self._rules, timeout=self._timeout) as sender:
                return await self.cycle(sender)

        return asyncio.run(once())

    # -- the loop -----------------------------------------------------------------------------

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        async with WebhookSender(
            self._rules, timeout=self._timeout, per_destination=self._per_destination
        ) as sender:
            flying: dict[asyncio.Task[RecordedAttempt], Delivery] = {}
            while not self._stopping.is_set():
                try:
                    await self._step(sender, flying)
                except Exception as exc:  # the database may be away: the rows stay due
                    log.warning("webhook delivery failed: %s", type(exc).__name__)
                waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
                waits.update(flying)
                await asyncio.wait(waits, timeout=self._poll, return_when=FIRST_COMPLETED)
                for waiter in waits - set(flying):
                    waiter.cancel()
                self._wake.clear()
            if flying:  # let the sends in flight end, and record them
                await asyncio.wait(flying)
                with contextlib.suppress(Exception):
                    await self._record_done(flying)
        try:  # hand the lease over at once rather than after it expires
            await asyncio.to_thread(
                self._database.run_write, lambda tx: tx.outbox.release_lease(LEASE, self.holder)
            )
        except Exception as exc:
            log.warning("releasing the delivery lease failed: %s", type(exc).__name__)

    async def _record_done(self, flying: dict[asyncio.Task[RecordedAttempt], Delivery]) -> None:
        done = [task for task in flying if task.done()]
        if not done:
            return
        outcomes = [task.result() for task in done]
        await asyncio.to_thread(self._database.run_write, lambda tx: self._record(tx, outcomes))
        for task in done:
            del flying[task]

    async def _step(
        self, sender: WebhookSender, flying: dict[asyncio.Task[RecordedAttempt], Delivery]
    ) -> None:
        """Record the sends that ended; claim (fairly, counting those still in flight)
        and start more."""
        await self._record_done(flying)
        now = self._clock()
        busy = list(flying.values())
        claimed = await asyncio.to_thread(
            self._database.run_write, lambda tx: self._claim(tx, now, busy)
        )
        if claimed is None:
            return
        due, webhooks = claimed
        for delivery in due:
            task = asyncio.create_task(
                self._attempt(sender, delivery, webhooks.get(delivery.webhook_id))
            )
            flying[task] = delivery

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()
            self._loop = None

    def start(self) -> None:
        """Start delivering on a daemon thread (a second call while it runs does nothing)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll (from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    def stop(self, *, timeout: float = 20.0) -> None:
        """Stop claiming, let the sends in flight finish (up to `timeout`), release the
        lease."""
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None


def _attempt(now: datetime, result: SendResult) -> Attempt:
    return Attempt(at=now, status=result.status, latency_ms=result.latency_ms, error=result.error)
