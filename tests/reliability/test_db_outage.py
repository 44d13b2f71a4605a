"""Database outage: a private PostgreSQL (initdb + pg_ctl on a free port) under a live
`servicetokens serve` with load running. Stopped hard, every request fails fast with 503 and
the v4 envelope; started again, the server recovers by itself, without a restart, and every
write acknowledged before the outage is still there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from bench.harness import Server, free_port

from tests import prerequisites
from tests.reliability.live import cli_json

pytestmark = [pytest.mark.slow, pytest.mark.postgres_cluster]

BOUND = 6.0  # seconds any request may take while the database is down
RECOVERY = 15.0  # seconds after PostgreSQL is back by which requests succeed again


def _pg_bin(name: str) -> str:
    found = prerequisites.postgres_program(name)
    if found is None:  # the `postgres_cluster` marker deselects this module without them
        pytest.fail(f"no {name} on PATH or under /usr/lib/postgresql/*/bin")
    return found


class PrivatePostgres:
    """A throw-away cluster owned by `postgres` when we are root (initdb refuses root)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="st-outage-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=50"
        )
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@dataclass
class Observation:
    at: float
    op: str
    status: int  # 0: transport error
    seconds: float
    body: str
    retry_after: str | None


@dataclass
class LoadLog:
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: list[Observation] = field(default_factory=list)
    created: list[dict[str, str]] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[Observation]:
        with self.lock:
            return [o for o in self.seen if start <= o.at and o.at + o.seconds <= end]


def _load(url: str, token: str, base: str, log: LoadLog, stop: threading.Event, n: int) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        i = 0
        while not stop.is_set():
            i += 1
            op = ("create", "list", "get")[(i + n) % 3]
            began = time.monotonic()
            try:
                if op == "create":
                    response = client.post(base, json={"name": f"o{n}-{i}"}, timeout=30)
                elif op == "list":
                    response = client.get(base, params={"per_page": 20}, timeout=30)
                else:
                    with log.lock:
                        known = log.created[-1]["id"] if log.created else "0" * 8
                    response = client.get(f"{base}/{known}", timeout=30)
                status, body = response.status_code, response.text
                retry_after = response.headers.get("retry-after")
                if status == 201:
                    with log.lock:
                        log.created.append(response.json()["result"])
            except httpx.TransportError as exc:
                status, body, retry_after = 0, repr(exc), None
            with log.lock:
                log.seen.append(
                    Observation(began, op, status, time.monotonic() - began, body, retry_after)
                )
            time.sleep(0.05)


def test_outage_fails_fast_and_recovers_without_restart(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    database = private_pg.url
    account = cli_json(database, "accounts", "create", "outage")["id"]
    token = cli_json(
        database, "api-tokens", "create", "w", "--account", account, "--permission", "write"
    )["token"]
    base = f"/client/v4/accounts/{account}/access/service_tokens"
    log = LoadLog()
    stop = threading.Event()
    with Server.api(database, log=tmp_path / "api.log") as server:
        threads = [
            threading.Thread(target=_load, args=(server.url, token, base, log, stop, n))
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        try:
            # Load running against a healthy database first (polled, with a deadline); the
            # waits after it are the outage's and the recovery's measurement windows.
            deadline = time.monotonic() + 60
            while len(log.between(0, time.monotonic())) < 20:
                assert time.monotonic() < deadline, "the load did not get going"
                time.sleep(0.05)
            up_until = time.monotonic()
            private_pg.stop("immediate")
            down_from = time.monotonic()
            time.sleep(8)
            down_until = time.monotonic()
            private_pg.start()
            back_from = time.monotonic()
            time.sleep(RECOVERY + 5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert all(not t.is_alive() for t in threads), "a request hung past the client timeout"

        before = log.between(0, up_until)
        assert before, "no load before the outage"
        assert all(o.status in (200, 201, 404) for o in before), [
            (o.op, o.status, o.body[:200]) for o in before if o.status not in (200, 201, 404)
        ]

        # Down: requests started well after the stop all fail fast, in the envelope.
        during = log.between(down_from + 1.0, down_until)
        assert len(during) >= 10, f"too few requests during the outage: {len(during)}"
        for o in during:
            assert o.status == 503, (o.op, o.status, o.body[:300])
            assert o.seconds < BOUND, (o.op, o.seconds)
            assert o.retry_after is not None, o
            body = httpx.Response(503, content=o.body.encode()).json()
            assert body == {
                "success": False,
                "errors": [body["errors"][0]],
                "messages": [],
                "result": None,
            }, body
            assert body["errors"][0]["code"] == 10001, body
        # Nothing at all, even straddling the stop, took longer than the bound.
        slow = [o for o in log.between(up_until, down_until) if o.seconds >= BOUND]
        assert not slow, [(o.op, o.status, o.seconds) for o in slow]

        # Back: within RECOVERY seconds every request succeeds again, same server process.
        assert server.process.poll() is None, "the server died"
        settled = log.between(back_from + RECOVERY, time.monotonic())
        assert len(settled) >= 10, f"too few requests after recovery: {len(settled)}"
        bad = [(o.op, o.status, o.body[:200]) for o in settled if o.status not in (200, 201, 404)]
        assert not bad, bad
        recovered_at = min(
            (o.at for o in log.between(back_from, time.monotonic()) if o.status in (200, 201)),
            default=None,
        )
        assert recovered_at is not None
        print(f"first success {recovered_at - back_from:.2f} s after PostgreSQL was back")

        # Every create acknowledged (before, or after the outage) is there.
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
            listed = c.get(base, params={"per_page": 1000}).json()["result"]
        assert {t["id"] for t in log.created} <= {t["id"] for t in listed}
