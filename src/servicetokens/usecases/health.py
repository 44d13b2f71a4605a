"""What a process can say about its database, for probes and metrics: whether it answers
now (`/readyz`), and how its connection pool is used."""

from __future__ import annotations

import asyncio
import logging

from servicetokens.domain.histogram import Histogram
from servicetokens.store.database import Database, PoolUse

__all__ = ["READY_WITHIN", "DatabaseHealth", "PoolUse"]

READY_WITHIN = 2.0
"""Seconds a readiness probe waits for the database before it answers 'not ready'."""

log = logging.getLogger("servicetokens.usecases.health")


class DatabaseHealth:
    """The database of one process, as probes and metrics see it."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def reachable(self) -> bool:
        """Whether one read on a pooled connection succeeds now (blocking I/O: at most the
        driver's connect timeout, 3 s on PostgreSQL)."""
        try:
            self._database.ping()
        except Exception as exc:  # any failure to read is 'not ready'; its text may hold a URL
            log.warning("database not reachable: %s", type(exc).__name__)
            return False
        return True

    async def ready(self, within: float = READY_WITHIN) -> bool:
        """`reachable()` off the event loop; False too when it takes over `within` s."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.reachable), within)
        except TimeoutError:
            return False

    def pool_use(self) -> PoolUse:
        """The connection pool right now."""
        return self._database.pool_use()

    @property
    def pool_waits(self) -> Histogram:
        """Seconds each transaction waited for a pooled connection."""
        return self._database.pool_waits
