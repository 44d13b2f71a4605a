"""The scan lane: off the loop, one scan at a time per container, others not held up."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from servicetokens.api.scan_lane import SCAN_NICENESS, ScanLane

_WAIT = 10.0  # seconds: a deadline for events that should come at once


class _Scan:
    """A blocking piece of work that reports when it starts and ends when released."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.log.append(f"start {self.name}")
        self.started.set()
        assert self.release.wait(_WAIT)
        return self.name


async def _started(scan: _Scan) -> None:
    assert await asyncio.to_thread(scan.started.wait, _WAIT), scan.name


def test_one_containers_burst_does_not_hold_up_another() -> None:
    async def go() -> None:
        lane = ScanLane(threads=4, per_container=1)
        log: list[str] = []
        a1, a2, a3, b1 = (_Scan(n, log) for n in ("a1", "a2", "a3", "b1"))
        loop_thread = threading.get_ident()
        ran_on: list[int] = []

        def where() -> int:
            ran_on.append(threading.get_ident())
            return 0

        tasks = [asyncio.create_task(lane.run("A", s)) for s in (a1, a2, a3)]
        await _started(a1)
        b = asyncio.create_task(lane.run("B", b1))
        await _started(b1)  # B runs while A's first scan still holds A's only slot
        assert log == ["start a1", "start b1"]
        b1.release.set()
        assert await b == "b1"
        assert not a2.started.is_set()  # A's second waits for A's first, not for B
        a1.release.set()
        await _started(a2)
        assert not a3.started.is_set()
        a2.release.set()
        a3.release.set()
        assert await asyncio.gather(*tasks) == ["a1", "a2", "a3"]
        assert await lane.run("C", where) == 0
        assert ran_on
        assert ran_on[0] != loop_thread
        assert lane.active_keys == 0  # nothing kept for containers with no scan
        lane.close()

    asyncio.run(go())


def test_a_caller_that_stops_waiting_keeps_the_slot_until_its_scan_ends() -> None:
    async def go() -> None:
        lane = ScanLane(threads=2, per_container=1)
        log: list[str] = []
        first, second = _Scan("first", log), _Scan("second", log)
        waiting = asyncio.create_task(lane.run("A", first))
        await _started(first)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        follower = asyncio.create_task(lane.run("A", second))
        await asyncio.sleep(0)  # let the follower reach the semaphore
        assert not second.started.is_set()  # the first scan still runs: still one at a time
        first.release.set()
        await _started(second)
        second.release.set()
        assert await follower == "second"
        assert lane.active_keys == 0
        lane.close()

    asyncio.run(go())


def test_errors_come_back_and_free_the_slot() -> None:
    async def go() -> None:
        lane = ScanLane(threads=1, per_container=1)

        def broken() -> int:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await lane.run("A", broken)
        assert await lane.run("A", lambda: 7) == 7
        assert lane.active_keys == 0
        lane.close()

    asyncio.run(go())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_scans_run_below_the_event_loops_cpu_priority() -> None:
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def go() -> tuple[int, int]:
        lane = ScanLane(threads=1)
        try:
            return niceness(), await lane.run("A", niceness)
        finally:
            lane.close()

    loop_nice, scan_nice = asyncio.run(go())
    assert scan_nice == min(19, loop_nice + SCAN_NICENESS)
    assert niceness() == loop_nice  # the rest of the process is untouched


def test_a_closed_lane_runs_again() -> None:
    """An app's lifespan may end and start again (test clients do): the lane follows."""

    async def go() -> list[int]:
        lane = ScanLane(threads=1)
        results = [await lane.run("A", lambda: 1)]
        lane.close()
        results.append(await lane.run("A", lambda: 2))
        lane.close()
        return results

    assert asyncio.run(go()) == [1, 2]


def test_by_default_a_container_runs_two_scans_and_never_holds_every_thread() -> None:
    """Issue 13: one account's searches run two at a time (not one by one), and a third
    waits for one of them, while another account's scan takes the thread left free."""

    async def go() -> None:
        lane = ScanLane()  # the app's lane: 3 threads, 2 per container
        log: list[str] = []
        a1, a2, a3, b1 = (_Scan(n, log) for n in ("a1", "a2", "a3", "b1"))
        tasks = [asyncio.create_task(lane.run("A", s)) for s in (a1, a2, a3)]
        await _started(a1)
        await _started(a2)  # A's second runs beside its first
        b = asyncio.create_task(lane.run("B", b1))
        await _started(b1)  # B finds the third thread free
        assert not a3.started.is_set()  # A's third waits for one of A's
        b1.release.set()
        assert await b == "b1"
        assert not a3.started.is_set()  # B's thread freed is not A's slot
        a1.release.set()
        await _started(a3)
        a2.release.set()
        a3.release.set()
        assert await asyncio.gather(*tasks) == ["a1", "a2", "a3"]
        assert lane.active_keys == 0
        lane.close()

    asyncio.run(go())
