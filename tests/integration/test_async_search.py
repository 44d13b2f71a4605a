"""`Database.search_page_async` (`store.async_search`, PostgreSQL): searches the trigram
index answers from a few entries, read from the event loop, give exactly the page, count and
end `TokenStore.read_page` gives; which searches may go there (`loop_search_term`); and a
search connection the server dropped is replaced by the next search."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import Direction, ListQuery, Order
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import ServiceToken, create_token
from servicetokens.store.search import SearchPlan
from servicetokens.store.token_rows import StoredPage
from servicetokens.store.trigrams import TrigramSample
from servicetokens.usecases.facade import UseCases
from tests.conftest import own_postgres_database

pytestmark = pytest.mark.postgres

_NAMES = [f"svc-{i // 3:06d}" for i in range(60)] + ["Straße-Runner", "100%_lit", "deploy[bot]"]


@pytest.fixture
def pg_service() -> Iterator[UseCases]:
    with own_postgres_database() as url:
        service = build_service(Settings(database_url=url, pool_size=2))
        try:
            yield service
        finally:
            service.database.engine.dispose()


def _seed(service: UseCases, account: str, names: list[str]) -> list[ServiceToken]:
    container = Container(ContainerKind.ACCOUNT, account, account)
    made = [
        create_token(TokenFields(name=n), container=container, now=service.clock())[0]
        for n in names
    ]
    with service.database.write() as tx:
        tx.tokens.insert_many(made)
    return made


def _ids(page: StoredPage) -> tuple[list[str], int, object]:
    return [t.id for t in page.tokens], page.total, page.end


def test_reads_the_page_count_and_end_the_lane_reads(pg_service: UseCases) -> None:
    a = pg_service.admin.create_account("A")
    b = pg_service.admin.create_account("B")
    mine = Container(ContainerKind.ACCOUNT, a, a)
    tokens = _seed(pg_service, a, _NAMES)
    _seed(pg_service, b, _NAMES[:30])  # another account's matches are never found
    database = pg_service.database
    terms = ["svc-000004", "SVC-00001", "straße", "0%_l", "[bot]", tokens[5].client_id[3:12]]
    queries = [
        ListQuery(search=term, page=page, per_page=per_page, order=order, direction=direction)
        for term in terms
        for page, per_page in ((1, 2), (2, 2), (1, 50), (3, 1), (9, 20))
        for order, direction in ((Order.CREATED_AT, Direction.ASC), (Order.NAME, Direction.DESC))
    ]
    queries.append(ListQuery(search="svc-00000", enabled=True, per_page=5))

    with database.read() as tx:
        expected = [
            tx.tokens.read_page(mine, q, plan=SearchPlan.INDEX, token_count=len(tokens))
            for q in queries
        ]
        seeks = [
            tx.tokens.read_page(
                mine, replace(q, page=2), plan=SearchPlan.INDEX, after=e.end, total=e.total
            )
            for q, e in zip(queries, expected, strict=True)
            if e.end is not None
        ]
        sample = TrigramSample()
        words = [
            sample.narrowest(tx.connection, (q.search or "").casefold(), total=len(tokens))[0]
            for q in queries
        ]

    async def read_all() -> tuple[list[StoredPage], list[StoredPage]]:
        try:
            pages = await asyncio.gather(
                *(
                    database.search_page_async(mine, q, index_term=w, after=None, total=None)
                    for q, w in zip(queries, words, strict=True)
                )
            )
            after = [
                await database.search_page_async(
                    mine, replace(q, page=2), index_term=w, after=e.end, total=e.total
                )
                for q, w, e in zip(queries, words, expected, strict=True)
                if e.end is not None
            ]
            return list(pages), after
        finally:
            await database.close_async()

    pages, after = asyncio.run(read_all())
    assert [_ids(p) for p in pages] == [_ids(e) for e in expected]
    assert [_ids(p) for p in after] == [_ids(e) for e in seeks]
    assert any(p.total > 1 for p in pages)  # the cases do find something


def test_only_rare_terms_in_a_large_enough_container_go_to_the_loop(pg_service: UseCases) -> None:
    a = pg_service.admin.create_account("A")
    b = pg_service.admin.create_account("B")
    _seed(pg_service, a, [f"svc-{i:06d}" for i in range(400)])
    _seed(pg_service, b, ["other"] * 5)
    database = pg_service.database
    # Nothing read yet: the lane reads the plan's statistics first.
    assert database.loop_search_term("svc-000123", token_count=400) is None
    with database.read() as tx:
        assert tx.tokens.search_plan("svc-000123", token_count=400) is SearchPlan.INDEX
    assert database.loop_search_term("svc-000123", token_count=400) == "000123"
    assert database.loop_search_term("SVC", token_count=400) is None  # in every key
    assert database.loop_search_term("svc-0", token_count=400) is None  # its word is too
    assert database.loop_search_term(".access", token_count=400) is None  # the plain list
    assert database.loop_search_term("12", token_count=400) is None  # no trigram
    assert database.loop_search_term("svc-000123", token_count=5) is None  # B: a walk


def test_a_dropped_search_connection_fails_one_search_and_the_next_reconnects(
    pg_service: UseCases,
) -> None:
    a = pg_service.admin.create_account("A")
    mine = Container(ContainerKind.ACCOUNT, a, a)
    _seed(pg_service, a, ["alpha-1", "beta-2"])
    database = pg_service.database
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    query = ListQuery(search="alpha-1")

    async def scenario() -> tuple[StoredPage, StoredPage, BaseException | None]:
        try:
            first = await database.search_page_async(
                mine, query, index_term="alpha", after=None, total=None
            )
            with psycopg.connect(url, autocommit=True) as admin:  # the server ends our session
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND query LIKE '%%search_key%%'"
                )
            failure: BaseException | None = None
            try:
                await database.search_page_async(
                    mine, query, index_term="alpha", after=None, total=None
                )
            except Exception as exc:  # the search on the dead connection fails, as an error
                failure = exc
            again = await database.search_page_async(
                mine, query, index_term="alpha", after=None, total=None
            )
            return first, again, failure
        finally:
            await database.close_async()

    first, again, failure = asyncio.run(scenario())
    assert [t.name for t in first.tokens] == [t.name for t in again.tokens] == ["alpha-1"]
    assert isinstance(failure, OperationalError)  # a database error, never a 500's crash


def test_a_search_on_the_loop_is_bounded_by_the_statement_timeout_of_the_pool(
    pg_service: UseCases,
) -> None:
    # Connected directly, every pooled connection runs under a statement timeout (10 s): a
    # search read on the event loop must be bounded as the same search in the lane is, not
    # hold one of the loop's few search connections for as long as the server takes.
    a = pg_service.admin.create_account("A")
    mine = Container(ContainerKind.ACCOUNT, a, a)
    _seed(pg_service, a, ["alpha-1"])
    database = pg_service.database
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with database.single_read() as tx:
        assert tx.connection.exec_driver_sql("SHOW statement_timeout").scalar_one() == "10s"

    async def scenario() -> BaseException:
        try:
            # Another session holds the table, so the search waits for as long as it may.
            with psycopg.connect(url) as holder:
                holder.execute("LOCK TABLE service_tokens IN ACCESS EXCLUSIVE MODE")
                search = database.search_page_async(
                    mine, ListQuery(search="alpha-1"), index_term="alpha", after=None, total=None
                )
                with pytest.raises(Exception) as failed:  # noqa: PT011 (either, told apart below)
                    await asyncio.wait_for(search, timeout=20)
                holder.rollback()
            return failed.value
        finally:
            await database.close_async()

    failure = asyncio.run(scenario())
    assert isinstance(failure, OperationalError), repr(failure)  # 503, not an endless wait
