"""Two gate processes and one API process on one PostgreSQL: revocation reaches both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from bench.harness import Server

from tests.gate.conftest import (
    Tenant,
    creds,
    make_tenant,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_world(
    pg_database: str, tmp_path_factory: pytest.TempPathFactory, upstream: str
) -> Iterator[tuple[Tenant, str, list[str]]]:
    tmp = tmp_path_factory.mktemp("pg")
    tenant = make_tenant(pg_database)
    processes: list[Server] = []
    try:
        with ThreadPoolExecutor(3) as pool:
            api_job = pool.submit(Server.api, pg_database, log=tmp / "api.log")
            gate_jobs = [
                pool.submit(
                    Server.gate,
                    pg_database,
                    account=tenant.account,
                    upstream=upstream,
                    log=tmp / f"gate-{n}.log",
                )
                for n in range(2)
            ]
            api = api_job.result()
            processes.append(api)
            gates = [job.result() for job in gate_jobs]
        processes.extend(gates)
        yield tenant, api.url, [gate.url for gate in gates]
    finally:
        for process in processes:
            process.stop()
        tenant.service.database.engine.dispose()


def test_delete_through_the_api_reaches_both_gates_within_a_second(
    pg_world: tuple[Tenant, str, list[str]],
) -> None:
    tenant, api, gates = pg_world
    token, secret = tenant.token()
    headers = creds(token.client_id, secret)
    for gate in gates:  # both gates now hold the token in their caches
        assert httpx.get(gate, headers=headers).status_code == 200
        assert httpx.get(gate, headers=headers).status_code == 200
    path = f"/client/v4/accounts/{tenant.account}/access/service_tokens/{token.id}"
    deleted = httpx.delete(api + path, headers=tenant.api_headers())
    assert deleted.status_code == 200, deleted.text
    committed = time.monotonic()
    pending = set(gates)
    while pending:
        for gate in list(pending):
            if httpx.get(gate, headers=headers).status_code == 401:
                pending.discard(gate)
        assert time.monotonic() - committed < 1.0, f"still admitted by {pending}"
        time.sleep(0.01)


def test_both_gates_sign_with_the_same_shared_key(pg_world: tuple[Tenant, str, list[str]]) -> None:
    tenant, api, gates = pg_world
    kids = {
        httpx.get(f"{base}/cdn-cgi/access/certs").json()["public_cert"]["kid"]
        for base in (*gates, api)
    }
    assert len(kids) == 1
    token, secret = tenant.token()
    first = httpx.get(gates[0], headers=creds(token.client_id, secret))
    jwt = first.json()["headers"]["cf-access-jwt-assertion"][0]
    # A JWT from one replica is honoured by the other.
    assert httpx.get(gates[1], headers={"cf-access-token": jwt}).status_code == 200
