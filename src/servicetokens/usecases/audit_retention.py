"""Audit log retention: entries older than the retention period are deleted.

Every gate and every API server process prunes on a background thread (first a minute after
it starts, then hourly), and `servicetokens audit prune` does it on demand. Deletion runs in
bounded batches, one short transaction each, so a large backlog never holds the write lock
(SQLite) or many row locks (PostgreSQL) for long. Several processes pruning at once is
harmless: a row is deleted once, the others find nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.store.database import Database
from servicetokens.usecases.background import Periodic

__all__ = [
    "AUDIT_RETENTION_ENV",
    "DEFAULT_RETENTION_DAYS",
    "MAX_RETENTION_DAYS",
    "AuditPruner",
    "parse_retention_days",
    "prune_audit",
    "retention_days_from_env",
]

log = logging.getLogger("servicetokens.usecases.audit_retention")

AUDIT_RETENTION_ENV = "SERVICETOKENS_AUDIT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 365
MAX_RETENTION_DAYS = 36_500
"""A hundred years: longer is refused (0 already means 'keep forever')."""
PRUNE_BATCH = 1_000
PRUNE_EVERY = 3_600.0
FIRST_PRUNE_AFTER = 60.0


def parse_retention_days(text: str) -> int:
    """Days of audit log to keep (0: keep forever); ValueError naming the rule otherwise."""
    try:
        days = int(text.strip())
    except ValueError:
        raise ValueError(f"audit retention must be a whole number of days, not {text!r}") from None
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise ValueError(f"audit retention must be 0 (keep forever) to {MAX_RETENTION_DAYS} days")
    return days


def retention_days_from_env() -> int:
    """`SERVICETOKENS_AUDIT_RETENTION_DAYS`, or the default of 365 when unset."""
    value = os.environ.get(AUDIT_RETENTION_ENV)
    return DEFAULT_RETENTION_DAYS if value is None else parse_retention_days(value)


def prune_audit(
    database: Database,
    *,
    retention_days: int,
    clock: Clock = system_clock,
    batch: int = PRUNE_BATCH,
    stop: threading.Event | None = None,
) -> int:
    """Delete every audit entry older than `retention_days` (0: none); how many were.

    Stops early, between batches, once `stop` is set."""
    if retention_days <= 0:
        return 0
    before = clock() - timedelta(days=retention_days)
    total = 0
    while True:
        with database.write() as tx:
            deleted = tx.audit.prune(before, limit=batch)
        total += deleted
        if deleted < batch or (stop is not None and stop.is_set()):
            return total


class AuditPruner:
    """Prunes the audit log on a background thread until stopped."""

    def __init__(
        self,
        database: Database,
        *,
        retention_days: int,
        clock: Clock = system_clock,
        interval: float = PRUNE_EVERY,
        first_after: float = FIRST_PRUNE_AFTER,
        batch: int = PRUNE_BATCH,
    ) -> None:
        self._database = database
        self.retention_days = retention_days
        self._clock = clock
        self._interval = interval
        self._first_after = first_after
        self._batch = batch
        self._loop = Periodic(
            "audit-prune", self.prune_once, interval=interval, first_after=first_after, log=log
        )
        self.runs = 0
        self.deleted = 0

    def prune_once(self) -> int:
        """One full pass; how many entries were deleted."""
        deleted = prune_audit(
            self._database,
            retention_days=self.retention_days,
            clock=self._clock,
            batch=self._batch,
            stop=self._loop.stopping,
        )
        self.runs += 1
        self.deleted += deleted
        if deleted:
            log.info(
                "audit log: %d entries older than %d days deleted", deleted, self.retention_days
            )
        return deleted

    def start(self) -> None:
        """Prune after `first_after` seconds, then every `interval` (nothing when the
        retention is 0: keep forever)."""
        if self.retention_days > 0:
            self._loop.start()

    def stop(self) -> None:
        """Stop the thread (a pass in progress ends after its current batch)."""
        self._loop.stop()
