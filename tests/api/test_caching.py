"""Memoised lists and cached principals are never served stale: every write wins at once,
in this process and in every other process on the same database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.usecases.facade import UseCases
from tests.api.test_service_tokens import auth, base, error, ok
from tests.conftest import World


def names(client: TestClient, world: World, **params: object) -> list[str]:
    result = ok(client.get(base(world, "account"), params=params, headers=auth(world, "account")))
    return [t["name"] for t in result]


def test_every_mutation_invalidates_the_memoised_page(client: TestClient, world: World) -> None:
    url = base(world, "account")
    assert names(client, world) == []
    created = ok(client.post(url, json={"name": "one"}, headers=auth(world, "account")), 201)
    assert names(client, world) == ["one"]
    ok(client.put(f"{url}/{created['id']}", json={"name": "uno"}, headers=auth(world, "account")))
    assert names(client, world) == ["uno"]
    before = ok(client.get(url, headers=auth(world, "account")))[0]
    ok(client.post(f"{url}/{created['id']}/rotate", json={}, headers=auth(world, "account")))
    after = ok(client.get(url, headers=auth(world, "account")))[0]
    assert after["client_secret_version"] == before["client_secret_version"] + 1
    ok(client.post(f"{url}/{created['id']}/refresh", headers=auth(world, "account")))
    assert (
        ok(client.get(url, headers=auth(world, "account")))[0]["updated_at"] != after["updated_at"]
    )
    ok(client.delete(f"{url}/{created['id']}", headers=auth(world, "account")))
    assert names(client, world) == []


def test_revoked_api_token_stops_listing_at_once(
    client: TestClient, world: World, service: UseCases
) -> None:
    token = service.admin.create_api_token(
        "soon revoked",
        scope=ContainerKind.ACCOUNT,
        scope_id=world.account_a,
        permission=Permission.READ,
    )
    headers = world.bearer(token.secret)
    for _ in range(3):  # now cached
        ok(client.get(base(world, "account"), headers=headers))
    service.admin.revoke_api_token(token.id)
    error(client.get(base(world, "account"), headers=headers), 403, 9109)


@pytest.fixture
def other_process(database_url: str) -> Iterator[TestClient]:
    """A second app with its own service and caches on the same database (as a replica)."""
    other = build_service(Settings(database_url=database_url, pool_size=2))
    with TestClient(create_app(other)) as test_client:
        yield test_client


def test_writes_in_another_process_are_seen_at_once(
    client: TestClient, other_process: TestClient, world: World
) -> None:
    url = base(world, "account")
    assert names(other_process, world) == []  # memoised there
    created = ok(client.post(url, json={"name": "here"}, headers=auth(world, "account")), 201)
    assert names(other_process, world) == ["here"]
    ok(
        client.put(
            f"{url}/{created['id']}", json={"name": "renamed"}, headers=auth(world, "account")
        )
    )
    assert names(other_process, world) == ["renamed"]
    ok(client.delete(f"{url}/{created['id']}", headers=auth(world, "account")))
    assert names(other_process, world) == []


def test_revocation_in_another_process_is_seen_at_once(
    other_process: TestClient, world: World, service: UseCases
) -> None:
    token = service.admin.create_api_token(
        "replica", scope=ContainerKind.ACCOUNT, scope_id=world.account_a, permission=Permission.READ
    )
    headers = world.bearer(token.secret)
    ok(other_process.get(base(world, "account"), headers=headers))
    service.admin.revoke_api_token(token.id)
    error(other_process.get(base(world, "account"), headers=headers), 403, 9109)


def test_filters_and_pages_are_memoised_separately(client: TestClient, world: World) -> None:
    url = base(world, "account")
    for name in ("alpha", "beta", "alpha"):
        ok(client.post(url, json={"name": name}, headers=auth(world, "account")), 201)
    assert names(client, world) == ["alpha", "beta", "alpha"]
    assert names(client, world, name="alpha") == ["alpha", "alpha"]
    assert names(client, world, name="beta") == ["beta"]
    assert names(client, world, per_page=1, page=2) == ["beta"]
    assert names(client, world, search="ETA") == ["beta"]
