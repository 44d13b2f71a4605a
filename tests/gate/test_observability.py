"""What operators watch on the gate: the request id its upstream receives (a trusted
proxy's kept, a client's own replaced), its latency histogram and upstream errors scraped
and parsed with prometheus_client's parser, and `/cdn-cgi/servicetokens/readyz`."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from servicetokens.gate.app import METRICS_PATH, READY_PATH
from tests.gate.conftest import GateFactory, Tenant, creds


@pytest.fixture(scope="module")
def presented(tenant: Tenant) -> dict[str, str]:
    made, secret = tenant.token("observability")
    return creds(made.client_id, secret)


def _request_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    received: list[str] = response.json()["headers"].get("x-request-id", [])
    return received


def test_the_upstream_gets_one_request_id_a_clients_own_replaced(
    start_gate: GateFactory, presented: dict[str, str]
) -> None:
    untrusting = start_gate(trusted_proxies=("none",))
    first = _request_ids(httpx.get(untrusting, headers={**presented, "X-Request-Id": "mine"}))
    second = _request_ids(httpx.get(untrusting, headers=presented))
    assert len(first) == len(second) == 1
    assert first != ["mine"]
    assert first != second  # one id per request


def test_a_trusted_proxys_request_id_reaches_the_upstream(
    start_gate: GateFactory, presented: dict[str, str]
) -> None:
    gate = start_gate()  # trusts loopback: the test client plays the proxy
    sent = httpx.get(gate, headers={**presented, "X-Request-Id": "edge-7f3a"})
    assert _request_ids(sent) == ["edge-7f3a"]
    forged = httpx.get(gate, headers={**presented, "X-Request-Id": 'x" "level":"error'})
    (replaced,) = _request_ids(forged)
    assert replaced != 'x" "level":"error'


def _samples(gate: str, family: str) -> list[Sample]:
    text = httpx.get(gate + METRICS_PATH).text
    for found in text_string_to_metric_families(text):
        if found.name == family:
            return found.samples
    raise AssertionError(f"no {family} in the gate's metrics")


def test_latency_by_status_class_and_upstream_errors_by_reason(
    start_gate: GateFactory, presented: dict[str, str]
) -> None:
    gate = start_gate()
    assert httpx.get(gate, headers=presented).status_code == 200
    assert httpx.get(gate).status_code == 401
    latency = _samples(gate, "servicetokens_gate_request_duration_seconds")
    counts = {
        s.labels["code"]: s.value
        for s in latency
        if s.name == "servicetokens_gate_request_duration_seconds_count"
    }
    assert counts["2xx"] >= 1
    assert counts["4xx"] >= 1

    dead = start_gate(upstream="http://127.0.0.1:9")  # the discard port: nothing answers
    assert httpx.get(dead, headers=presented).status_code == 502
    errors = {
        s.labels["reason"]: s.value
        for s in _samples(dead, "servicetokens_gate_upstream_errors")
        if s.name == "servicetokens_gate_upstream_errors_total"
    }
    assert errors == {"unreachable": 1, "timeout": 0}
    lag = _samples(dead, "servicetokens_gate_change_feed_lag_seconds")
    assert 0 <= lag[0].value < 2


def test_readyz_while_the_database_answers(start_gate: GateFactory) -> None:
    ready = httpx.get(start_gate() + READY_PATH)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}
