"""Over HTTP, on SQLite and PostgreSQL: a previous secret that was revoked or whose grace
ended cannot be revived by a PUT (400 12130), and its digest is gone from storage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.clock import format_timestamp
from servicetokens.store.schema import service_tokens
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.conftest import World

V4 = "/client/v4"


@pytest.fixture
def clock() -> HandClock:
    return HandClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def timed_client(service: UseCases, clock: HandClock) -> Iterator[TestClient]:
    timed = build_use_cases(service.database, clock=clock)
    with TestClient(create_app(timed), raise_server_exceptions=False) as test_client:
        yield test_client


def stored_previous_digest(service: UseCases, token_id: str) -> bytes | None:
    with service.database.read() as tx:
        row = tx.connection.execute(
            select(service_tokens.c.previous_secret_digest).where(service_tokens.c.id == token_id)
        ).one()
    return None if row[0] is None else bytes(row[0])


def result(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["result"]
    return body


def refused(response: Any) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == 12130
    message: str = error["message"]
    assert message.startswith("access.api.error.invalid_request: previous_client_secret_expires_at")
    return message


def test_a_revoked_previous_secret_cannot_be_revived(
    timed_client: TestClient, service: UseCases, world: World, clock: HandClock
) -> None:
    base = f"{V4}/accounts/{world.account_a}/access/service_tokens"
    headers = world.bearer(world.write_a)
    created = result(timed_client.post(base, json={"name": "leaked"}, headers=headers), 201)
    url = f"{base}/{created['id']}"
    rotated = result(timed_client.post(f"{url}/rotate", json={}, headers=headers))
    assert rotated["previous_client_secret_expires_at"] == format_timestamp(clock.now)
    assert stored_previous_digest(service, created["id"]) is None

    tomorrow = format_timestamp(clock.now + timedelta(days=1))
    refused(
        timed_client.put(url, json={"previous_client_secret_expires_at": tomorrow}, headers=headers)
    )
    after = result(timed_client.get(url, headers=headers))
    grace_field = "previous_client_secret_expires_at"
    assert after[grace_field] == rotated[grace_field]
    assert after["client_secret_version"] == 2


def test_an_ended_grace_stays_ended_and_its_digest_is_dropped(
    timed_client: TestClient, service: UseCases, world: World, clock: HandClock
) -> None:
    base = f"{V4}/zones/{world.zone_a}/access/service_tokens"
    headers = world.bearer(world.write_zone_a)
    created = result(timed_client.post(base, json={"name": "graced"}, headers=headers), 201)
    url = f"{base}/{created['id']}"
    grace_end = format_timestamp(clock.now + timedelta(hours=1))
    result(
        timed_client.post(
            f"{url}/rotate", json={"previous_client_secret_expires_at": grace_end}, headers=headers
        )
    )
    assert stored_previous_digest(service, created["id"]) is not None
    # While the grace lasts it may be moved, later or earlier.
    longer = format_timestamp(clock.now + timedelta(hours=3))
    moved = result(
        timed_client.put(url, json={"previous_client_secret_expires_at": longer}, headers=headers)
    )
    assert moved["previous_client_secret_expires_at"] == longer
    assert stored_previous_digest(service, created["id"]) is not None

    clock.now += timedelta(hours=4)  # the grace is over
    later = format_timestamp(clock.now + timedelta(hours=1))
    refused(
        timed_client.put(url, json={"previous_client_secret_expires_at": later}, headers=headers)
    )
    # The first mutation that finds it dead forgets it: here a plain rename.
    renamed = result(timed_client.put(url, json={"name": "renamed"}, headers=headers))
    assert renamed["previous_client_secret_expires_at"] == longer
    assert stored_previous_digest(service, created["id"]) is None
    refused(
        timed_client.put(url, json={"previous_client_secret_expires_at": later}, headers=headers)
    )


def test_a_put_ending_the_grace_drops_the_digest_and_a_version_raise_starts_anew(
    timed_client: TestClient, service: UseCases, world: World, clock: HandClock
) -> None:
    base = f"{V4}/accounts/{world.account_a}/access/service_tokens"
    headers = world.bearer(world.write_a)
    created = result(timed_client.post(base, json={"name": "ended"}, headers=headers), 201)
    url = f"{base}/{created['id']}"
    grace_end = format_timestamp(clock.now + timedelta(days=1))
    result(
        timed_client.put(
            url,
            json={"client_secret_version": 2, "previous_client_secret_expires_at": grace_end},
            headers=headers,
        )
    )
    assert stored_previous_digest(service, created["id"]) is not None
    ended = result(
        timed_client.put(url, json={"previous_client_secret_expires_at": None}, headers=headers)
    )
    assert ended["previous_client_secret_expires_at"] is None
    assert stored_previous_digest(service, created["id"]) is None
    revive = {"previous_client_secret_expires_at": grace_end}
    refused(timed_client.put(url, json=revive, headers=headers))
    bumped = result(
        timed_client.put(
            url,
            json={"client_secret_version": 3, "previous_client_secret_expires_at": grace_end},
            headers=headers,
        )
    )
    assert bumped["previous_client_secret_expires_at"] == grace_end
    assert "client_secret" in bumped
    assert stored_previous_digest(service, created["id"]) is not None


def test_create_with_a_previous_expiry_echoes_it_and_a_full_put_is_accepted(
    timed_client: TestClient, service: UseCases, world: World, clock: HandClock
) -> None:
    base = f"{V4}/accounts/{world.account_a}/access/service_tokens"
    headers = world.bearer(world.write_a)
    grace = format_timestamp(clock.now + timedelta(days=2))
    body = {"name": "tf", "client_secret_version": 2, "previous_client_secret_expires_at": grace}
    created = result(timed_client.post(base, json=body, headers=headers), 201)
    assert created["previous_client_secret_expires_at"] == grace
    assert stored_previous_digest(service, created["id"]) is None
    url = f"{base}/{created['id']}"
    again = result(timed_client.put(url, json={**body, "name": "tf2"}, headers=headers))
    assert again["name"] == "tf2"
    assert again["previous_client_secret_expires_at"] == grace
    other = format_timestamp(clock.now + timedelta(days=3))
    refused(
        timed_client.put(url, json={"previous_client_secret_expires_at": other}, headers=headers)
    )
