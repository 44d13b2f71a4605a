"""Routes as modules: a sibling route is never shadowed by `{service_token_id}`, handlers
authorize through `CanRead`/`CanWrite`, and a 405's `Allow` is read from the app's routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import Response
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.api.app import API_PREFIX
from servicetokens.api.authorized import CanRead
from servicetokens.api.envelope import success
from servicetokens.api.routes.service_tokens import ROUTES, RouteSpec, add_scope
from servicetokens.api.routing import by_specificity, specificity
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.service_tokens import ServiceTokens
from tests.conftest import World


async def expiring(caller: CanRead) -> Response:
    def answer(_: ServiceTokens, principal: Principal, ref: ContainerRef) -> Response:
        return success({"route": "expiring", "container": ref.id})

    return await caller.run(answer)


EXPIRING = RouteSpec("GET", "/expiring", "list-expiring", "Expiring tokens", expiring)


def app_serving(service: UseCases, routes: Sequence[RouteSpec]) -> FastAPI:
    """An app wired as the real one (state, error handlers) serving `routes` in both scopes."""
    real = create_app(service)
    app = FastAPI()
    app.state = real.state
    app.exception_handlers.update(real.exception_handlers)
    router = APIRouter()
    for kind in ContainerKind:
        add_scope(router, kind, routes)
    app.include_router(router, prefix=API_PREFIX)
    return app


def collection(world: World, scope: str) -> str:
    if scope == "account":
        return f"{API_PREFIX}/accounts/{world.account_a}/access/service_tokens"
    return f"{API_PREFIX}/zones/{world.zone_a}/access/service_tokens"


def reader(world: World, scope: str) -> dict[str, str]:
    return world.bearer(world.read_a if scope == "account" else world.read_zone_a)


def failure_code(response: Any, status: int) -> int:
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    code: int = response.json()["errors"][0]["code"]
    return code


@pytest.mark.parametrize("scope", ["account", "zone"])
@pytest.mark.parametrize("where", ["first", "last"])
def test_static_sibling_is_not_shadowed_by_token_id(
    service: UseCases, world: World, scope: str, where: str
) -> None:
    routes = [EXPIRING, *ROUTES] if where == "first" else [*ROUTES, EXPIRING]
    with TestClient(app_serving(service, routes), client=("127.0.0.1", 50000)) as client:
        url = collection(world, scope)
        response = client.get(f"{url}/expiring", headers=reader(world, scope))
        assert response.status_code == 200, response.text
        container = world.account_a if scope == "account" else world.zone_a
        assert response.json()["result"] == {"route": "expiring", "container": container}
        # The sibling goes through the same checks, in the same order, as every route.
        assert failure_code(client.get(f"{url}/expiring"), 400) == 9106
        # Ids that are not tokens still reach the token route: 404/12135 after authorization.
        for token_id in ("expiring-soon", "0" * 32, "not-an-id"):
            response = client.get(f"{url}/{token_id}", headers=reader(world, scope))
            assert failure_code(response, 404) == 12135
            assert failure_code(client.get(f"{url}/{token_id}"), 400) == 9106
        # And the real routes still answer as before.
        assert client.get(url, headers=reader(world, scope)).json()["result"] == []


@given(st.permutations([*ROUTES, EXPIRING]))
def test_static_segments_sort_before_parameters(routes: list[RouteSpec]) -> None:
    ordered = by_specificity(routes, lambda spec: spec.path)
    position = {(spec.method, spec.path): i for i, spec in enumerate(ordered)}
    assert position[("GET", "/expiring")] < position[("GET", "/{service_token_id}")]
    assert (
        position[("PUT", "/{service_token_id}")] < position[("POST", "/{service_token_id}/rotate")]
    )
    # Routes of one path keep their relative order: the sort is stable.
    item = [spec.method for spec in ordered if spec.path == "/{service_token_id}"]
    assert item == [spec.method for spec in routes if spec.path == "/{service_token_id}"]


def test_specificity_ranks_segments() -> None:
    assert specificity("/a/b") < specificity("/a/{x}") < specificity("/a/{x:path}")
    assert specificity("/a/b/{x}") < specificity("/a/{x}/b")


def test_allow_is_read_from_the_apps_routes(service: UseCases) -> None:
    app = create_app(service)

    async def patch_only() -> Response:
        return Response(b"{}", media_type="application/json")

    # A route added after the app was built is in the table: there is no second list.
    app.add_api_route(f"{API_PREFIX}/extra", patch_only, methods=["PATCH"])
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        response = client.post(f"{API_PREFIX}/extra")
        assert failure_code(response, 405) == 10000
        assert response.headers["allow"] == "PATCH"
        response = client.post("/healthz")
        assert failure_code(response, 405) == 10000
        assert response.headers["allow"] == "GET"
        response = client.delete(f"{API_PREFIX}/zones/{'a' * 32}/access/service_tokens")
        assert response.headers["allow"] == "GET, POST"
        item = f"{API_PREFIX}/accounts/{'a' * 32}/access/service_tokens/{'b' * 32}"
        assert client.post(item).headers["allow"] == "DELETE, GET, PUT"
