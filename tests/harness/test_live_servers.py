"""The shared live-server harness (`bench/harness.py`) that the suites and the benchmark use."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.harness import Server, ServerThread, free_port, wait_http


def test_a_server_that_dies_before_it_is_ready_fails_at_once_quoting_its_log(
    tmp_path: Path,
) -> None:
    argv = [sys.executable, "-c", "print('no database here'); raise SystemExit(3)"]
    server = Server(
        argv, url=f"http://127.0.0.1:{free_port()}", ready_path="/", log=tmp_path / "s.log"
    )
    with pytest.raises(RuntimeError, match=r"(?s)exited with 3 .*no database here"):
        server.start()


def test_waiting_on_a_port_nobody_opens_ends_at_the_deadline() -> None:
    with pytest.raises(TimeoutError, match=r"not ready within 0\.3 s"):
        wait_http(f"http://127.0.0.1:{free_port()}/", timeout=0.3)


def test_a_server_is_ready_once_it_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with Server(
        argv, url=f"http://127.0.0.1:{port}", ready_path="/", log=tmp_path / "s.log"
    ) as server:
        assert httpx.get(server.url).status_code == 200
    assert server.stop() == -signal.SIGTERM


def test_readiness_can_demand_a_status(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server = Server(
        argv,
        url=f"http://127.0.0.1:{port}",
        ready_path="/missing",
        log=tmp_path / "s.log",
        timeout=1,
        ready=lambda status: status == 200,  # it answers 404 there, forever
    )
    with pytest.raises(TimeoutError):
        server.start()
    assert server.process is not None
    assert server.process.poll() is not None  # stopped, not left running


def test_an_asgi_app_runs_under_uvicorn_in_a_thread() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                await send({"type": kind + ".complete"})
                if kind == "lifespan.shutdown":
                    return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with ServerThread(app) as server:
        assert httpx.get(server.url).status_code == 204
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url, timeout=1)
