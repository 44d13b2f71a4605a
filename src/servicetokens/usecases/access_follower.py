"""Keeping a gate's Access configuration current: one account's applications, policies and
organizations, compiled once per control-plane version and replaced when the version moves.

Every control-plane write bumps the account's version in its own transaction and, on
PostgreSQL, NOTIFYs the account id on `servicetokens_control_plane` (`usecases/changes.py`).
A follower:

- on PostgreSQL, LISTENs on a connection of its own and reloads as soon as its account is
  named, and reads the version every 0.5 s as a backstop;
- on SQLite, asks every `interval` (0.15 s) whether anything was committed (`PRAGMA
  data_version` on a connection of its own, `store/change_feed.py`) and reads the version
  only then, or at least every 2 s.

A reload reads the whole snapshot (`ControlPlane.snapshot`, one database snapshot, version
first) and compiles it off the event loop, taking unchanged applications' compiled policies
from the state in force; requests keep the state they started with and
the next one sees the new state (one attribute swap). A state never replaces a newer one.
After a reload the process's objects are frozen out of the cyclic collector's sight
(`gc.freeze`), so a large configuration does not lengthen every full collection.
While the version cannot be read the configuration is not trusted (`is_current`): the gate
then refuses requests (503) rather than enforce what may have changed.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from servicetokens.store.change_feed import CONTROL_PLANE_CHANNEL, ChangeFeedSource
from servicetokens.store.database import Database
from servicetokens.usecases.access_state import AccessState, compile_state
from servicetokens.usecases.background import Periodic
from servicetokens.usecases.control_plane import ControlPlane

__all__ = ["AccessFollower"]

log = logging.getLogger("servicetokens.usecases.access_follower")

_FULL_READ_EVERY = 2.0  # s: SQLite reads the version at least this often, changed or not
_LISTENING_POLL = 0.5  # s: the slowest poll while LISTEN delivers changes as they commit
_RELISTEN_AFTER = 1.0  # s: wait before reconnecting a LISTEN that failed


class AccessFollower:
    """The compiled Access configuration of one account (`state`), kept current on
    background threads."""

    def __init__(
        self,
        database: Database,
        account_id: str,
        *,
        interval: float,
        stale_after: float = 2.0,
    ) -> None:
        self.account_id = account_id
        self._control_plane = ControlPlane(database)
        self._source = ChangeFeedSource(database)
        self._stale_after = stale_after
        self._reload_lock = threading.Lock()
        self.state: AccessState | None = None
        """The configuration in force (None until the first `load`)."""
        self.reloads = 0
        """Times a new version was compiled."""
        self.last_reload_seconds = 0.0
        """How long the last reload (read and compile) took."""
        self._last_ok = 0.0
        self._last_read = 0.0
        interval = max(interval, _LISTENING_POLL) if self._source.listens else interval
        self._loop = Periodic(
            "gate-access", self.follow_once, interval=interval, final=self._source.close, log=log
        )
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def load(self) -> AccessState:
        """Read and compile the configuration now (blocking I/O); the state in force."""
        state = self.reload()
        self._last_ok = self._last_read = time.monotonic()
        return state

    def start(self) -> None:
        """Load once (so requests are answered at once), then follow on background
        threads."""
        self.load()
        self._stop.clear()
        self._loop.start()
        if self._source.listens:
            self._listener = threading.Thread(
                target=self._listen_loop, name="gate-access-listen", daemon=True
            )
            self._listener.start()

    def stop(self) -> None:
        """Stop following and wait for the threads."""
        self._stop.set()
        self._loop.stop(timeout=5)
        if self._listener is not None:
            self._listener.join(timeout=5)
            self._listener = None

    def is_current(self, now: float | None = None) -> bool:
        """Whether the version was read recently enough (as of monotonic `now`) for the
        configuration to be enforced."""
        return (time.monotonic() if now is None else now) - self._last_ok < self._stale_after

    # -- following ----------------------------------------------------------------------

    def follow_once(self) -> None:
        """One poll: read the version when something may have changed (always on
        PostgreSQL; on SQLite when the probe says so, or every 2 s), reload when it moved."""
        changed = self._source.committed_since_last_probe()
        now = time.monotonic()
        if changed or now - self._last_read >= _FULL_READ_EVERY:
            version = self._control_plane.version(self.account_id)
            self._last_read = time.monotonic()
            state = self.state
            if state is None or version != state.version:
                self.reload()
        self._last_ok = time.monotonic()

    def reload(self) -> AccessState:
        """Read the snapshot and compile it unless it is the version in force already; the
        state in force afterwards (never an older one than before)."""
        with self._reload_lock:
            started = time.perf_counter()
            snapshot = self._control_plane.snapshot(self.account_id)
            current = self.state
            if current is not None and snapshot.version <= current.version:
                return current
            state = compile_state(snapshot, current)
            self.state = state
            del current, snapshot
            # A compiled configuration is many long-lived objects (1,000 applications with
            # 10,000 policies: about a million); left to the cyclic collector, every full
            # collection walks them all (tens of ms, under load). Collect the garbage there
            # is now (the previous configuration's cycles), then move everything alive out
            # of the collector's sight; reference counting still frees it when replaced.
            gc.collect()
            gc.freeze()
            self.reloads += 1
            self.last_reload_seconds = time.perf_counter() - started
            log.info(
                "access configuration version %d: %d applications, %d recompiled (%.3f s)",
                state.version,
                state.app_count,
                state.app_count - state.index.reused,
                self.last_reload_seconds,
            )
            return state

    def _notified(self, account_id: str) -> None:
        if account_id == self.account_id:
            self._loop.wake()

    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._source.listen(self._notified, stop=self._stop, channel=CONTROL_PLANE_CHANNEL)
            except Exception as exc:  # the database may be away; keep trying
                log.warning("LISTEN for control-plane changes failed: %s", type(exc).__name__)
                self._stop.wait(_RELISTEN_AFTER)
