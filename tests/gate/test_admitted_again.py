"""A token admitted again (`AccessDecider._again`, `Verifier.authenticate_cached`): the
remembered verdict and JWT are reused only for the token, secret and application they were
made for, and a token that stops standing (rotated, disabled, expired) is refused at once
although its verdict was remembered; what is remembered per host and path is bounded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.clock import system_clock
from servicetokens.gate import access_memo
from servicetokens.gate.credentials import ClientCredentials
from servicetokens.gate.verifier import Authenticated
from tests.gate.access_world import ANY_TOKEN, app, assertion_claims, make_org, service_auth
from tests.gate.conftest import GateFactory, Tenant, creds, until

AUTH_DOMAIN = "again.gate-tests.example"
ISSUER = f"https://{AUTH_DOMAIN}"


@dataclass
class World:
    gate: str
    apps: dict[str, AppWithPolicies]

    def get(self, host: str, client_id: str, secret: str, path: str = "/x") -> httpx.Response:
        return httpx.get(self.gate + path, headers={"Host": host, **creds(client_id, secret)})

    def assertion(self, host: str, client_id: str, secret: str, path: str = "/x") -> str:
        response = self.get(host, client_id, secret, path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        (assertion,) = body["headers"]["cf-access-jwt-assertion"]
        return str(assertion)

    def claims(self, name: str, assertion: str) -> dict[str, Any]:
        return assertion_claims(self.gate, assertion, aud=self.apps[name].app.aud, iss=ISSUER)


@pytest.fixture(scope="module")
def world(tenant: Tenant, start_gate: GateFactory, upstream: str) -> World:
    make_org(tenant, AUTH_DOMAIN, strict=True)
    apps = {name: app(tenant, f"{name}.test", [service_auth(ANY_TOKEN)]) for name in ("one", "two")}
    routes = tuple((f"{name}.test", upstream) for name in apps)
    return World(start_gate(upstream=None, routes=routes), apps)


def test_a_jwt_is_reused_only_for_its_token_and_application(world: World, tenant: Tenant) -> None:
    tokens = [tenant.token(name) for name in ("s", "t")]
    first = {
        (name, token.id): world.assertion(f"{name}.test", token.client_id, secret)
        for name in world.apps
        for token, secret in tokens
    }
    assert len(set(first.values())) == 4
    for _ in range(3):  # admitted again, interleaved: each gets back its own JWT
        for name in world.apps:
            for token, secret in tokens:
                again = world.assertion(f"{name}.test", token.client_id, secret)
                assert again == first[(name, token.id)]
                claims = world.claims(name, again)
                assert claims["common_name"] == token.client_id
                assert claims["token_id"] == token.id


def test_a_rotated_secret_gets_its_own_jwt_and_the_old_one_is_refused(
    world: World, tenant: Tenant
) -> None:
    token, old = tenant.token("rotated")
    before = world.assertion("one.test", token.client_id, old)
    assert world.assertion("one.test", token.client_id, old) == before  # remembered
    new = tenant.rotate(token, grace=None)
    until(lambda: world.get("one.test", token.client_id, old).status_code == 401, within=2)
    assert world.get("one.test", token.client_id, old).json()["reason"] == "invalid credentials"
    after = world.assertion("one.test", token.client_id, new)
    assert after != before
    assert world.claims("one", after)["sfp"] != world.claims("one", before)["sfp"]
    assert world.assertion("one.test", token.client_id, new) == after


def test_inside_a_grace_period_each_secret_gets_the_jwt_it_earned(
    world: World, tenant: Tenant
) -> None:
    token, old = tenant.token("graced")
    before = world.claims("two", world.assertion("two.test", token.client_id, old))
    new = tenant.rotate(token, grace=system_clock() + timedelta(hours=1))
    until(
        lambda: (
            world.claims("two", world.assertion("two.test", token.client_id, new))["sfp"]
            != before["sfp"]
        ),
        within=2,
    )
    for _ in range(3):  # alternating: never the other secret's JWT
        by_old = world.claims("two", world.assertion("two.test", token.client_id, old))
        by_new = world.claims("two", world.assertion("two.test", token.client_id, new))
        assert by_old["sfp"] == before["sfp"]
        assert by_new["sfp"] != before["sfp"]


def test_a_disabled_token_is_refused_although_its_verdict_was_remembered(
    world: World, tenant: Tenant
) -> None:
    token, secret = tenant.token("disabled")
    for _ in range(2):
        assert world.get("one.test", token.client_id, secret).status_code == 200
    tenant.update(token, name=token.name, enabled=False)
    until(lambda: world.get("one.test", token.client_id, secret).status_code == 401, within=2)
    assert world.get("one.test", token.client_id, secret).json()["reason"] == "token disabled"


def test_an_expired_token_is_refused_although_its_verdict_was_remembered(
    world: World, tenant: Tenant
) -> None:
    token, secret = tenant.token("brief", duration="2s")
    assert world.get("one.test", token.client_id, secret).status_code == 200
    assert world.get("one.test", token.client_id, secret).status_code == 200
    # Nothing changes in the database: the cached record's own expiry refuses it.
    until(lambda: world.get("one.test", token.client_id, secret).status_code == 401, within=5)
    assert world.get("one.test", token.client_id, secret).json()["reason"] == "token expired"


def test_what_is_remembered_per_host_and_path_is_bounded(
    world: World, tenant: Tenant, start_gate: GateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, secret = tenant.token("paths")
    monkeypatch.setattr(access_memo, "_MEMO_SIZE", 4)
    access = start_gate.apps[world.gate].access
    assert access is not None
    for n in range(12):
        assert world.get("one.test", token.client_id, secret, f"/p{n}").status_code == 200
        assert len(access._memo._spots) <= 4
    assert world.get("nowhere.test", token.client_id, secret).status_code == 403
    assert world.get("one.test", token.client_id, secret, "/p0").status_code == 200


def test_authenticate_cached_admits_only_a_cached_record_the_secret_authenticates(
    tenant: Tenant, start_gate: GateFactory
) -> None:
    token, secret = tenant.token("cached")
    gate = start_gate.apps[start_gate()]
    verifier = gate.verifier
    right = ClientCredentials(token.client_id, secret)

    async def scenario() -> None:
        assert verifier.authenticate_cached(right) is None  # not read yet: the full path
        full = await verifier.authenticate(right, "127.0.0.1")
        assert isinstance(full, Authenticated)
        hit = verifier.authenticate_cached(right)
        assert isinstance(hit, Authenticated)
        assert (hit.token.id, hit.fingerprint) == (full.token.id, full.fingerprint)
        for wrong in (
            ClientCredentials(token.client_id, "f" * 64),
            ClientCredentials(token.client_id, secret[:-1]),
            ClientCredentials("0" * 32 + ".access", secret),
            ClientCredentials("not an id", secret),
        ):
            assert verifier.authenticate_cached(wrong) is None
            refused = await verifier.authenticate(wrong, "127.0.0.1")
            assert not isinstance(refused, Authenticated)
            assert refused.status == 401
            assert verifier.authenticate_cached(wrong) is None  # also once it is cached

    asyncio.run(scenario())


def test_credentials_do_not_show_their_secret() -> None:
    shown = repr(ClientCredentials("id.access", "s3cr3t-value"))
    assert "id.access" in shown
    assert "s3cr3t-value" not in shown
