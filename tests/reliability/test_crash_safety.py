"""SIGKILL the server mid-burst: every write that got a 2xx survives, whole and usable."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.harness import Server

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.tokens import verify_secret
from tests.reliability.live import cli_json

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_sigkill_during_burst_loses_no_acknowledged_write(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database = (
        f"sqlite:///{tmp_path / 'crash.db'}"
        if engine == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    account = cli_json(database, "accounts", "create", "crash")["id"]
    token = cli_json(
        database, "api-tokens", "create", "w", "--account", account, "--permission", "write"
    )["token"]
    server = Server.api(database, log=tmp_path / "api.log")
    path = f"/client/v4/accounts/{account}/access/service_tokens"
    base = server.url + path
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged: list[dict[str, Any]] = []
    rotated: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        with httpx.Client(timeout=5, headers=headers) as client:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = client.post(base, json={"name": f"w{worker}-{n}"})
                    if r.status_code == 201:
                        created = r.json()["result"]
                        with lock:
                            acknowledged.append(created)
                        r2 = client.post(f"{base}/{created['id']}/rotate", json={})
                        if r2.status_code == 200:
                            with lock:
                                rotated[created["id"]] = r2.json()["result"]
                except httpx.TransportError:
                    return

    with ThreadPoolExecutor(8) as pool:
        for i in range(8):
            pool.submit(writer, i)
        # Kill mid-burst: once writes are being acknowledged (polled, with a deadline).
        deadline = time.monotonic() + 60
        try:
            while len(acknowledged) <= 20 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
            server.stop()
            stop.set()

    assert len(acknowledged) > 20, "the burst did not get going"
    service = build_service(Settings(database_url=database))
    try:
        now = service.clock()
        with service.database.read() as tx:
            for created in acknowledged:
                stored = tx.tokens.by_client_id(created["client_id"])
                assert stored is not None, f"acknowledged create lost: {created['id']}"
                latest = rotated.get(created["id"], created)
                acked = latest["client_secret_version"]
                if stored.client_secret_version == acked:
                    assert verify_secret(stored, latest["client_secret"], now=now).admitted
                else:
                    # A rotation may commit and die before its response was sent: that is
                    # one unacknowledged write on top, never a lost acknowledged one.
                    assert stored.client_secret_version == acked + 1
    finally:
        service.database.engine.dispose()

    # The restarted server serves every acknowledged token.
    with (
        Server.api(database, log=tmp_path / "api.log") as restarted,
        httpx.Client(timeout=10) as client,
    ):
        listed = client.get(restarted.url + path, params={"per_page": 1000}, headers=headers).json()
        ids = {t["id"] for t in listed["result"]}
        assert {c["id"] for c in acknowledged} <= ids
        assert listed["result_info"]["total_count"] == len(ids)
