"""When each API token was last used: remembered in memory, written behind in batches.

Recording a use is a dict update under a lock, so the request path never writes to the
database. An API process flushes every `interval` seconds (5 s by default) on a background
thread, and once more when it stops. Staleness bound: a use reaches the database within
`interval` plus one write; a crash loses at most the last `interval` of uses (only the
`last_used_at` column, never a credential's standing).

Memory is bounded: only authenticated tokens are recorded, one entry per token id, and at
most `max_pending` ids wait between flushes (more are dropped and counted).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from servicetokens.store.database import Database
from servicetokens.usecases.background import Periodic

__all__ = ["DEFAULT_FLUSH_INTERVAL", "ApiTokenUsage"]

log = logging.getLogger("servicetokens.usecases.usage")

DEFAULT_FLUSH_INTERVAL = 5.0
"""Seconds between flushes of `last_used_at` in an API process."""

_MAX_PENDING = 100_000


class ApiTokenUsage:
    """Collects (API token id → latest use) and writes them to `last_used_at`."""

    def __init__(
        self,
        database: Database,
        *,
        interval: float = DEFAULT_FLUSH_INTERVAL,
        max_pending: int = _MAX_PENDING,
    ) -> None:
        self._database = database
        self._interval = interval
        self._max_pending = max_pending
        self._pending: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._loop = Periodic(
            "api-token-usage", self.flush, interval=interval, final=self.flush, log=log
        )
        self.dropped = 0
        """Uses not recorded because `max_pending` ids were already waiting."""

    def record(self, token_id: str, moment: datetime) -> None:
        """Note that API token `token_id` authenticated a request at `moment` (cheap)."""
        with self._lock:
            seen = self._pending.get(token_id)
            if seen is None:
                if len(self._pending) >= self._max_pending:
                    self.dropped += 1
                    return
                self._pending[token_id] = moment
            elif seen < moment:
                self._pending[token_id] = moment

    def flush(self) -> int:
        """Write every pending use in one transaction; returns how many tokens it touched.

        On failure the batch is kept for the next flush (each row is an id and an integer, so
        only an unreachable database can refuse it) and the error is raised.
        """
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            with self._database.write() as tx:
                tx.principals.touch_api_tokens_used(
                    sorted(batch.items())
                )  # sorted: a stable lock order
        except Exception:
            for token_id, moment in batch.items():
                self.record(token_id, moment)
            raise
        return len(batch)

    def start(self) -> None:
        """Flush every `interval` seconds on a daemon thread until `stop()`."""
        self._loop.start()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        self._loop.stop()
