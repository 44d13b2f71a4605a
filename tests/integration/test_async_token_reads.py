"""`Database.token_async` (`store.async_reads` on PostgreSQL): the same token `tokens.get`
reads, none from another container, concurrent reads batched on one connection, and a
connection the server dropped replaced by the next read."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import ServiceToken, create_token
from servicetokens.store.loop_connections import LoopConnections
from servicetokens.usecases.facade import UseCases


def _tokens(service: UseCases, container: Container, count: int) -> list[ServiceToken]:
    made = [
        create_token(TokenFields(name=f"t{i}"), container=container, now=service.clock())[0]
        for i in range(count)
    ]
    with service.database.write() as tx:
        tx.tokens.insert_many(made)
    return made


def test_reads_what_get_reads_and_only_in_its_container(service: UseCases) -> None:
    a = service.admin.create_account("A")
    b = service.admin.create_account("B")
    mine = Container(ContainerKind.ACCOUNT, a, a)
    theirs = Container(ContainerKind.ACCOUNT, b, b)
    tokens = _tokens(service, mine, 40)
    other = _tokens(service, theirs, 1)[0]
    database = service.database

    async def read_all() -> list[ServiceToken | None]:
        ids = [t.id for t in tokens] + [other.id, "00000000-0000-0000-0000-000000000000"]
        try:  # concurrently: on PostgreSQL most share one statement
            return await asyncio.gather(*(database.token_async(mine, i) for i in ids))
        finally:
            await database.close_async()

    found = asyncio.run(read_all())
    with database.read() as tx:
        expected = [tx.tokens.get(mine, t.id) for t in tokens]
    assert found[:40] == expected
    assert all(token is not None for token in expected)
    assert found[40] is None  # B's token is not found in A, though the id exists
    assert found[41] is None


@pytest.fixture
def pg_service(postgres_database: str) -> Iterator[UseCases]:
    service = build_service(Settings(database_url=postgres_database, pool_size=2))
    try:
        yield service
    finally:
        service.database.engine.dispose()


@pytest.mark.postgres
def test_a_dropped_connection_fails_one_read_and_the_next_reconnects(pg_service: UseCases) -> None:
    a = pg_service.admin.create_account("A")
    mine = Container(ContainerKind.ACCOUNT, a, a)
    token = _tokens(pg_service, mine, 1)[0]
    database = pg_service.database
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def scenario() -> tuple[ServiceToken | None, ServiceToken | None, BaseException | None]:
        try:
            first = await database.token_async(mine, token.id)
            with psycopg.connect(url, autocommit=True) as admin:  # the server ends our session
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND query LIKE '%%service_tokens WHERE id = ANY%%'"
                )
            failure: BaseException | None = None
            try:
                await database.token_async(mine, token.id)
            except Exception as exc:  # the read on the dead connection fails, as an error
                failure = exc
            again = await database.token_async(mine, token.id)
            return first, again, failure
        finally:
            await database.close_async()

    first, again, failure = asyncio.run(scenario())
    assert first is not None
    assert again is not None
    assert first.id == again.id == token.id
    assert isinstance(failure, OperationalError)  # a database error, never a 500's crash


@pytest.mark.postgres
def test_loops_that_closed_leave_no_session_open(pg_service: UseCases) -> None:
    """A process that runs loop after loop (a test client starts one per request) keeps at
    most one probe and one read connection open: a closed loop's are closed when the next
    loop first asks. Without that, each loop's sessions waited for the cyclic collector,
    and a long property-based run exhausted the server's `max_connections`."""
    a = pg_service.admin.create_account("A")
    mine = Container(ContainerKind.ACCOUNT, a, a)
    token = _tokens(pg_service, mine, 1)[0]
    database = pg_service.database
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def sessions() -> int:
        with psycopg.connect(url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert row is not None
        return int(row[0])

    async def one_request() -> None:  # as a request would: the probe, then the read
        await database.probe_versions_async(ContainerKind.ACCOUNT, a)
        assert await database.token_async(mine, token.id) is not None

    database.engine.dispose()
    before = sessions()
    gc.disable()  # the collector would close some of them by chance; the reaping must
    try:
        for _ in range(12):
            asyncio.run(one_request())  # a new loop each time, never `close_async`
        during = sessions()
    finally:
        gc.enable()
    assert during - before <= 2  # the last loop's probe and read connections


@pytest.mark.postgres
def test_a_connection_lent_during_shutdown_is_closed_when_given_back(
    postgres_database: str,
) -> None:
    """`close()` (the app's shutdown) closes the idle connections; one lent to a request at
    that moment is closed when the request gives it back, not kept for a loop that has
    stopped serving."""
    connections = LoopConnections(make_url(postgres_database), size=2)

    async def scenario() -> tuple[bool, bool]:
        async with connections.connection() as lent:
            async with connections.connection() as idle_one:
                pass  # given back: idle
            await lent.execute("SELECT 1")
            await connections.close()  # shutdown while `lent` is in use
            assert idle_one.closed
            assert not lent.closed
        return idle_one is lent, lent.closed

    same, lent_closed = asyncio.run(scenario())
    assert not same
    assert lent_closed
