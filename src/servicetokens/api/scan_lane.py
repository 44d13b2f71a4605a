"""The scan lane: where list pages that cost a scan (searches, filters, deep pages) run.

Off the event loop, in a few threads of their own at a lower CPU priority, so that neither
the loop nor the shared thread pool (which serves every other request, and on PostgreSQL every
list page) waits for them; and fairly, at most `per_container` scans at a time for one key
(the API's is the owning account, so an account's zones share its slots), so that one
caller's burst of searches queues behind itself and not in front of other accounts' work (a
container never holds every thread).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TypeVar

__all__ = ["ScanLane"]

T = TypeVar("T")

_ON_LOOP = "on-loop"
"""Marks the slots of a container's reads on the event loop (`run_async`)."""

SCAN_NICENESS = 10
"""How much lower than the event loop's the lane threads' CPU priority is (Linux `nice`)."""


def _lower_priority() -> None:
    """Make the calling lane thread yield the CPU to the event loop when both want it.

    On Linux the nice value belongs to each thread, so this lowers only the lane thread: a
    scan then takes the CPU the rest of the process leaves (10 nice steps below the loop: about
    a tenth of a contended core), and the loop's requests are not queued behind it by the scheduler.
    Elsewhere the value is per process, so nothing is changed.
    """
    if sys.platform == "linux":
        thread = threading.get_native_id()
        with suppress(OSError):  # best effort: a sandbox may refuse it
            lowered = min(19, os.getpriority(os.PRIO_PROCESS, thread) + SCAN_NICENESS)
            os.setpriority(os.PRIO_PROCESS, thread, lowered)


class ScanLane:
    """Runs blocking scans in `threads` threads, at most `per_container` per container key.

    By default a container may hold all but one of the threads (3 threads, 2 per
    container): one account's searches run two at a time, not queued one by one behind
    each other (on PostgreSQL a scan waits on the database for much of its time, so a
    second one uses what the first leaves), and another account's scan always finds a
    thread free.
    """

    def __init__(self, *, threads: int = 3, per_container: int | None = None) -> None:
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None
        self._per_container = max(1, threads - 1) if per_container is None else per_container
        self._slots: dict[Hashable, tuple[asyncio.Semaphore, int]] = {}
        """Container key → (its slots, how many requests hold or wait for one)."""

    async def run(self, key: Hashable, work: Callable[[], T]) -> T:
        """`work()` in a lane thread once `key` has a free slot; its result or exception."""
        semaphore, users = self._slots.get(key) or (asyncio.Semaphore(self._per_container), 0)
        self._slots[key] = (semaphore, users + 1)
        try:
            await semaphore.acquire()
        except BaseException:
            self._leave(key)
            raise
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool(), work)
        except BaseException:
            self._release(key, semaphore)
            raise
        # The slot is freed when the scan ends, not when its caller stops waiting (a client
        # that disconnects cannot start a second scan while its first still runs).
        future.add_done_callback(lambda _: self._release(key, semaphore))
        return await asyncio.shield(future)

    async def run_async(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """`await work()` on the event loop once `key` has a free slot among its reads
        there (at most `per_container` at a time, counted apart from its threads' scans).

        For scans that wait on the database without a thread (PostgreSQL's cheap searches,
        `PendingScan.run_async`): one container's burst still queues behind itself, while
        the reads of the loop (`threads` connections; `store.async_search`) keep one free
        for any other container."""
        loop_key = (_ON_LOOP, key)
        semaphore, users = self._slots.get(loop_key) or (
            asyncio.Semaphore(self._per_container),
            0,
        )
        self._slots[loop_key] = (semaphore, users + 1)
        try:
            async with semaphore:
                return await work()
        finally:
            self._leave(loop_key)

    def _pool(self) -> ThreadPoolExecutor:
        # Made on first use, and again after `close`: an app may be started more than once.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._threads, thread_name_prefix="scan-lane", initializer=_lower_priority
            )
        return self._executor

    def _release(self, key: Hashable, semaphore: asyncio.Semaphore) -> None:
        semaphore.release()
        self._leave(key)

    def _leave(self, key: Hashable) -> None:
        semaphore, users = self._slots[key]
        if users == 1:
            del self._slots[key]  # no entry outlives its last request
        else:
            self._slots[key] = (semaphore, users - 1)

    @property
    def active_keys(self) -> int:
        """Container keys with a scan running or waiting."""
        return len(self._slots)

    def close(self) -> None:
        """Stop the threads once the scans already started have ended (a later `run`
        starts new ones)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
