"""A service token a policy names cannot be deleted (400/12139, Cloudflare's exact words),
whichever policy names it and wherever in its rules, on SQLite and PostgreSQL; concurrent
deletes and policy writes cannot leave a policy naming a deleted token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.domain.errors import ServiceTokenInUse, ValidationError
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.api.access_helpers import new_token, policies_url, policy_body
from tests.api.test_access_apps import auth, make_app
from tests.api.test_service_tokens import V4, error, ok
from tests.conftest import World

IN_USE = (
    "access.api.error.service_token_in_use: cannot delete service token because it is used "
    "by a policy, group, or app SCIM configuration."
)


def token_url(world: World, token_id: str, scope: str = "account") -> str:
    container = f"accounts/{world.account_a}" if scope == "account" else f"zones/{world.zone_a}"
    return f"{V4}/{container}/access/service_tokens/{token_id}"


def refused(client: TestClient, world: World, token_id: str, scope: str = "account") -> None:
    response = client.delete(token_url(world, token_id, scope), headers=auth(world))
    assert error(response, 400, 12139)["message"] == IN_USE
    assert "x-should-retry" not in response.headers
    ok(client.get(token_url(world, token_id, scope), headers=auth(world)))


def named(token_id: str, spelling: Callable[[str], str] = str) -> dict[str, Any]:
    return {"service_token": {"token_id": spelling(token_id)}}


@pytest.mark.parametrize("where", ["include", "require", "exclude"])
def test_a_reusable_policy_protects_its_tokens(
    client: TestClient, world: World, where: str
) -> None:
    token_id = new_token(client, world)
    body = policy_body(**{where: [{"everyone": {}}, named(token_id, str.upper)]})
    policy = ok(client.post(policies_url(world), json=body, headers=auth(world)), 201)
    refused(client, world, token_id)
    url = f"{policies_url(world)}/{policy['id']}"
    ok(client.put(url, json=policy_body(), headers=auth(world)))
    assert ok(client.delete(token_url(world, token_id), headers=auth(world)))["id"] == token_id


def test_app_scoped_and_inline_policies_protect_their_tokens(
    client: TestClient, world: World
) -> None:
    inline_token, scoped_token = new_token(client, world), new_token(client, world)
    inline_policy = {"name": "i", "decision": "non_identity", "include": [named(inline_token)]}
    app = make_app(client, world, policies=[inline_policy])
    refused(client, world, inline_token)
    scoped = {"name": "s", "decision": "non_identity", "include": [named(scoped_token)]}
    url = f"{V4}/accounts/{world.account_a}/access/apps/{app['id']}/policies"
    created = ok(client.post(url, json=scoped, headers=auth(world)), 201)
    refused(client, world, scoped_token)
    ok(client.delete(f"{url}/{created['id']}", headers=auth(world)), 202)
    ok(client.delete(token_url(world, scoped_token), headers=auth(world)))
    ok(
        client.delete(
            f"{V4}/accounts/{world.account_a}/access/apps/{app['id']}", headers=auth(world)
        ),
        202,
    )
    ok(client.delete(token_url(world, inline_token), headers=auth(world)))


def test_a_zone_token_named_by_a_zone_application(client: TestClient, world: World) -> None:
    token_id = new_token(client, world, "zone")
    policy = {"name": "z", "decision": "non_identity", "include": [named(token_id)]}
    make_app(client, world, "zone", policies=[policy])
    response = client.delete(token_url(world, token_id, "zone"), headers=auth(world, "zone"))
    assert error(response, 400, 12139)["message"] == IN_USE


def test_any_valid_service_token_names_no_token(client: TestClient, world: World) -> None:
    token_id = new_token(client, world)
    ok(client.post(policies_url(world), json=policy_body(), headers=auth(world)), 201)
    assert ok(client.delete(token_url(world, token_id), headers=auth(world)))["id"] == token_id


def _race(service: UseCases, principal: Principal, ref: ContainerRef) -> dict[str, object]:
    """Delete a fresh token while a policy naming it is created; what each side saw."""
    token, _secret = service.tokens.create(principal, ref, TokenFields(name="raced"))
    outcomes: dict[str, object] = {}
    start = threading.Barrier(2)

    def delete() -> None:
        start.wait()
        try:
            service.tokens.delete(principal, ref, token.id)
            outcomes["delete"] = "deleted"
        except ServiceTokenInUse:
            outcomes["delete"] = "in use"

    def name_it() -> None:
        start.wait()
        try:
            body = policy_body(include=[named(token.id)])
            outcomes["policy"] = service.policies.create(principal, ref, body).policy.id
        except ValidationError:
            outcomes["policy"] = "token gone"

    threads = [threading.Thread(target=delete), threading.Thread(target=name_it)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_deletes_and_policies_never_leave_a_dangling_name(
    service: UseCases, world: World
) -> None:
    principal = service.authentication.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    for _ in range(15):
        outcomes = _race(service, principal, ref)
        # Exactly one of the two won, whatever the interleaving.
        assert (outcomes["delete"] == "deleted") == (outcomes["policy"] == "token gone"), outcomes
        if outcomes["delete"] == "in use":
            service.policies.delete(principal, ref, str(outcomes["policy"]))
