"""The change feeds as each engine delivers them: the token table, a cheap 'anything
committed?' probe on SQLite, and LISTEN on PostgreSQL (token changes, or control-plane
changes for the gates that serve Access applications).

Every token write inserts a `token_changes` row in its own transaction (and, on PostgreSQL,
NOTIFYs the client id on commit: `store/versions.py`). What a follower does with the changes
(the lookback, when the cache is stale, when to clear it) is `usecases/change_feed.py`'s.

Two connections here are held outside the engine's pool, on purpose:

- SQLite's `PRAGMA data_version` answers "has any *other* connection committed since this
  connection last asked?". It only means something on one long-lived connection that is
  asked again and again; a pooled connection is a different one from checkout to checkout
  (and the pool's own reads and writes on it would count as 'this connection'). The probe
  is a C call that reads the WAL index, so an idle gate can poll often for nothing.
- PostgreSQL delivers NOTIFY to the session that ran LISTEN, for as long as that session
  lives, and the session spends its life waiting for notifications: it cannot go back to a
  pool, and holding a pooled connection forever would shrink the pool for everyone else.
  It is a plain psycopg connection in autocommit, opened from the engine's URL, or from
  the direct URL given for it (`--listen-database`) when the engine goes through a pooler
  in transaction mode: such a pooler hands the LISTEN to whichever server session runs that
  one statement, and the notifications never come back. Without a direct URL behind such a
  pooler nothing listens, and the followers poll.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

import psycopg

from servicetokens.domain.changes import TokenChange
from servicetokens.store.database import Database
from servicetokens.store.files import sqlite_file
from servicetokens.store.versions import CHANGES_CHANNEL, CONTROL_PLANE_CHANNEL

__all__ = ["CHANGES_CHANNEL", "CONTROL_PLANE_CHANNEL", "ChangeFeedSource"]

_NOTICE_WAIT = 0.5
"""Seconds a LISTEN connection waits for notifications before it looks at its stop flag."""


class ChangeFeedSource:
    """The change feed of one database: read, pruned, probed (SQLite), listened to
    (PostgreSQL). The probe belongs to one follower thread at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.listens = database.listen_conninfo is not None
        """Whether changes are also pushed (PostgreSQL LISTEN/NOTIFY)."""
        self._probe_path = sqlite_file(database.engine.url)
        self._probe: sqlite3.Connection | None = None
        self._data_version: int | None = None

    def changes_since(self, changed_at: int) -> list[TokenChange]:
        """Changes recorded at or after `changed_at` (microseconds), oldest first."""
        with self._database.read() as tx:
            return tx.versions.changes_since(changed_at)

    def prune(self, before: int) -> None:
        """Forget changes recorded before `before` (microseconds)."""
        with self._database.write() as tx:
            tx.versions.prune_changes(before)

    def committed_since_last_probe(self) -> bool:
        """Whether any connection committed since the previous call: SQLite's
        `data_version` on the probe connection. True when this cannot be told (not an
        SQLite file, or the first probe). Raises the driver's error when the database
        cannot be read (the probe is reopened next time)."""
        if self._probe_path is None:
            return True
        if self._probe is None:
            # Used by one thread at a time, but closed by whichever stops the follower.
            self._probe = sqlite3.connect(self._probe_path, timeout=1.0, check_same_thread=False)
        try:
            version = self._probe.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            self.close()
            raise
        changed: bool = version != self._data_version
        self._data_version = version
        return changed

    def close(self) -> None:
        """Close the probe connection (the next probe opens it again)."""
        probe, self._probe = self._probe, None
        self._data_version = None
        if probe is not None:
            probe.close()

    def listen(
        self,
        deliver: Callable[[str], None],
        *,
        stop: threading.Event,
        channel: str = CHANGES_CHANNEL,
    ) -> None:
        """PostgreSQL: LISTEN on `channel` on a connection of its own and `deliver` each
        payload as it is committed (a changed token's client id on `CHANGES_CHANNEL`, an
        account id on `CONTROL_PLANE_CHANNEL`), until `stop` is set (blocking; checks
        `stop` twice a second). Raises the driver's error when the connection fails or is
        lost."""
        if channel not in (CHANGES_CHANNEL, CONTROL_PLANE_CHANNEL):
            raise ValueError(f"not a channel of ours: {channel!r}")
        conninfo = self._database.listen_conninfo
        if conninfo is None:
            raise RuntimeError("this database has no LISTEN session (it is polled)")
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f"LISTEN {channel}")
            while not stop.is_set():
                for notice in connection.notifies(timeout=_NOTICE_WAIT):
                    deliver(notice.payload)
