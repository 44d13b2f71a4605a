"""Reliability fixtures: the API in-process on each engine, with a world of credentials."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from tests.conftest import World, make_world

V4 = "/client/v4"


def assert_failure(response: Any, status: int | tuple[int, ...], code: int | None = None) -> str:
    """A failure in the v4 envelope with a non-empty message; returns that message."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) >= {"success", "errors", "messages", "result"}, body
    assert body["success"] is False, body
    assert body["result"] is None, body
    assert body["messages"] == [], body
    assert isinstance(body["errors"], list), body
    assert body["errors"], body
    first = body["errors"][0]
    assert isinstance(first["code"], int), body
    assert first["code"] >= 1000, body
    if code is not None:
        assert first["code"] == code, body
    message: str = first["message"]
    assert message.strip(), body
    return message


@dataclass
class Api:
    """The management API of one world, in-process."""

    client: TestClient
    world: World
    _victims: dict[str, dict[str, Any]] = field(default_factory=dict)

    def victim(self, scope: str = "accounts") -> dict[str, Any]:
        """One token per scope that tests try (and must fail) to damage."""
        if scope not in self._victims:
            self._victims[scope] = self.create("victim", scope)
        return self._victims[scope]

    def base(self, scope: str = "accounts") -> str:
        container = self.world.account_a if scope == "accounts" else self.world.zone_a
        return f"{V4}/{scope}/{container}/access/service_tokens"

    @property
    def headers(self) -> dict[str, str]:
        return self.world.bearer(self.world.write_a)

    def listing(self, scope: str = "accounts") -> list[dict[str, Any]]:
        response = self.client.get(
            self.base(scope), params={"per_page": 1000}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["result"]
        return result

    def create(self, name: str = "victim", scope: str = "accounts") -> dict[str, Any]:
        response = self.client.post(self.base(scope), json={"name": name}, headers=self.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()["result"]
        return result

    def get(self, token_id: str, scope: str = "accounts") -> dict[str, Any]:
        response = self.client.get(f"{self.base(scope)}/{token_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["result"]
        return result


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API over HTTP semantics on SQLite and on PostgreSQL (500s are answers, not raises).

    One database and world per module and engine: tests compare the state before and after
    themselves, so they need no fresh world each."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    service = build_service(Settings(database_url=url, pool_size=4))
    try:
        with TestClient(create_app(service), raise_server_exceptions=False) as client:
            yield Api(client, make_world(service))
    finally:
        service.database.engine.dispose()
