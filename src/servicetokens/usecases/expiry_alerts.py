"""The scheduled alerts: `expiring_service_token_alert` (an enabled token entered the 7 days
before its `expires_at`) and the extension `servicetokens_service_token_expired` (an
enabled token passed it), found every `--jobs-interval` seconds.

Each batch is one write transaction that claims the job (one runner across processes, as
the inactivity job does), reads the policy afresh, finds the tokens it has not alerted
about at their current `expires_at`, queues the alerts and writes the markers that say so.
A token therefore fires once per (policy, expires_at): a refresh or a new duration moves
`expires_at`, and it fires again if it re-enters the window. Disabled and deleted tokens
are never found; `forever` tokens never enter a window. Checks missed while no server ran
happen at the next run (the window is a condition, not an instant).

Each run also prunes the history and the markers older than the retention.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.notifications.alert_types import EXPIRED, EXPIRING
from servicetokens.domain.notifications.payloads import EXPIRY_LEAD, expired_event, expiring_event
from servicetokens.domain.notifications.policies import NotificationPolicy
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.alert_outbox import queue_event
from servicetokens.usecases.background import Periodic
from servicetokens.usecases.inactivity import DEFAULT_JOBS_INTERVAL

__all__ = ["HISTORY_RETENTION", "ExpiryAlerts", "ExpiryRun"]

log = logging.getLogger("servicetokens.usecases.expiry_alerts")

HISTORY_RETENTION = timedelta(days=30)
"""How long closed deliveries stay in the history (Cloudflare keeps 30 days)."""
_EXPIRED_LOOKBACK = timedelta(days=8)
_JOB = "notification_expiry_alerts"


@dataclass(slots=True)
class ExpiryRun:
    """What one run queued."""

    expiring: int = 0
    expired: int = 0
    skipped: bool = False


class ExpiryAlerts:
    """Finds the tokens to alert about and queues their alerts."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock = system_clock,
        interval: float = DEFAULT_JOBS_INTERVAL,
        batch: int = 500,
        queued: Callable[[], object] | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self._batch = batch
        self._queued = queued
        self._loop = Periodic(
            "notification-expiry-alerts", self.run_once, interval=interval, log=log
        )

    def run_once(self) -> ExpiryRun:
        """One pass over every enabled policy of both types."""
        run = ExpiryRun()
        for alert_type in (EXPIRING, EXPIRED):
            with self._database.read() as tx:
                policies = tx.alert_policies.enabled_of_type(alert_type)
            for policy in policies:
                while not self._loop.stopping.is_set():
                    done = self._database.run_write(partial(self._batch_of, policy=policy))
                    if done is None:
                        run.skipped = True
                        return run
                    if alert_type == EXPIRING:
                        run.expiring += done
                    else:
                        run.expired += done
                    if done < self._batch:
                        break
        self._database.run_write(self._prune)
        if run.expiring or run.expired:
            log.info("expiry alerts queued: %d expiring, %d expired", run.expiring, run.expired)
            if self._queued is not None:
                self._queued()
        return run

    def _batch_of(self, tx: Transaction, *, policy: NotificationPolicy) -> int | None:
        if not tx.versions.claim_job_run(_JOB):
            return None
        current = tx.alert_policies.get(policy.account_id, policy.id)
        if current is None or not current.fields.enabled:
            return 0
        if current.fields.alert_type != policy.fields.alert_type:
            return 0
        now = self._clock()
        if current.fields.alert_type == EXPIRING:
            after, until = now, now + EXPIRY_LEAD
        else:
            after, until = max(current.created, now - _EXPIRED_LOOKBACK), now
        tokens = tx.alert_state.unfired(current, after=after, until=until, limit=self._batch)
        for token in tokens:
            event = (
                expiring_event(token, now=now)
                if current.fields.alert_type == EXPIRING
                else expired_event(token)
            )
            queue_event(tx, event, now=now, policies=[current])
        tx.alert_state.mark_fired(current.id, tokens, now=now)
        return len(tokens)

    def _prune(self, tx: Transaction) -> None:
        before: datetime = self._clock() - HISTORY_RETENTION
        tx.alert_state.prune(before)
        tx.outbox.prune_closed(before)

    def start(self) -> None:
        """Run every `interval` seconds until `stop()`."""
        self._loop.start()

    def stop(self) -> None:
        """Stop (a run in progress ends after its current batch)."""
        self._loop.stop()
