"""Every order of the token list is read through an index, and a page after another is a
seek from where that one ended (no OFFSET, no sort), on both engines."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Select, select

from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import Direction, ListQuery, Order, parse_list_query
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import create_token
from servicetokens.store.schema import service_tokens
from servicetokens.store.search import SearchPlan, list_statements, seek_key
from servicetokens.store.token_rows import token_from_row, token_seek_key
from servicetokens.usecases.facade import UseCases
from tests.conftest import make_world

_INDEX = {
    Order.CREATED_AT: "ix_service_tokens_list",
    Order.EXPIRES_AT: "ix_service_tokens_expires",
    Order.LAST_SEEN_AT: "ix_service_tokens_seen",
    Order.NAME: "ix_service_tokens_name",
}


def _plan(engine: Engine, statement: Select[Any]) -> str:
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql).all()
    return "\n".join(" ".join(str(col) for col in row) for row in rows)


def _seed(service: UseCases) -> Container:
    target = make_world(service).account_a
    others = [service.admin.create_account("bulk") for _ in range(3)]
    now = service.clock()
    with service.database.write() as tx:
        for owner in [target, *others]:
            container = Container(ContainerKind.ACCOUNT, owner, owner)
            tx.tokens.insert_many(
                [
                    create_token(
                        TokenFields(name=f"n{i % 50}", duration=f"{1 + i % 400}h"),
                        container=container,
                        now=now + timedelta(microseconds=i),
                    )[0]
                    for i in range(1500)
                ]
            )
        found = tx.containers.get(ContainerKind.ACCOUNT, target)
    assert found is not None
    with service.database.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return found


@pytest.mark.parametrize("direction", list(Direction))
def test_each_order_seeks_through_its_index(service: UseCases, direction: Direction) -> None:
    engine = service.database.engine
    container = _seed(service)
    for order, index in _INDEX.items():
        query = parse_list_query(
            name=None,
            search=None,
            page="7",
            per_page="100",
            order=order.value,
            direction=direction.value,
        )
        with service.database.read() as tx:
            first = tx.tokens.read_page(container, query.at_page(6))
        assert first.end is not None
        statements = list_statements(container, query, dialect=engine.dialect.name, after=first.end)
        plan = _plan(engine, statements.page)
        assert index in plan, (order, plan)
        for wrong in ("SCAN service_tokens", "Seq Scan", "TEMP B-TREE", "Sort"):
            assert wrong not in plan, (order, plan)
        if engine.dialect.name == "postgresql":
            assert "Index Cond" in plan
            assert "ROW(" in plan or "ROW (" in plan, plan  # the seek is in the index condition
        else:
            assert ">" in plan or "<" in plan, plan  # a range of the index, not all of it
        literal = statements.page.compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        assert re.search(r"OFFSET [1-9]", str(literal)) is None, literal  # nothing skipped
        # The seek returns exactly what OFFSET does when nothing changed in between.
        with service.database.read() as tx:
            by_offset = tx.tokens.read_page(container, query)
            by_seek = tx.tokens.read_page(container, query, after=first.end)
        assert [t.id for t in by_seek.tokens] == [t.id for t in by_offset.tokens]
        assert len(by_seek.tokens) == 100
        assert by_seek.total == by_offset.total == 1500


@pytest.mark.parametrize("direction", list(Direction))
def test_a_jump_past_half_way_reads_backwards_from_the_end(
    service: UseCases, direction: Direction
) -> None:
    engine = service.database.engine
    container = _seed(service)
    for order, index in _INDEX.items():
        for page, per_page in (("15", "100"), ("14", "100"), ("9", "170"), ("2", "1000")):
            query = parse_list_query(
                name=None,
                search=None,
                page=page,
                per_page=per_page,
                order=order.value,
                direction=direction.value,
            )
            forwards = list_statements(container, query, dialect=engine.dialect.name).page
            with service.database.read() as tx:
                by_offset = [row.id for row in tx.connection.execute(forwards)]
                found = tx.tokens.read_page(container, query)
            assert [t.id for t in found.tokens] == by_offset, (order, page, per_page)
            assert found.total == 1500
        last = parse_list_query(
            name=None,
            search=None,
            page="70",
            per_page="20",
            order=order.value,
            direction=direction.value,
        )
        backwards = list_statements(container, last, dialect=engine.dialect.name, from_end=100).page
        plan = _plan(engine, backwards)
        assert index in plan, plan
        for wrong in ("SCAN service_tokens", "Seq Scan", "TEMP B-TREE", "Sort"):
            assert wrong not in plan, (order, plan)


def test_lifecycle_filters_narrow_through_the_expiry_index(service: UseCases) -> None:
    engine = service.database.engine
    container = _seed(service)
    cutoff = (service.clock() + timedelta(hours=2, minutes=30)).isoformat()
    query = parse_list_query(
        name=None, search=None, page=None, per_page="20", expires_before=cutoff, order="expires_at"
    )
    statements = list_statements(container, query, dialect=engine.dialect.name)
    for statement in (statements.page, statements.total):
        plan = _plan(engine, statement)
        assert "ix_service_tokens_expires" in plan, plan
        assert "Seq Scan" not in plan, plan
        assert "SCAN service_tokens" not in plan, plan
    with service.database.read() as tx:
        found = tx.tokens.read_page(container, query)
    # Durations 1h..400h cycle by index: 1h and 2h (i % 400 in {0, 1}: 8 of 1,500) expire
    # within two and a half hours of the seeding.
    assert found.total == 8
    assert sorted(t.duration for t in found.tokens) == ["1h"] * 4 + ["2h"] * 4


@pytest.mark.parametrize("plan", list(SearchPlan))
def test_a_search_walk_counts_every_match_on_every_page(
    service: UseCases, plan: SearchPlan
) -> None:
    container = _seed(service)
    query = parse_list_query(name=None, search="N12", page="1", per_page="7")
    with service.database.read() as tx:
        every = tx.tokens.read_page(container, ListQuery(search="n12", per_page=1000), plan=plan)
        pages = [tx.tokens.read_page(container, query, plan=plan)]
        while pages[-1].end is not None:
            following = query.at_page(len(pages) + 1)
            pages.append(tx.tokens.read_page(container, following, plan=plan, after=pages[-1].end))
    # n12: one name of 50, 30 tokens in this container (5 pages of 7, the last of 2).
    assert every.total == 30
    assert [t.id for page in pages for t in page.tokens] == [t.id for t in every.tokens]
    assert {page.total for page in pages} == {every.total}


@pytest.mark.parametrize("order", list(Order))
def test_a_tokens_sort_key_is_the_one_its_row_gives(service: UseCases, order: Order) -> None:
    """`token_seek_key` (pages cut from a list's first matches) agrees with `seek_key` (the
    end of a page read), for tokens seen and never seen."""
    container = make_world(service).account_a
    now = service.clock()
    made = [
        create_token(
            TokenFields(name=f"k-{i % 3}"),
            container=_container(service, container),
            now=now + timedelta(seconds=i),
        )[0]
        for i in range(6)
    ]
    with service.database.write() as tx:
        tx.tokens.insert_many(made)
        tx.tokens.touch_last_seen([(made[1].id, now + timedelta(hours=1))])
    statement = (
        select(service_tokens)
        .where(service_tokens.c.container_id == container)
        .order_by(service_tokens.c.id)
    )
    with service.database.read() as tx:
        rows = tx.connection.execute(statement).all()
    assert len(rows) == 6
    for row in rows:
        assert token_seek_key(token_from_row(row), order) == seek_key(row, order)


def _container(service: UseCases, account_id: str) -> Container:
    with service.database.read() as tx:
        found = tx.containers.get(ContainerKind.ACCOUNT, account_id)
    assert found is not None
    return found
