"""`python -m bench.dashboard` end to end on a small account, so it cannot rot unnoticed."""

from __future__ import annotations

from bench.dashboard import measure


def test_the_dashboard_bench_measures_every_page() -> None:
    results = measure(tokens=30, requests=5)
    rows = results["rows"]
    assert isinstance(rows, dict)
    assert set(rows) == {
        "healthz (baseline)",
        "list, 50 of 30",
        "list, 100 of 30",
        "search over 30",
    }
    for row in rows.values():
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    weight = results["weight"]
    assert isinstance(weight, dict)
    assert 0 < weight["total_bytes"] < 100_000
