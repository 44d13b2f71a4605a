"""What operators watch on the API: `/metrics` scraped and parsed with prometheus_client's
own parser, `/readyz` beside `/healthz`, and the JSON request log with its request id.
(The database stopped under `/readyz` is `tests/reliability/test_readiness.py`.)"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_api
from servicetokens.config import Settings
from servicetokens.domain.network import TrustedProxies
from servicetokens.json_logs import REQUEST_LOGGER, JsonFormatter
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.inactivity import InactiveTokens
from tests.conftest import World

TOKENS = "/client/v4/accounts/{account_id}/access/service_tokens"
TOKEN = TOKENS + "/{service_token_id}"
INACTIVITY = "service-token-inactivity"


def scrape(client: TestClient) -> dict[str, list[Sample]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


@pytest.fixture
def observed(service: UseCases) -> Iterator[TestClient]:
    jobs = [InactiveTokens(service.database, interval=0.05)]
    app = create_app(service, request_log=True, jobs=jobs)
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000)) as client:
        yield client


def test_requests_are_counted_by_route_template_and_status(
    observed: TestClient, world: World
) -> None:
    headers = world.bearer(world.write_a)
    listing = f"/client/v4/accounts/{world.account_a}/access/service_tokens"
    created = observed.post(listing, headers=headers, json={"name": "m"})
    assert created.status_code == 201
    token_id = created.json()["result"]["id"]
    for _ in range(3):
        assert observed.get(listing, headers=headers).status_code == 200
    assert observed.get(f"{listing}/{token_id}", headers=headers).status_code == 200
    missing = f"{listing}/00000000-0000-0000-0000-000000000000"
    assert observed.get(missing, headers=headers).status_code == 404
    assert observed.get(f"/no/such/{token_id}").status_code == 404

    families = scrape(observed)
    requests = families["servicetokens_api_requests"]
    total = "servicetokens_api_requests_total"
    assert value(requests, total, route=TOKENS, method="GET", status="200") == 3
    assert value(requests, total, route=TOKENS, method="POST", status="201") == 1
    assert value(requests, total, route=TOKEN, method="GET", status="200") == 1
    assert value(requests, total, route=TOKEN, method="GET", status="404") == 1
    assert value(requests, total, route="unmatched", method="GET", status="404") == 1
    # No label carries what a client wrote: ids appear nowhere in the exposition.
    assert not any(token_id in str(s.labels) for samples in families.values() for s in samples)

    latency = families["servicetokens_api_request_duration_seconds"]
    count = "servicetokens_api_request_duration_seconds_count"
    assert value(latency, count, route=TOKENS, method="GET") == 3
    inf = value(
        latency, "servicetokens_api_request_duration_seconds_bucket", route=TOKEN, method="GET",
        le="+Inf",
    )  # fmt: skip
    assert inf == 2

    pool = families["servicetokens_db_pool_size"]
    assert value(pool, "servicetokens_db_pool_size") >= 1
    waits = families["servicetokens_db_pool_wait_seconds"]
    assert value(waits, "servicetokens_db_pool_wait_seconds_count") > 0
    hits = families["servicetokens_cache_hits"]
    assert value(hits, "servicetokens_cache_hits_total", cache="principals") > 0
    assert value(hits, "servicetokens_cache_hits_total", cache="list_pages") >= 1
    deadline = time.monotonic() + 10
    while True:  # the inactive-token job runs every 50 ms here
        jobs = scrape(observed)
        ran = value(jobs["servicetokens_job_runs"], "servicetokens_job_runs_total", job=INACTIVITY)
        if ran >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert ran >= 1
    failed = value(
        jobs["servicetokens_job_failures"], "servicetokens_job_failures_total", job=INACTIVITY
    )
    assert failed == 0


def test_a_gauge_registered_by_another_part_is_scraped(observed: TestClient) -> None:
    backlog = [7.0]
    observed.app.state.metrics.gauge(  # type: ignore[attr-defined]
        "servicetokens_outbox_backlog", "Messages not yet delivered.", lambda: backlog[0]
    )
    assert (
        value(scrape(observed)["servicetokens_outbox_backlog"], "servicetokens_outbox_backlog") == 7
    )


def test_metrics_off_serves_no_metrics(service: UseCases) -> None:
    with TestClient(create_app(service, metrics=False)) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_readyz_answers_while_the_database_does(observed: TestClient) -> None:
    ready = observed.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}
    assert observed.get("/healthz").status_code == 200


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def request_lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_one_json_line_per_request_with_the_id_the_response_carries(
    observed: TestClient, world: World, request_lines: Lines
) -> None:
    listing = f"/client/v4/accounts/{world.account_a}/access/service_tokens"
    response = observed.get(listing, headers=world.bearer(world.read_a))
    assert response.status_code == 200
    (line,) = request_lines.lines
    entry = json.loads(line)
    assert entry["request_id"] == response.headers["x-request-id"]
    assert (entry["method"], entry["route"], entry["path"]) == ("GET", TOKENS, listing)
    assert entry["status"] == 200
    assert entry["duration_ms"] >= 0
    assert entry["client"] == "127.0.0.1"
    assert world.read_a not in line  # credentials never reach the log


def test_a_trusted_proxys_request_id_is_kept_anyone_elses_replaced(
    service: UseCases, request_lines: Lines
) -> None:
    for proxies, kept in ((TrustedProxies(), True), (TrustedProxies(["none"]), False)):
        app = create_app(service, trusted_proxies=proxies, request_log=True)
        with TestClient(app, client=("127.0.0.1", 50000)) as client:
            sent = client.get("/healthz", headers={"x-request-id": "edge-42"})
            forged = client.get("/healthz", headers={"x-request-id": 'a" "level":"error'})
        assert (sent.headers["x-request-id"] == "edge-42") is kept
        assert forged.headers["x-request-id"] != 'a" "level":"error'
    assert all(json.loads(line)["message"] == "request" for line in request_lines.lines)


def test_the_served_api_reports_its_outbox_backlog(tmp_path: Path) -> None:
    """`build_api` (what `servicetokens serve` runs) registers the outbox gauge."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'gauge.db'}", jobs_interval=60)
    with TestClient(build_api(settings)) as client:
        samples = scrape(client)["servicetokens_outbox_backlog"]
        assert value(samples, "servicetokens_outbox_backlog") == 0
