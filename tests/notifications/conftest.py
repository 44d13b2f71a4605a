"""Notification fixtures: the use cases with private targets allowed (the receivers are on
loopback), a hand-moved clock, an API client, a world of credentials, and a receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.conftest import World, make_world, own_postgres_database
from tests.notifications.receiver import Receiver


@pytest.fixture
def clock() -> HandClock:
    """Starts at the real time: receivers check a signature's timestamp against theirs."""
    return HandClock(datetime.now(UTC))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own on each engine: the outbox and the worker's lease are
    global, so tests that deliver must not see each other's."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notify.db'}"
        return
    with own_postgres_database("st_notify") as url:
        yield url


@pytest.fixture
def notify_service(own_database: str, clock: HandClock) -> Iterator[UseCases]:
    """Use cases telling time by `clock`, webhooks allowed to reach loopback."""
    engine = make_engine(own_database, pool_size=4)
    upgrade(engine)
    service = build_use_cases(Database(engine), clock=clock, allow_private_webhooks=True)
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def notify_world(notify_service: UseCases) -> World:
    return make_world(notify_service)


@pytest.fixture
def api(notify_service: UseCases) -> Iterator[TestClient]:
    with TestClient(
        create_app(notify_service), raise_server_exceptions=False, client=("127.0.0.1", 50000)
    ) as test_client:
        yield test_client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
