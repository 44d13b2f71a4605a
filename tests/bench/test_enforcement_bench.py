"""The enforcement benchmark end to end on small numbers, so it cannot rot unnoticed, and its
world checked: every request is admitted by its own application, and the index finds what
the benchmark's linear scan finds."""

from __future__ import annotations

import pytest
from bench.enforcement import build_world, check, linear_lookup, main


def test_the_default_world_admits_every_request_by_its_own_app() -> None:
    world = build_world(range(1_000), 10)
    assert world.policies == 10_000
    check(world)
    scan = linear_lookup(world.apps)
    for request in world.requests[::7]:
        by_index = world.index.lookup(request.host, request.path)
        by_scan = scan(request.host, request.path)
        assert by_index is not None
        assert by_scan is not None
        assert by_index.app.id == by_scan.app.id


def test_the_command_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    figures = main(["--requests", "300", "--rounds", "1", "--apps", "40", "--scan-requests", "40"])
    assert set(figures) == {"one_app_mix", "one_of_many", "every_app", "scan"}
    assert all(value > 0 for value in figures.values())
    out = capsys.readouterr().out
    assert "40 apps, 400 policies: every app's requests" in out
    assert "ratio 40 apps / 1 app" in out
