"""`search` gives exactly the case-insensitive substring matches, whatever index serves it."""

from __future__ import annotations

import secrets
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Select, func, select

from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import ListQuery, parse_list_query
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import create_token
from servicetokens.store.database import Transaction
from servicetokens.store.schema import service_tokens
from servicetokens.store.search import SearchPlan, list_statements
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.conftest import make_world

NAMES = [
    "Straße-Runner",
    "deploy*bot",
    "deploy?bot",
    "deploy[bot]",
    "100%_literal",
    "ÉCOLE nightly",
    "backup",
    "Backup-2",
    "svc-000042",
    "svc-0000420",
]


def _search(service: UseCases, principal: object, ref: ContainerRef, term: str) -> list[str]:
    with service.database.read() as tx:
        container = tx.containers.get(ref.kind, ref.id)
        assert container is not None
        tokens, total = tx.tokens.list(
            container, parse_list_query(name=None, search=term, page=None, per_page="1000")
        )
    assert total == len(tokens)
    return [t.name for t in tokens]


def _expected(term: str, tokens: list[tuple[str, str]]) -> list[str]:
    folded = term.casefold()
    return [name for name, client_id in tokens if folded in name.casefold() or folded in client_id]


def test_search_matches_substrings_exactly(service: UseCases) -> None:
    world = make_world(service)
    principal = service.authentication.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    created = [service.tokens.create(principal, ref, TokenFields(name=n))[0] for n in NAMES]
    pairs = [(t.name, t.client_id) for t in created]
    terms = [
        "ss",
        "STRASSE",
        "*bot",
        "?",
        "[bot]",
        "t]",
        "%_",
        "école",
        "backup",
        "svc-000042",
        "0420",
        created[3].client_id[5:20],
        "zzz-no-match",
        "e",
    ]
    for term in terms:
        assert _search(service, principal, ref, term) == _expected(term, pairs), term


def test_search_follows_renames_and_deletes(service: UseCases) -> None:
    world = make_world(service)
    principal = service.authentication.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    token, _ = service.tokens.create(principal, ref, TokenFields(name="original-name"))
    assert _search(service, principal, ref, "original") == ["original-name"]
    service.tokens.update(principal, ref, token.id, TokenFields(name="renamed-thing"))
    assert _search(service, principal, ref, "original") == []
    assert _search(service, principal, ref, "renamed") == ["renamed-thing"]
    service.tokens.rotate(principal, ref, token.id, previous_expires_at=None)
    assert _search(service, principal, ref, "renamed") == ["renamed-thing"]
    service.tokens.delete(principal, ref, token.id)
    assert _search(service, principal, ref, "renamed") == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.text(alphabet=string.ascii_letters + "*?[]%_-ßé", min_size=1, max_size=12),
        min_size=1,
        max_size=6,
    ),
    term=st.text(alphabet=string.ascii_letters + "*?[]%_-ßé", min_size=1, max_size=5),
)
def test_search_agrees_with_python(service: UseCases, names: list[str], term: str) -> None:
    world = make_world(service)
    principal = service.authentication.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    created = [service.tokens.create(principal, ref, TokenFields(name=n))[0] for n in names]
    pairs = [(t.name, t.client_id) for t in created]
    assert _search(service, principal, ref, term) == _expected(term, pairs)


# -- how a search reads: two plans, one answer ----------------------------------------------

_HEX_AND_NAMES = string.ascii_lowercase[:8] + string.digits + ".-_%*[" + "Éß"


def _page_by_plan(
    service: UseCases, container: Container, query: ListQuery, plan: SearchPlan
) -> tuple[list[str], int]:
    with service.database.read() as tx:
        tokens, total = tx.tokens.list(container, query, plan=plan)
    return [t.id for t in tokens], total


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(st.text(alphabet=_HEX_AND_NAMES, min_size=1, max_size=10), max_size=8),
    term=st.text(alphabet=_HEX_AND_NAMES, min_size=1, max_size=4),
    per_page=st.integers(min_value=1, max_value=4),
    page=st.integers(min_value=1, max_value=4),
    by_client_id=st.booleans(),
)
def test_both_plans_give_python_substring_semantics(
    service: UseCases, names: list[str], term: str, per_page: int, page: int, by_client_id: bool
) -> None:
    world = make_world(service)
    principal = service.authentication.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    created = [service.tokens.create(principal, ref, TokenFields(name=n))[0] for n in names]
    if by_client_id and created:  # a term cut from a client id (hex and `.access`)
        client_id = created[0].client_id
        term = client_id[len(term) : len(term) + 4]
    folded = term.casefold()
    matching = sorted(
        (t for t in created if folded in t.name.casefold() or folded in t.client_id),
        key=lambda t: (t.created_at, t.id),
    )
    want = [t.id for t in matching][(page - 1) * per_page : page * per_page]
    query = parse_list_query(name=None, search=term, page=str(page), per_page=str(per_page))
    container = created[0].container if created else _container(service, world.account_a)
    for plan in SearchPlan:
        assert _page_by_plan(service, container, query, plan) == (want, len(matching)), plan


def _container(service: UseCases, account_id: str) -> Container:
    with service.database.read() as tx:
        container = tx.containers.get(ContainerKind.ACCOUNT, account_id)
    assert container is not None
    return container


def _bulk(service: UseCases, container: Container, names: list[str]) -> None:
    now = service.clock()
    with service.database.write() as tx:
        tx.tokens.insert_many(
            [create_token(TokenFields(name=n), container=container, now=now)[0] for n in names]
        )


def test_the_index_is_read_only_when_it_is_cheaper_than_the_container(service: UseCases) -> None:
    """SQLite: the FTS5 index serves a term only in a container of >= 1/16 of all tokens, and
    only if fewer than token_count/16 tokens in the whole table match it; PostgreSQL: only
    for a container of >= 1/4 of all tokens. Below three characters, never."""
    world = make_world(service)
    container = _container(service, world.account_a)
    rare = f"zq{secrets.token_hex(5)}"
    _bulk(service, container, [f"{rare}-{i}" for i in range(3)] + ["x"] * 40)
    with service.database.engine.connect() as connection, connection.begin():
        tx = Transaction(connection)  # no cached total: each choice reads the current one
        total = connection.exec_driver_sql(
            "SELECT sum(token_count) FROM container_versions"
        ).scalar_one()
        assert tx.tokens.search_plan("ac", token_count=total) is SearchPlan.CONTAINER  # no trigram
        if connection.dialect.name == "sqlite":
            # Exactly three tokens anywhere hold `rare`: the index needs a budget above three.
            assert (
                tx.tokens.search_plan(rare, token_count=16 * 3, total=16 * 3)
                is SearchPlan.CONTAINER
            )
            assert (
                tx.tokens.search_plan(rare.upper(), token_count=16 * 4, total=64)
                is SearchPlan.INDEX
            )
            # ... and a container of at least 1/16 of the table.
            assert tx.tokens.search_plan(rare, token_count=64, total=64 * 16) is SearchPlan.INDEX
            assert (
                tx.tokens.search_plan(rare, token_count=64, total=64 * 16 + 1)
                is SearchPlan.CONTAINER
            )
            # Every client id ends in `.access`: the index would read more than the walk.
            for size in (15, 16 * 40, total):
                assert tx.tokens.search_plan("access", token_count=size) is SearchPlan.CONTAINER
            assert tx.tokens.search_plan(rare, token_count=total) is SearchPlan.INDEX  # total read
        else:
            for term in (rare, "access"):
                assert tx.tokens.search_plan(term, token_count=total // 4 + 1) is SearchPlan.INDEX
                assert tx.tokens.search_plan(term, token_count=total // 8) is SearchPlan.CONTAINER


def _explain(engine: Engine, statement: Select[Any], settings: tuple[str, ...] = ()) -> str:
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        for setting in settings:
            conn.exec_driver_sql(setting)
        rows = conn.exec_driver_sql(prefix + sql).all()
        conn.rollback()
    return "\n".join(" ".join(str(col) for col in row) for row in rows)


def test_the_container_plan_never_touches_the_trigram_index(service: UseCases) -> None:
    engine = service.database.engine
    world = make_world(service)
    container = _container(service, world.account_a)
    # Another account holds most rows, so reading the whole table would be the wrong plan.
    _bulk(service, _container(service, world.account_b), [f"other-{i}" for i in range(3000)])
    _bulk(service, container, [f"own-{i}" for i in range(50)])
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    with service.database.read() as tx:
        first = parse_list_query(name=None, search=None, page=None, per_page="1")
        client_id = tx.tokens.list(container, first)[0][0].client_id
    term = client_id[3:17]
    query = parse_list_query(name=None, search=term, page=None, per_page="20")
    walk = list_statements(container, query, dialect=engine.dialect.name, plan=SearchPlan.CONTAINER)
    if engine.dialect.name == "sqlite":
        for statement in (walk.total, walk.page):
            plan = _explain(engine, statement)
            assert "service_tokens_search" not in plan, plan
            assert "USING INDEX ix_service_tokens_" in plan, plan  # a container index leads
        index = list_statements(container, query, dialect="sqlite", plan=SearchPlan.INDEX)
        assert "service_tokens_search VIRTUAL TABLE" in _explain(engine, index.page)
    else:
        # Even with every other way of reading made to look dearer, the walk's expression
        # `search_key || ''` cannot use the trigram index; the plain LIKE can and does.
        discouraged = ("SET LOCAL enable_seqscan = off", "SET LOCAL enable_indexscan = off")
        for statement in (walk.total, walk.page):
            for settings_ in ((), discouraged):
                plan = _explain(engine, statement, settings_)
                assert "ix_service_tokens_search_trgm" not in plan, plan
            # A container index leads (list, name, expires or seen: all begin with the
            # container).
            plan = _explain(engine, statement)
            leading = ("list", "name", "expires", "seen")
            assert any(f"ix_service_tokens_{index}" in plan for index in leading), plan
        # The control: the same term in a plain LIKE over the table does use the index.
        plain = select(func.count()).where(service_tokens.c.search_key.like(f"%{term}%"))
        assert "ix_service_tokens_search_trgm" in _explain(engine, plain, discouraged)
