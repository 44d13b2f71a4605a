"""`bench/notify_load.py` end to end on a tiny run, so it cannot rot unnoticed: every alert
arrives once (by `webhook-id`) and the report holds both latency windows."""

from __future__ import annotations

from pathlib import Path

from bench.notify_load import run


def test_a_small_run_delivers_every_alert_once_and_reports(tmp_path: Path) -> None:
    report = run(f"sqlite:///{tmp_path / 'notify.db'}", 60, 1.0, tmp_path)
    assert report["delivered"] == 60
    assert report["receiver_requests"] == 61  # the alerts and the create's test message
    assert isinstance(report["list_requests_before"], int)
    assert report["list_requests_before"] > 0
    assert isinstance(report["list_p99_ratio"], float)
    assert report["list_p99_ratio"] > 0
