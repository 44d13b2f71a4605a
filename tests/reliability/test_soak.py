"""Soak: mixed API and gate load at a fixed rate against PostgreSQL for SOAK_SECONDS
(default 600): zero errors, and the resident memory of both servers flat (growth < 10%
between the end of the warm-up, minute 2 of a full run, and the end).

    SOAK_SECONDS=600 SOAK_RATE=50 .venv/bin/pytest -m slow tests/reliability/test_soak.py -s

The summary (rate, counts, RSS samples) is printed and, with SOAK_REPORT=path, written as JSON.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.harness import Server

from tests.reliability.live import NO_UPSTREAM, cli_json, rss_bytes

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.starts_early]

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
RATE = float(os.environ.get("SOAK_RATE", "50"))
WORKERS = 8
SAMPLE_EVERY = 10.0
MAX_POOL = 200

# operation: weight (out of 100)
MIX = {
    "gate": 30,
    "list": 12,
    "search": 5,
    "get": 15,
    "create": 10,
    "update": 10,
    "refresh": 6,
    "rotate": 6,
    "delete": 6,
}


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    late: int = 0

    def record(self, op: str, ok: bool, latency: float, detail: str) -> None:
        with self.lock:
            self.counts[op] += 1
            self.latencies.append(latency)
            if not ok:
                self.errors.append(f"{op}: {detail}")


class Load:
    """The request mix. API tokens mutated by the load live in a pool of their own; the gate
    is exercised with tokens that nothing changes, so every answer has one right value."""

    def __init__(self, api: Server, gate: Server, account: str, token: str) -> None:
        self.base = f"/client/v4/accounts/{account}/access/service_tokens"
        self.api = httpx.Client(
            base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self.gate = httpx.Client(base_url=gate.url, timeout=10)
        self.pool: list[str] = []
        self.pool_lock = threading.Lock()
        self.gate_tokens: list[tuple[str, str]] = []
        for i in range(20):
            created = self.api.post(self.base, json={"name": f"gate-{i}"}).json()["result"]
            self.gate_tokens.append((created["client_id"], created["client_secret"]))

    def _take(self, rng: random.Random) -> str | None:
        with self.pool_lock:
            return rng.choice(self.pool) if self.pool else None

    def run(self, op: str, rng: random.Random) -> tuple[bool, str]:
        if op == "gate":
            client_id, secret = rng.choice(self.gate_tokens)
            response = self.gate.get(
                "/cdn-cgi/access/authorize",
                headers={"CF-Access-Client-Id": client_id, "CF-Access-Client-Secret": secret},
            )
            ok = response.status_code == 200 and "cf-access-jwt-assertion" in response.headers
            return ok, f"{response.status_code} {response.text[:200]}"
        if op in ("list", "search"):
            params = {"per_page": "50", "page": str(rng.randint(1, 3))}
            if op == "search":
                params["search"] = rng.choice(["soak", "gate", "x"])
            response = self.api.get(self.base, params=params)
            return response.status_code == 200, f"{response.status_code} {response.text[:200]}"
        if op == "create" or (op != "create" and not self.pool):
            with self.pool_lock:
                full = len(self.pool) >= MAX_POOL
            if full:
                op = "delete"
            else:
                response = self.api.post(
                    self.base, json={"name": f"soak-{rng.randrange(10**6)}", "duration": "24h"}
                )
                if response.status_code == 201:
                    with self.pool_lock:
                        self.pool.append(response.json()["result"]["id"])
                return response.status_code == 201, f"{response.status_code} {response.text[:200]}"
        token_id = self._take(rng)
        if token_id is None:
            return True, ""
        url = f"{self.base}/{token_id}"
        if op == "delete":
            with self.pool_lock:
                if token_id not in self.pool:
                    return True, ""  # another worker took it
                self.pool.remove(token_id)
            response = self.api.delete(url)
        elif op == "get":
            response = self.api.get(url)
        elif op == "update":
            response = self.api.put(url, json={"name": f"soak-upd-{rng.randrange(10**6)}"})
        elif op == "refresh":
            response = self.api.post(f"{url}/refresh")
        else:
            response = self.api.post(f"{url}/rotate", json={})
        # A token deleted by another worker between choice and call is a legitimate 404.
        ok = response.status_code == 200 or (
            response.status_code == 404 and op != "delete" and token_id not in self.pool
        )
        return ok, f"{op} {response.status_code} {response.text[:200]}"


def _worker(load: Load, stats: Stats, seed: int, interval: float, start: float, end: float) -> None:
    rng = random.Random(seed)
    ops = [op for op, weight in MIX.items() for _ in range(weight)]
    next_at = start + rng.random() * interval
    while next_at < end:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:
            with stats.lock:
                stats.late += 1
        op = rng.choice(ops)
        began = time.monotonic()
        try:
            ok, detail = load.run(op, rng)
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        stats.record(op, ok, time.monotonic() - began, detail)
        next_at += interval


@pytest.mark.timeout(SECONDS + 300)
def test_soak(tmp_path: Path, postgres_database: str) -> None:
    database = postgres_database
    account = cli_json(database, "accounts", "create", "soak")["id"]
    token = cli_json(
        database, "api-tokens", "create", "w", "--account", account, "--permission", "write"
    )["token"]
    api = Server.api(database, log=tmp_path / "api.log")
    gate = Server.gate(
        database,
        account=account,
        upstream=NO_UPSTREAM,
        log=tmp_path / "gate.log",
        extra=["--failure-limit", "0"],
    )
    samples: list[dict[str, float]] = []
    stats = Stats()
    try:
        load = Load(api, gate, account, token)
        start = time.monotonic() + 0.5
        end = start + SECONDS
        interval = WORKERS / RATE
        threads = [
            threading.Thread(target=_worker, args=(load, stats, i, interval, start, end))
            for i in range(WORKERS)
        ]
        for thread in threads:
            thread.start()
        while time.monotonic() < end:
            samples.append(
                {
                    "t": round(max(0.0, time.monotonic() - start), 1),
                    "api_rss_mib": round(rss_bytes(api.pid) / 2**20, 2),
                    "gate_rss_mib": round(rss_bytes(gate.pid) / 2**20, 2),
                }
            )
            time.sleep(min(SAMPLE_EVERY, max(0.0, end - time.monotonic())))
        for thread in threads:
            thread.join(60)
        samples.append(
            {
                "t": round(time.monotonic() - start, 1),
                "api_rss_mib": round(rss_bytes(api.pid) / 2**20, 2),
                "gate_rss_mib": round(rss_bytes(gate.pid) / 2**20, 2),
            }
        )
    finally:
        api.stop()
        gate.stop()

    total = sum(stats.counts.values())
    latencies = sorted(stats.latencies)
    warm = min(120.0, SECONDS * 0.2)
    baseline = next(s for s in samples if s["t"] >= warm)
    final = samples[-1]
    summary: dict[str, Any] = {
        "seconds": SECONDS,
        "target_rate": RATE,
        "achieved_rate": round(total / SECONDS, 2),
        "requests": total,
        "by_operation": dict(stats.counts),
        "errors": len(stats.errors),
        "first_errors": stats.errors[:10],
        "late_ticks": stats.late,
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "max": round(latencies[-1] * 1000, 2),
        },
        "rss_baseline": baseline,
        "rss_final": final,
        "rss_samples": samples,
        "command": " ".join(
            [f"SOAK_SECONDS={SECONDS:g}", f"SOAK_RATE={RATE:g}", sys.executable, "-m", "pytest"]
        )
        + " -m slow tests/reliability/test_soak.py",
    }
    print(json.dumps(summary, indent=1))
    if report := os.environ.get("SOAK_REPORT"):
        Path(report).write_text(json.dumps(summary, indent=1))

    assert stats.errors == [], stats.errors[:20]
    assert total >= 0.9 * RATE * SECONDS, f"only {total} requests in {SECONDS} s"
    for key in ("api_rss_mib", "gate_rss_mib"):
        growth = (final[key] - baseline[key]) / baseline[key]
        assert growth < 0.10, f"{key} grew {growth:.1%}: {baseline} -> {final}"
