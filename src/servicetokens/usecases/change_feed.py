"""Following the token change feed, so revocation beats every gate's cache within a second.

A follower polls the feed with a lookback, because sequence order is not commit order; on
PostgreSQL it also LISTENs, which evicts in milliseconds, and the poll (at most twice a
second there) is the backstop. While the feed cannot be read the cache is not trusted
(`is_current`), and after an outage longer than the lookback the cache is cleared.

On SQLite each poll first asks whether anything was committed since the last one (a probe
of a few microseconds: `store/change_feed.py`) and reads the table only when something was,
or at least every `_FULL_READ_EVERY` seconds. The table read goes through SQLAlchemy and
costs ~0.1-0.7 ms of CPU; at 6-7 polls a second it was most of an idle gate's CPU, and on a
busy gate it competes for the GIL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from servicetokens.domain.clock import system_clock, to_micros
from servicetokens.store.change_feed import ChangeFeedSource
from servicetokens.store.database import Database
from servicetokens.usecases.background import Periodic

__all__ = ["ChangeFeed"]

log = logging.getLogger("servicetokens.usecases.change_feed")

_LOOKBACK = 5_000_000  # µs: a transaction may commit up to this long after its row's time
_KEEP_CHANGES = 600_000_000  # µs: feed rows older than this are pruned
_PRUNE_EVERY = 60.0
_FULL_READ_EVERY = 2.0  # s: SQLite reads the table at least this often, changed or not
_LISTENING_POLL = 0.5  # s: the slowest poll while LISTEN delivers changes as they commit
_RELISTEN_AFTER = 1.0  # s: wait before reconnecting a LISTEN that failed


class ChangeFeed:
    """Follows the change feed of `database` on background threads: `evict` gets each
    changed client id, `clear` is called when changes may have been missed."""

    def __init__(
        self,
        database: Database,
        *,
        evict: Callable[[str], None],
        clear: Callable[[], None],
        interval: float,
        stale_after: float = 2.0,
    ) -> None:
        self._source = ChangeFeedSource(database)
        self._evict = evict
        self._clear = clear
        interval = max(interval, _LISTENING_POLL) if self._source.listens else interval
        self._stale_after = stale_after
        self._cursor = to_micros(system_clock()) - _LOOKBACK
        self._seen: dict[int, int] = {}  # seq → changed_at, inside the lookback window
        self._last_ok = 0.0
        self._last_read = 0.0
        self.table_reads = 0
        """Times the table was read (the rest of the polls were answered by the probe)."""
        self.evictions = 0
        self._polls = Periodic(
            "gate-changes", self.follow_once, interval=interval, final=self._source.close, log=log
        )
        self._pruner = Periodic(
            "gate-changes-prune", self.prune, interval=_PRUNE_EVERY, first_after=0.0, log=log
        )
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def is_current(self, now: float | None = None) -> bool:
        """Whether the feed was read recently enough (as of monotonic `now`) for the cache
        to be trusted."""
        return (time.monotonic() if now is None else now) - self._last_ok < self._stale_after

    def lag(self) -> float:
        """Seconds since the feed was last read (or found unchanged); inf before the first
        read."""
        return time.monotonic() - self._last_ok if self._last_ok else float("inf")

    def start(self) -> None:
        """Read once (so the cache is usable at once), then follow on background threads,
        and prune old changes now and every minute."""
        self.poll_once()
        self._stop.clear()
        self._polls.start()
        self._pruner.start()
        if self._source.listens:
            self._listener = threading.Thread(
                target=self._listen_loop, name="gate-listen", daemon=True
            )
            self._listener.start()

    def stop(self) -> None:
        """Stop following and wait for the threads."""
        self._stop.set()
        self._polls.stop(timeout=5)
        self._pruner.stop(timeout=5)
        if self._listener is not None:
            self._listener.join(timeout=5)

    def _evict_one(self, client_id: str) -> None:
        self.evictions += 1
        self._evict(client_id)

    def poll_once(self) -> None:
        """Evict every client id changed since the cursor (minus the lookback)."""
        since = self._cursor - _LOOKBACK
        for change in self._source.changes_since(since):
            if change.seq not in self._seen:
                self._seen[change.seq] = change.changed_at
                self._evict_one(change.client_id)
            self._cursor = max(self._cursor, change.changed_at)
        self._seen = {s: at for s, at in self._seen.items() if at >= since}
        now = time.monotonic()
        self.table_reads += 1
        self._last_read = now
        if self._last_ok and now - self._last_ok > _LOOKBACK / 1e6:
            log.warning("change feed was unreadable for %.1f s: cache cleared", now - self._last_ok)
            self._clear()
        self._last_ok = now

    def follow_once(self) -> None:
        """One poll: read the table when something may have changed, else only note (from
        the SQLite probe) that nothing was committed, so the cache stays current."""
        # Probe first, then read: a commit landing between the two shows in the next probe.
        changed = self._source.committed_since_last_probe()
        if changed or time.monotonic() - self._last_read >= _FULL_READ_EVERY:
            self.poll_once()
        else:
            self._last_ok = time.monotonic()

    def prune(self) -> None:
        """Forget feed rows far older than any follower looks back."""
        self._source.prune(to_micros(system_clock()) - _KEEP_CHANGES)

    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._source.listen(self._evict_one, stop=self._stop)
            except Exception as exc:  # the database may be away; keep trying
                log.warning("LISTEN for token changes failed: %s", exc)
                self._stop.wait(_RELISTEN_AFTER)
