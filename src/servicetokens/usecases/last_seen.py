"""Write-behind of `last_seen_at` (and of failed-attempt audit entries): remembered in memory,
written in one batch per interval.

Staleness bound: a use is written within `interval` (1 s by default) plus one write, and the
documented bound is 5 s. Stopping the gate flushes whatever is pending.

When a batch cannot be written, the reason decides: if the database is away (a lost or
refused connection, a busy lock, an exhausted pool) the batch is kept, bounded, for the next
attempt. Anything else is a row the database refuses, and retrying the same batch would
refuse it forever (and with it every use and audit entry queued behind it), so the batch is
split in halves until the bad row stands alone; it is dropped, counted (`dropped`) and logged
(which row and the error's type, never a value), and every other row is written.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from servicetokens.domain.audit import AuditEntry
from servicetokens.store.database import Database
from servicetokens.store.errors import is_outage
from servicetokens.usecases.alert_failures import auth_failure_alerts
from servicetokens.usecases.background import Periodic

__all__ = ["LastSeenWriter"]

log = logging.getLogger("servicetokens.usecases.last_seen")

_MAX_PENDING_FAILURES = 10_000
_MAX_DROPS_LOGGED = 10  # per flush: a refusal of every row must not flood the log

_Item = tuple[str, float] | AuditEntry
"""A use (token id, epoch seconds) or a failed-attempt audit entry."""


class LastSeenWriter:
    """Collects (token id → latest use) and flushes them on a background thread."""

    def __init__(self, database: Database, *, interval: float) -> None:
        self._database = database
        self._interval = interval
        self._pending: dict[str, float] = {}
        self._failures: list[AuditEntry] = []
        self.failures_dropped = 0
        self._lock = threading.Lock()
        self._loop = Periodic(
            "gate-last-seen", self.flush, interval=interval, final=self.flush, log=log
        )
        self.flushes = 0
        self.written = 0
        self.dropped = 0
        """Uses and audit entries the database refused, dropped after splitting the batch."""

    def record(self, token_id: str, moment: float) -> None:
        """Note a successful authentication at epoch seconds `moment` (cheap; called on the
        request path)."""
        with self._lock:
            seen = self._pending.get(token_id)
            if seen is None or seen < moment:
                self._pending[token_id] = moment

    def record_failure(self, entry: AuditEntry) -> None:
        """Note a failed attempt for a recognised client id (bounded: an attack cannot make
        the batch grow without limit; what is dropped is counted)."""
        with self._lock:
            if len(self._failures) < _MAX_PENDING_FAILURES:
                self._failures.append(entry)
            else:
                self.failures_dropped += 1

    def flush(self) -> None:
        """Write everything pending (blocking I/O): one transaction, unless a row is refused,
        in which case the batch is split so that only that row is lost. Raises (after
        re-queueing what was not written) when the database is away."""
        with self._lock:
            batch, self._pending = self._pending, {}
            failures, self._failures = self._failures, []
        if not batch and not failures:
            return
        # Uses sorted by token id: a stable lock order across gates.
        stack: list[list[_Item]] = [[*sorted(batch.items()), *failures]]
        logged = 0
        while stack:
            chunk = stack.pop()
            try:
                self._write(chunk)
            except Exception as exc:
                if is_outage(exc):
                    for rest in (chunk, *stack):
                        self._requeue(rest)
                    raise
                if len(chunk) > 1:
                    middle = len(chunk) // 2
                    stack += [chunk[middle:], chunk[:middle]]  # the first half is tried first
                    continue
                self.dropped += 1
                if logged < _MAX_DROPS_LOGGED:
                    logged += 1
                    log.error(
                        "write-behind: the database refused %s (%s); dropped",
                        _describe(chunk[0]),
                        type(exc).__name__,
                    )
                continue
            self.written += sum(1 for item in chunk if isinstance(item, tuple))
        self.flushes += 1

    def _write(self, chunk: list[_Item]) -> None:
        with self._database.write() as tx:
            tx.tokens.touch_last_seen(
                (item[0], datetime.fromtimestamp(item[1], UTC))
                for item in chunk
                if isinstance(item, tuple)
            )
            failures = [item for item in chunk if isinstance(item, AuditEntry)]
            for item in failures:
                tx.audit.add(item)
            # Repeated failures raise their alert with the entries that record them.
            auth_failure_alerts(tx, failures)

    def _requeue(self, chunk: list[_Item]) -> None:
        for item in chunk:
            if isinstance(item, tuple):
                self.record(*item)
            else:
                self.record_failure(item)

    def start(self) -> None:
        """Flush every `interval` seconds on a daemon thread until `stop()`."""
        self._loop.start()

    def stop(self) -> None:
        """Stop the thread and flush what is left."""
        self._loop.stop()


def _describe(item: _Item) -> str:
    """Which row, for the log: ids and the action only, never a value from a request."""
    if isinstance(item, tuple):
        return f"the last_seen_at of token {item[0][:64]!r}"
    return f"an audit entry {item.action[:64]!r} for {str(item.target)[:64]!r}"
