"""`Periodic`, the one loop every background job runs on: it runs the work on its thread,
survives the work's errors, runs `final` once on stop, and never runs `final` beside a run
that is still going."""

from __future__ import annotations

import logging
import threading

import pytest

from servicetokens.usecases.background import Periodic

log = logging.getLogger("tests.background")
WAIT = 10.0  # seconds an event may take to arrive on a loaded machine (a deadline, not a sleep)


def test_work_runs_repeatedly_on_its_own_thread_and_final_runs_once_on_stop() -> None:
    runs: list[str] = []
    third = threading.Event()
    finals: list[str] = []

    def work() -> None:
        runs.append(threading.current_thread().name)
        if len(runs) >= 3:
            third.set()

    loop = Periodic("test-loop", work, interval=0.001, final=lambda: finals.append("f"), log=log)
    loop.start()
    loop.start()  # a second start while running does nothing
    assert third.wait(WAIT)
    loop.stop()
    assert set(runs) == {"test-loop"}
    assert finals == ["f"]
    assert not loop.running


def test_an_error_in_the_work_is_logged_by_type_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0
    recovered = threading.Event()

    def work() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("postgresql://user:secret@db/x is away")
        recovered.set()

    loop = Periodic("flaky", work, interval=0.001, log=log)
    with caplog.at_level(logging.WARNING, logger="tests.background"):
        loop.start()
        assert recovered.wait(WAIT)
        loop.stop()
    assert "flaky failed: ConnectionError" in caplog.text
    assert "secret" not in caplog.text


def test_the_first_run_waits_first_after() -> None:
    ran = threading.Event()
    loop = Periodic("late", ran.set, interval=0.001, first_after=3600, log=log)
    loop.start()
    assert not ran.wait(0.05)  # an hour is not up: nothing ran (a bounded negative check)
    loop.stop()
    assert not ran.is_set()


def test_final_is_skipped_while_a_run_is_stuck(caplog: pytest.LogCaptureFixture) -> None:
    entered, release = threading.Event(), threading.Event()
    finals: list[str] = []

    def stuck() -> None:
        entered.set()
        release.wait(WAIT)

    loop = Periodic("stuck", stuck, interval=0.001, final=lambda: finals.append("f"), log=log)
    loop.start()
    assert entered.wait(WAIT)
    with caplog.at_level(logging.ERROR, logger="tests.background"):
        loop.stop(timeout=0.01)
    assert finals == []
    assert "final run skipped" in caplog.text
    loop.start()  # the stuck thread still lives: no second loop beside it
    assert loop.running
    release.set()
    loop.stop()
    assert finals == ["f"]
