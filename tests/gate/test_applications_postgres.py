"""Two gate processes serving an account's applications and one API process on one
PostgreSQL: a policy edited and an application deleted through the API take effect on both
gates within a second; the JWT validates with PyJWT for the application's tag and issuer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from bench.harness import Server

from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.tokens import ServiceToken
from tests.gate.access_world import (
    app,
    assertion_claims,
    make_org,
    reusable,
    rule_token,
    service_auth,
)
from tests.gate.conftest import Tenant, creds, make_tenant

pytestmark = pytest.mark.postgres

ISSUER = "https://pg.gate-tests.example"


@dataclass
class World:
    tenant: Tenant
    api: str
    gates: list[str]
    tokens: dict[str, tuple[ServiceToken, str]]
    apps: dict[str, AppWithPolicies]
    policy: str

    def status(self, gate: str, host: str, token: str) -> int:
        client_id, secret = self.tokens[token][0].client_id, self.tokens[token][1]
        headers = {"Host": host, **creds(client_id, secret)}
        return httpx.get(gate + "/x", headers=headers).status_code


@pytest.fixture(scope="module")
def world(
    pg_database: str, tmp_path_factory: pytest.TempPathFactory, upstream: str
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pg-apps")
    tenant = make_tenant(pg_database)
    make_org(tenant, ISSUER.removeprefix("https://"))
    tokens = {name: tenant.token(name) for name in ("a", "b")}
    policy = reusable(tenant, "non_identity", rule_token(tokens["a"][0].id))
    apps = {
        "a": app(tenant, "a.test", [service_auth(rule_token(tokens["a"][0].id))]),
        "b": app(tenant, "b.test", [policy.policy.id]),
        "gone": app(tenant, "gone.test", [service_auth(rule_token(tokens["a"][0].id))]),
    }
    routes = [f"{host}={upstream}" for host in ("a.test", "b.test", "gone.test")]
    processes: list[Server] = []
    try:
        with ThreadPoolExecutor(3) as pool:
            api_job = pool.submit(Server.api, pg_database, log=tmp / "api.log")
            gate_jobs = [
                pool.submit(
                    Server.gate,
                    pg_database,
                    account=tenant.account,
                    routes=routes,
                    log=tmp / f"gate-{n}.log",
                )
                for n in range(2)
            ]
            api = api_job.result()
            processes.append(api)
            gates = [job.result() for job in gate_jobs]
        processes.extend(gates)
        yield World(tenant, api.url, [g.url for g in gates], tokens, apps, policy.policy.id)
    finally:
        for process in processes:
            process.stop()
        tenant.service.database.engine.dispose()


def _on_both_within_a_second(world: World, holds: Callable[[str], bool]) -> None:
    committed = time.monotonic()
    pending = set(world.gates)
    while pending:
        for gate in list(pending):
            if holds(gate):
                pending.discard(gate)
        assert time.monotonic() - committed < 1.0, f"not yet on {pending}"
        time.sleep(0.01)


def test_a_policy_edited_through_the_api_reaches_both_gates_within_a_second(
    world: World,
) -> None:
    for gate in world.gates:
        assert world.status(gate, "b.test", "a") == 200
        assert world.status(gate, "b.test", "b") == 403
    path = f"/client/v4/accounts/{world.tenant.account}/access/policies/{world.policy}"
    body = {
        "name": "b only",
        "decision": "non_identity",
        "include": [rule_token(world.tokens["b"][0].id)],
    }
    edited = httpx.put(world.api + path, headers=world.tenant.api_headers(), json=body)
    assert edited.status_code == 200, edited.text
    _on_both_within_a_second(
        world,
        lambda gate: (
            world.status(gate, "b.test", "b") == 200 and world.status(gate, "b.test", "a") == 403
        ),
    )


def test_an_application_deleted_through_the_api_is_gone_from_both_gates_within_a_second(
    world: World,
) -> None:
    for gate in world.gates:
        assert world.status(gate, "gone.test", "a") == 200
    path = f"/client/v4/accounts/{world.tenant.account}/access/apps/{world.apps['gone'].app.id}"
    deleted = httpx.delete(world.api + path, headers=world.tenant.api_headers())
    assert deleted.status_code == 202, deleted.text
    _on_both_within_a_second(world, lambda gate: world.status(gate, "gone.test", "a") == 403)


def test_the_jwt_validates_with_pyjwt_for_the_application(world: World) -> None:
    token, secret = world.tokens["a"]
    aud = world.apps["a"].app.aud
    for gate in world.gates:
        response = httpx.get(
            gate + "/x", headers={"Host": "a.test", **creds(token.client_id, secret)}
        )
        assert response.status_code == 200, response.text
        (assertion,) = response.json()["headers"]["cf-access-jwt-assertion"]
        for certs_from in (gate, world.api):  # every replica and the API publish one key set
            claims = assertion_claims(certs_from, assertion, aud=aud, iss=ISSUER)
            assert claims["common_name"] == token.client_id
