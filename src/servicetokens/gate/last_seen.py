"""Write-behind of `last_seen_at` (and of failed-attempt audit entries): remembered in memory,
written in one batch per interval.

Staleness bound: a use is written within `interval` (1 s by default) plus one write, and the
documented bound is 5 s. A failed write keeps its batch for the next attempt; stopping the
gate flushes whatever is pending.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from servicetokens.domain.audit import AuditEntry
from servicetokens.store.repository import Repository

__all__ = ["LastSeenWriter"]

log = logging.getLogger("servicetokens.gate.last_seen")

_MAX_PENDING_FAILURES = 10_000


class LastSeenWriter:
    """Collects (token id → latest use) and flushes them on a background thread."""

    def __init__(self, repository: Repository, *, interval: float) -> None:
        self._repository = repository
        self._interval = interval
        self._pending: dict[str, float] = {}
        self._failures: list[AuditEntry] = []
        self.failures_dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0
        self.written = 0

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
        """Write everything pending in one transaction (blocking I/O)."""
        with self._lock:
            batch, self._pending = self._pending, {}
            failures, self._failures = self._failures, []
        if not batch and not failures:
            return
        try:
            with self._repository.write() as tx:
                tx.touch_last_seen(  # sorted: a stable lock order
                    (token_id, datetime.fromtimestamp(moment, UTC))
                    for token_id, moment in sorted(batch.items())
                )
                for entry in failures:
                    tx.add_audit(entry)
        except Exception:
            for token_id, moment in batch.items():
                self.record(token_id, moment)
            for entry in failures:
                self.record_failure(entry)
            raise
        self.flushes += 1
        self.written += len(batch)

    def start(self) -> None:
        """Flush every `interval` seconds until `stop()`."""
        self._thread = threading.Thread(target=self._run, name="gate-last-seen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception as exc:  # the database may be away; keep the batch, retry
                log.warning("last_seen_at flush failed: %s", exc)

    def stop(self) -> None:
        """Stop the thread and flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception as exc:
            log.error("last_seen_at final flush failed, %d uses lost: %s", len(self._pending), exc)
