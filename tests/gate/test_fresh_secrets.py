"""A secret the API has just returned works at once, at a gate in another process, on both
engines: a mismatch against a cached record is read again before it is refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from bench.harness import Server

from tests.gate.conftest import (
    Tenant,
    creds,
    make_tenant,
    until,
)

ROTATIONS = 50


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def processes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, upstream: str
) -> Iterator[tuple[Tenant, str, str]]:
    """An API process and a gate process (the real CLI) on one database."""
    tmp = tmp_path_factory.mktemp("fresh")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'fresh.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    tenant = make_tenant(url)
    started: list[Server] = []
    try:
        api = Server.api(url, log=tmp / "api.log")
        started.append(api)
        gate = Server.gate(url, account=tenant.account, upstream=upstream, log=tmp / "gate.log")
        started.append(gate)
        yield tenant, api.url, gate.url
    finally:
        for process in started:
            process.stop()
        tenant.service.database.engine.dispose()


def test_every_fresh_secret_is_admitted_on_the_very_next_request(
    processes: tuple[Tenant, str, str],
) -> None:
    tenant, api, gate = processes
    base = f"{api}/client/v4/accounts/{tenant.account}/access/service_tokens"
    with httpx.Client(headers=tenant.api_headers()) as admin, httpx.Client() as client:
        created = admin.post(base, json={"name": "fresh"}).json()["result"]
        client_id, secret, token_id = created["client_id"], created["client_secret"], created["id"]
        statuses = [client.get(gate, headers=creds(client_id, secret)).status_code]
        for _ in range(ROTATIONS):
            # The gate holds the token as it was (it just admitted the current secret)...
            assert client.get(gate, headers=creds(client_id, secret)).status_code == 200
            rotated = admin.post(f"{base}/{token_id}/rotate", json={}).json()["result"]
            secret = rotated["client_secret"]
            # ...and the new secret works at once, before the change feed could evict it.
            statuses.append(client.get(gate, headers=creds(client_id, secret)).status_code)
        version = rotated["client_secret_version"]
        for _ in range(10):  # a PUT raising client_secret_version mints a secret too
            version += 1
            put = admin.put(f"{base}/{token_id}", json={"client_secret_version": version})
            secret = put.json()["result"]["client_secret"]
            statuses.append(client.get(gate, headers=creds(client_id, secret)).status_code)
        # Re-enabled a moment after the gate saw it disabled: admitted at once too.
        admin.put(f"{base}/{token_id}", json={"enabled": False})
        until(
            lambda: client.get(gate, headers=creds(client_id, secret)).status_code == 401, within=1
        )
        admin.put(f"{base}/{token_id}", json={"enabled": True})
        statuses.append(client.get(gate, headers=creds(client_id, secret)).status_code)
    assert statuses == [200] * (1 + ROTATIONS + 10 + 1)
