"""Search cannot stall a worker: scans run off the event loop, in the scan lane.

Every SQL statement the list route runs is recorded with the thread it ran on and whether an
asyncio event loop was running in that thread; a search the page memo has not seen must not
run a statement on the loop, while a memoised page stays on the loop's fast path.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind
from servicetokens.domain.tokens import create_token
from servicetokens.usecases.facade import UseCases
from tests.api.test_service_tokens import auth, base, ok
from tests.conftest import World, make_world, own_postgres_database


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def statements(service: UseCases) -> Iterator[list[tuple[str, str, bool]]]:
    """(SQL, thread name, whether an event loop runs in that thread) of every statement."""
    seen: list[tuple[str, str, bool]] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append((sql, threading.current_thread().name, _on_a_loop()))

    engine = service.database.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _searches(seen: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    # (Not the trigram sample plan choices read, in a thread of its own: `TABLESAMPLE`.)
    return [
        s
        for s in seen
        if "search_key" in s[0] and "service_tokens" in s[0] and "TABLESAMPLE" not in s[0]
    ]


@pytest.mark.parametrize("term", ["access", "ac", "n-7"])
def test_a_search_the_memo_has_not_seen_runs_off_the_event_loop(
    client: TestClient, world: World, statements: list[tuple[str, str, bool]], term: str
) -> None:
    url, headers = base(world, "account"), auth(world, "account")
    for i in range(12):
        ok(client.post(url, json={"name": f"n-{i}"}, headers=headers), 201)
    statements.clear()
    found = ok(client.get(url, params={"search": term}, headers=headers))
    assert len(found) == (1 if term == "n-7" else 12)
    searches = _searches(statements)
    assert searches, statements  # the search did reach the database
    for sql, thread, on_loop in searches:
        assert not on_loop, (thread, sql)
        assert thread.startswith("scan-lane"), (thread, sql)


def _lane_only(seen: list[tuple[str, str, bool]], marker: str) -> None:
    reads = [s for s in seen if marker in s[0]]
    assert reads, seen
    for sql, thread, on_loop in reads:
        assert not on_loop, (thread, sql)
        assert thread.startswith("scan-lane"), (thread, sql)


def test_a_name_filter_runs_in_the_scan_lane(
    client: TestClient, world: World, statements: list[tuple[str, str, bool]]
) -> None:
    url, headers = base(world, "account"), auth(world, "account")
    for i in range(3):
        ok(client.post(url, json={"name": f"n-{i}"}, headers=headers), 201)
    statements.clear()
    assert [t["name"] for t in ok(client.get(url, params={"name": "n-1"}, headers=headers))] == [
        "n-1"
    ]
    _lane_only(statements, "service_tokens.name = ")


def test_a_deep_page_runs_in_the_scan_lane(
    service: UseCases, client: TestClient, world: World, statements: list[tuple[str, str, bool]]
) -> None:
    with service.database.write() as tx:
        container = tx.containers.get(ContainerKind.ACCOUNT, world.account_a)
        assert container is not None
        now = service.clock()
        tx.tokens.insert_many(
            [
                create_token(TokenFields(name=f"d{i}"), container=container, now=now)[0]
                for i in range(5_100)
            ]
        )
    url, headers = base(world, "account"), auth(world, "account")
    ok(client.get(url, params={"per_page": 20}, headers=headers))  # page 1: cheap, anywhere
    statements.clear()
    # Rows 5,010 to 5,100: past the offset an index walk may take on the loop.
    deep = ok(client.get(url, params={"page": 11, "per_page": 501}, headers=headers))
    assert len(deep) == 5_100 - 10 * 501
    _lane_only(statements, "FROM service_tokens")


def test_a_memoised_page_is_served_without_a_statement(
    client: TestClient, world: World, statements: list[tuple[str, str, bool]]
) -> None:
    url, headers = base(world, "account"), auth(world, "account")
    ok(client.post(url, json={"name": "x"}, headers=headers), 201)
    for params in ({"per_page": 20}, {"search": "x", "per_page": 20}):
        first = client.get(url, params=params, headers=headers)
        statements.clear()
        again = client.get(url, params=params, headers=headers)
        assert again.content == first.content
        assert statements == [] or all("container_versions" in s[0] for s in statements), statements


@pytest.mark.postgres
def test_a_rare_term_on_postgresql_is_read_by_the_loop_without_the_pool() -> None:
    """A search the trigram index answers from a few entries is one statement the event loop
    sends (`store.async_search`): no pooled statement, no scan-lane thread. A term in every
    key still walks in the lane."""
    with own_postgres_database() as url:
        service = build_service(Settings(database_url=url, pool_size=4))
        try:
            world = make_world(service)
            with service.database.write() as tx:
                container = tx.containers.get(ContainerKind.ACCOUNT, world.account_a)
                assert container is not None
                now = service.clock()
                tx.tokens.insert_many(
                    [
                        create_token(
                            TokenFields(name=f"svc-{i:06d}"), container=container, now=now
                        )[0]
                        for i in range(300)
                    ]
                )
            seen: list[tuple[str, str, bool]] = []

            def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
                seen.append((sql, threading.current_thread().name, _on_a_loop()))

            event.listen(service.database.engine, "before_cursor_execute", record)
            with TestClient(create_app(service), client=("127.0.0.1", 50000)) as client:
                url_a, headers = base(world, "account"), auth(world, "account")
                # The first search reads the plan's statistics, in the lane.
                assert [
                    t["name"]
                    for t in ok(client.get(url_a, params={"search": "svc-000017"}, headers=headers))
                ] == ["svc-000017"]
                seen.clear()
                found = ok(
                    client.get(
                        url_a, params={"search": "SVC-000123", "per_page": 7}, headers=headers
                    )
                )
                assert [t["name"] for t in found] == ["svc-000123"]
                assert _searches(seen) == [], seen
                common = ok(
                    client.get(url_a, params={"search": "svc-0001", "per_page": 5}, headers=headers)
                )
                assert len(common) == 5
                _lane_only(seen, "search_key")
        finally:
            service.database.engine.dispose()
