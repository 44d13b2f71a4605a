"""Background work done every few seconds on a daemon thread: one loop for every job.

API tokens' `last_used_at`, the gate's `last_seen_at` and the audit log's retention all
batch work in memory (or wait for it) and do it on a timer; each used to carry its own
thread, stop event and final flush. `Periodic` is that loop, once.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = ["BackgroundJob", "Periodic", "job_runs"]

_LOOPS: weakref.WeakSet[Periodic] = weakref.WeakSet()
"""Every loop of the process, for the metrics (`job_runs`)."""


def job_runs() -> dict[str, tuple[int, int]]:
    """Loop name → (runs, failed runs) so far, over every loop of the process."""
    totals: dict[str, tuple[int, int]] = {}
    for loop in list(_LOOPS):
        runs, failures = totals.get(loop.name, (0, 0))
        totals[loop.name] = (runs + loop.runs, failures + loop.failures)
    return totals


class BackgroundJob(Protocol):
    """What a process starts with itself and stops before it exits."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Periodic:
    """Runs `work` every `interval` seconds (the first time after `first_after`) on a daemon
    thread named `name`, until `stop()`.

    An exception from `work` is logged by type only (a database error's text can carry a
    URL) and the loop goes on: work that failed is expected to keep what it could not do for
    the next run. `stop()` ends the loop, waits for a run in progress, and then runs `final`
    once (when given) so that nothing recorded is left behind.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[], object],
        *,
        interval: float,
        first_after: float | None = None,
        final: Callable[[], object] | None = None,
        log: logging.Logger,
    ) -> None:
        self.name = name
        self._work = work
        self._interval = interval
        self._first_after = interval if first_after is None else first_after
        self._final = final
        self._log = log
        self.stopping = threading.Event()
        """Set by `stop()`: long work may check it between batches."""
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        """Times `work` ran (failed or not)."""
        self.failures = 0
        """Times `work` raised."""
        _LOOPS.add(self)

    @property
    def running(self) -> bool:
        """Whether the loop's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the loop (a second call while it runs does nothing)."""
        if self.running:
            return
        self.stopping.clear()
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wait = self._first_after
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            if self.stopping.is_set():
                return
            wait = self._interval
            self.runs += 1
            try:
                self._work()
            except Exception as exc:  # the database may be away: the work keeps its batch
                self.failures += 1
                self._log.warning("%s failed: %s", self.name, type(exc).__name__)

    def wake(self) -> None:
        """Run the work now rather than when the interval ends (from any thread); the next
        run then comes an interval later."""
        self._wake.set()

    def stop(self, *, timeout: float = 10.0) -> None:
        """End the loop, wait for it, then run `final` once (its error is logged).

        A run still going after `timeout` (stuck on an unreachable database) is left to end
        on its own: `final` is skipped rather than run beside it (it may close what the run
        uses), and the loop is not started again while that thread lives."""
        self.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                self._log.error(
                    "%s: still running after %.0f s; final run skipped", self.name, timeout
                )
                return
            self._thread = None
        if self._final is not None:
            try:
                self._final()
            except Exception as exc:
                self._log.error("%s: final run failed: %s", self.name, type(exc).__name__)
