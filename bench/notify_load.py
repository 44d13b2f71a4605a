"""Notification load: 10,000 tokens in their last week at once, delivered by a real server
while the API is listed; list p99 during delivery against before, in the same run.

`python -m bench.notify_load [--tokens 10000] [--database URL] [--seconds 10]`

1. Seed an account with `--tokens` tokens of duration 72h (real domain tokens, bulk
   inserted as `bench/seed.py` does), a webhook destination at a loopback aiohttp
   receiver, and no policy yet: nothing alerts.
2. Start `servicetokens serve` (jobs every second, loopback webhooks allowed) and measure
   `GET .../service_tokens?per_page=50` latency from 4 client threads for `--seconds`.
3. Create the policy for `expiring_service_token_alert`: every token is now in an enabled
   policy's window at once, so the next job run queues one alert per token. Measure the
   list again until the receiver has every alert (distinct `webhook-id`s), and the time
   from the policy's creation to the last alert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
from aiohttp import web

from bench.harness import Server, free_port
from servicetokens.bootstrap import build_service
from servicetokens.config import ALLOW_PRIVATE_WEBHOOKS_ENV, JOBS_INTERVAL_ENV, Settings
from servicetokens.domain.clock import system_clock
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import Container, ContainerKind, Permission
from servicetokens.domain.secrets import digest
from servicetokens.domain.tokens import create_token
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.signing.kek_source import KEK_ENV

__all__ = ["main"]

CLIENTS = 4


class Receiver:
    """A loopback aiohttp receiver on its own thread, counting alerts by distinct
    `webhook-id`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.ids: set[str] = set()
        self.requests = 0
        self.last_at = 0.0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.requests += 1
            if b'"alert_type"' in body:  # an alert, not the create's test message
                self.ids.add(request.headers["webhook-id"])
                self.last_at = time.perf_counter()
        return web.Response(text="ok")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Receiver:
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def alerts(self) -> int:
        with self._lock:
            return len(self.ids)


def seed(database: str, count: int) -> tuple[str, str]:
    """An account with a Write API token and `count` tokens expiring in 72 hours."""
    service = build_service(Settings(database_url=database, pool_size=2))
    try:
        account = service.admin.create_account("notify-bench")
        token = service.admin.create_api_token(
            "bench", scope=ContainerKind.ACCOUNT, scope_id=account, permission=Permission.WRITE
        ).secret
        container = Container(ContainerKind.ACCOUNT, account, account)
        template, _ = create_token(
            TokenFields(name="svc", duration="72h"), container=container, now=system_clock()
        )
        template = replace(template, secret_digest=digest(secrets.token_hex(32)))
        for start in range(0, count, 5_000):
            batch = [
                replace(
                    template,
                    id=str(uuid.uuid4()),
                    client_id=f"{secrets.token_hex(16)}.access",
                    name=f"svc-{index:06d}",
                    created_at=template.created_at + timedelta(microseconds=index),
                )
                for index in range(start, min(count, start + 5_000))
            ]
            with service.database.write() as tx:
                tx.tokens.insert_many(batch)
    finally:
        service.close()
    return account, token


def list_latencies(url: str, headers: dict[str, str], stop: threading.Event) -> list[float]:
    """Milliseconds of each list request from `CLIENTS` threads until `stop` is set."""
    found: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(headers=headers, timeout=30) as http:
            while not stop.is_set():
                began = time.perf_counter()
                answer = http.get(url, params={"per_page": 50})
                elapsed = (time.perf_counter() - began) * 1000
                if answer.status_code != 200:
                    raise RuntimeError(f"list answered {answer.status_code}")
                with lock:
                    found.append(elapsed)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def p99(samples: list[float]) -> float:
    """The 99th percentile (the slowest, for fewer than two samples: a tiny run)."""
    if len(samples) < 2:
        return max(samples, default=0.0)
    return statistics.quantiles(samples, n=100)[98]


def run(database: str, count: int, seconds: float, workdir: Path) -> dict[str, object]:
    seeded_at = time.perf_counter()
    account, token = seed(database, count)
    seed_seconds = time.perf_counter() - seeded_at
    headers = {"Authorization": f"Bearer {token}"}
    env = {**os.environ, ALLOW_PRIVATE_WEBHOOKS_ENV: "1", JOBS_INTERVAL_ENV: "1"}
    # The destination's secret is sealed under the KEK; PostgreSQL has no default one.
    env.setdefault(KEK_ENV, KeyEncryptionKey.generate().encoded())
    with (
        Receiver() as receiver,
        Server.api(database, log=workdir / "api.log", env=env, timeout=120) as server,
    ):
        alerting = f"{server.url}/client/v4/accounts/{account}/alerting/v3"
        listing = f"{server.url}/client/v4/accounts/{account}/access/service_tokens"
        made = httpx.post(
            f"{alerting}/destinations/webhooks",
            json={"name": "bench", "url": receiver.url, "secret": "whsec_YmVuY2gtc2VjcmV0"},
            headers=headers,
            timeout=30,
        )
        made.raise_for_status()
        webhook_id = made.json()["result"]["id"]

        stop = threading.Event()
        timer = threading.Timer(seconds, stop.set)
        timer.start()
        before = list_latencies(listing, headers, stop)

        policy = {
            "name": "expiring",
            "alert_type": "expiring_service_token_alert",
            "enabled": True,
            "mechanisms": {"webhooks": [{"id": webhook_id}]},
        }
        started = time.perf_counter()
        httpx.post(f"{alerting}/policies", json=policy, headers=headers, timeout=30)
        stop = threading.Event()
        during: list[float] = []
        measuring = threading.Thread(
            target=lambda: during.extend(list_latencies(listing, headers, stop)), daemon=True
        )
        measuring.start()
        deadline = started + 1800
        while receiver.alerts() < count and time.perf_counter() < deadline:
            time.sleep(0.1)
        stop.set()
        measuring.join()
        delivered = receiver.alerts()
        finished = receiver.last_at - started
    return {
        "tokens": count,
        "database": database.split(":", 1)[0],
        "seed_seconds": round(seed_seconds, 1),
        "delivered": delivered,
        "receiver_requests": receiver.requests,
        "seconds_to_all_delivered": round(finished, 1),
        "alerts_per_second": round(delivered / finished, 1) if finished > 0 else None,
        "list_requests_before": len(before),
        "list_requests_during": len(during),
        "list_p50_ms_before": round(statistics.median(before), 1),
        "list_p50_ms_during": round(statistics.median(during or [0.0]), 1),
        "list_p99_ms_before": round(p99(before), 1),
        "list_p99_ms_during": round(p99(during), 1),
        "list_p99_ratio": round(p99(during) / p99(before), 2) if before else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="the 'before' window")
    parser.add_argument("--database", help="default: a fresh SQLite file in a temporary dir")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="notify-load-") as directory:
        workdir = Path(directory)
        database = options.database or f"sqlite:///{workdir / 'notify.db'}"
        print(json.dumps(run(database, options.tokens, options.seconds, workdir), indent=2))


if __name__ == "__main__":
    main()
