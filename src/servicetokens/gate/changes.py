"""Following the token change feed, so revocation beats every gate's cache within a second.

Every token write inserts a `token_changes` row in its own transaction (and, on PostgreSQL,
NOTIFYs the client id on commit). A gate polls the table with a lookback, because sequence
order is not commit order; on PostgreSQL it also LISTENs, which evicts in milliseconds, and
the poll is the backstop. While the feed cannot be read the cache is not trusted, and after
an outage longer than the lookback the cache is cleared.

On SQLite each poll first asks `PRAGMA data_version` on a connection of its own (a C call
that reads the WAL index: it changes whenever any other connection, in any process,
commits) and reads the table only when it changed, or at least every `_FULL_READ_EVERY`
seconds. The table read goes through SQLAlchemy and costs ~0.1-0.7 ms of CPU; at 6-7 polls
a second it was most of an idle gate's CPU, and on a busy gate it competes for the GIL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

import psycopg

from servicetokens.domain.clock import system_clock, to_micros
from servicetokens.store.database import Database
from servicetokens.store.versions import CHANGES_CHANNEL

__all__ = ["ChangeFeed"]

log = logging.getLogger("servicetokens.gate.changes")

_LOOKBACK = 5_000_000  # µs: a transaction may commit up to this long after its row's time
_KEEP_CHANGES = 600_000_000  # µs: feed rows older than this are pruned
_PRUNE_EVERY = 60.0
_FULL_READ_EVERY = 2.0  # s: SQLite reads the table at least this often, changed or not


class ChangeFeed:
    """Polls (and on PostgreSQL listens to) the change feed on background threads."""

    def __init__(
        self,
        database: Database,
        *,
        evict: Callable[[str], None],
        clear: Callable[[], None],
        interval: float,
        stale_after: float = 2.0,
    ) -> None:
        self._database = database
        self._evict = evict
        self._clear = clear
        self._postgres = database.engine.dialect.name == "postgresql"
        self._interval = max(interval, 0.5) if self._postgres else interval
        self._stale_after = stale_after
        self._cursor = to_micros(system_clock()) - _LOOKBACK
        self._seen: dict[int, int] = {}  # seq → changed_at, inside the lookback window
        self._last_ok = 0.0
        self._last_read = 0.0
        self._last_prune = 0.0
        self._sqlite_path = (
            database.engine.url.database
            if database.engine.dialect.name == "sqlite"
            and database.engine.url.database not in (None, "", ":memory:")
            else None
        )
        self._probe: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self.table_reads = 0
        """Times the table was read (the rest of the polls were answered by the probe)."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.evictions = 0

    def is_current(self, now: float | None = None) -> bool:
        """Whether the feed was read recently enough (as of monotonic `now`) for the cache
        to be trusted."""
        return (time.monotonic() if now is None else now) - self._last_ok < self._stale_after

    def start(self) -> None:
        """Read once (so the cache is usable at once), then follow on background threads."""
        self.poll_once()
        self._threads = [threading.Thread(target=self._poll_loop, name="gate-changes", daemon=True)]
        if self._postgres:
            self._threads.append(
                threading.Thread(target=self._listen_loop, name="gate-listen", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop following and wait for the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _evict_one(self, client_id: str) -> None:
        self.evictions += 1
        self._evict(client_id)

    def poll_once(self) -> None:
        """Evict every client id changed since the cursor (minus the lookback)."""
        since = self._cursor - _LOOKBACK
        with self._database.read() as tx:
            changes = tx.versions.changes_since(since)
        for change in changes:
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
        if now - self._last_prune > _PRUNE_EVERY:
            self._last_prune = now
            with self._database.write() as tx:
                tx.versions.prune_changes(to_micros(system_clock()) - _KEEP_CHANGES)

    def _committed_since_last_probe(self) -> bool:
        """SQLite: whether any connection committed since the previous probe (True when
        this cannot be told: not SQLite, or the first probe)."""
        if self._sqlite_path is None:
            return True
        if self._probe is None:
            self._probe = sqlite3.connect(self._sqlite_path, timeout=1.0)
        try:
            version = self._probe.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            self._probe.close()
            self._probe = None
            raise
        changed: bool = version != self._data_version
        self._data_version = version
        return changed

    def follow_once(self) -> None:
        """One poll: read the table when something may have changed, else only note (from
        SQLite's data_version) that nothing was committed, so the cache stays current."""
        # Probe first, then read: a commit landing between the two shows in the next probe.
        changed = self._committed_since_last_probe()
        if changed or time.monotonic() - self._last_read >= _FULL_READ_EVERY:
            self.poll_once()
        else:
            self._last_ok = time.monotonic()

    def _poll_loop(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                try:
                    self.follow_once()
                except Exception as exc:  # the database may be away; keep trying
                    log.warning("change feed poll failed: %s", exc)
        finally:
            if self._probe is not None:
                self._probe.close()

    def _conninfo(self) -> str:
        url = self._database.engine.url.set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self._evict_one(notice.payload)
            except psycopg.Error as exc:
                log.warning("LISTEN %s failed: %s", CHANGES_CHANNEL, exc)
                self._stop.wait(1.0)
