"""The scale-out and metrics-cost benchmarks end to end on small numbers, so they cannot rot
unnoticed (`bench/scale_out.py`, `bench/observe_cost.py`)."""

from __future__ import annotations

import re

import pytest

from bench import observe_cost, scale_out


@pytest.mark.postgres
@pytest.mark.slow
def test_scale_out_drives_every_configuration_and_times_revocations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--tokens", "200", "--seconds", "0.5", "--revocations", "2", "--connections", "4"]
    assert scale_out.main(argv) == 0
    out = capsys.readouterr().out
    for count in (1, 2):
        for kind, names in (("gate", scale_out.GATE_SCENARIOS), ("api", scale_out.API_SCENARIOS)):
            for name in names:
                assert re.search(rf"^\| {count} {kind} \| {name} \| [\d,]+ \|", out, re.M), out
    assert re.search(r"revocation, 2 gates \(2 deletes\): p50 [\d.]+ ms", out), out
    assert re.search(r"1 gate: \d+ sessions \(1 LISTEN\)", out), out
    assert re.search(r"2 gate: \d+ sessions \(2 LISTEN\)", out), out


def test_observe_cost_reports_bare_and_observed(capsys: pytest.CaptureFixture[str]) -> None:
    assert observe_cost.main(["--requests", "2000", "--rounds", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split("  ")[0] for row in rows] == ["bare", "metrics", "metrics + json log"]
    assert all(re.search(r"[\d.]+ µs/request", row) for row in rows)
