"""`/readyz` follows the database, `/healthz` does not: a private PostgreSQL (the outage
suite's) under a `servicetokens serve` and a `servicetokens gate` started with
`--log-format json`, stopped and started again. Also: the servers' request lines, as they
write them, parse as JSON and carry the request id the response names."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.harness import Server

from tests.gate.conftest import until
from tests.reliability.live import NO_UPSTREAM, cli_json
from tests.reliability.test_db_outage import PrivatePostgres

pytestmark = pytest.mark.postgres_cluster

GATE_READY = "/cdn-cgi/servicetokens/readyz"


def _within(seconds: float, check: object) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.1)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[PrivatePostgres, Server, Server]]:
    cluster = PrivatePostgres()
    cluster.start()
    processes: list[Server] = []
    try:
        account = cli_json(cluster.url, "accounts", "create", "ready")["id"]
        json_logs = ["--log-format", "json"]
        processes.append(Server.api(cluster.url, log=tmp_path / "api.log", extra=json_logs))
        processes.append(
            Server.gate(
                cluster.url,
                account=account,
                upstream=NO_UPSTREAM,
                log=tmp_path / "gate.log",
                extra=json_logs,
            )
        )
        yield cluster, processes[0], processes[1]
    finally:
        for process in processes:
            process.stop()
        cluster.destroy()


def _status(url: str) -> int:
    return httpx.get(url, timeout=10).status_code


def test_readyz_is_503_while_the_database_is_down(
    servers: tuple[PrivatePostgres, Server, Server],
) -> None:
    cluster, api, gate = servers
    assert _status(api.url + "/readyz") == 200
    assert _status(gate.url + GATE_READY) == 200

    response = httpx.get(api.url + "/healthz")
    request_id = response.headers["x-request-id"]

    def logged() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in api.log_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("request_id") == request_id]

    # The line is written as the response goes out: the client may see the answer first.
    until(lambda: bool(logged()), within=10)
    (line,) = logged()
    assert line["message"] == "request"
    assert line["route"] == "/healthz"

    cluster.stop()
    started = time.monotonic()
    assert _status(api.url + "/readyz") == 503
    assert _status(gate.url + GATE_READY) == 503
    assert time.monotonic() - started < 6, "each probe answers within its 2 s bound"
    assert _status(api.url + "/healthz") == 200  # liveness: the process still serves

    cluster.start()
    _within(15, lambda: _status(api.url + "/readyz") == 200)
    _within(15, lambda: _status(gate.url + GATE_READY) == 200)
    gate_lines = [line for line in gate.log_text().splitlines() if line.startswith("{")]
    assert any(json.loads(line).get("message") == "request" for line in gate_lines)
