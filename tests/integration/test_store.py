"""The store on both engines: migrations, concurrency, and the indexes queries use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Select, text

from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import parse_list_query
from servicetokens.domain.permissions import ContainerKind
from servicetokens.domain.tokens import Verdict, create_token, verify_secret
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import head_revision, upgrade
from servicetokens.store.schema import metadata
from servicetokens.store.search import list_statements
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.conftest import make_world, own_postgres_database

# Engine-specific search indexes (migrations 0005 and 0006) and the expression index of 0013
# are not in the shared metadata.
_ENGINE_SPECIFIC = {
    "ix_service_tokens_search_trgm",
    "ix_service_tokens_seen",  # an expression index (0013)
    "search_rows",
    "service_tokens_search",
    *(f"service_tokens_search_{part}" for part in ("data", "idx", "content", "docsize", "config")),
}


def test_migrations_match_the_schema(service: UseCases) -> None:
    with service.database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": lambda name, *_: name not in _ENGINE_SPECIFIC},
        )
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, metadata) == []


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the session's shared ones are already migrated, where
    `upgrade` returns before it takes any lock)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with own_postgres_database("st_upgrade") as url:
        yield url


def test_concurrent_upgrades_do_not_race(fresh_database_url: str) -> None:
    engines = [make_engine(fresh_database_url, pool_size=1) for _ in range(4)]
    try:
        with engines[0].connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() is None
        barrier = threading.Barrier(len(engines))

        def go(index: int) -> None:
            barrier.wait()
            upgrade(engines[index])

        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(go, range(len(engines))))  # re-raises any upgrade's failure

        with engines[0].connect() as connection:
            # Exactly one head, recorded once: no upgrade ran a migration twice or stamped
            # an intermediate revision after another had reached the head.
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [row[0] for row in versions] == [head_revision()]
            context = MigrationContext.configure(
                connection,
                opts={"include_name": lambda name, *_: name not in _ENGINE_SPECIFIC},
            )
            assert compare_metadata(context, metadata) == []
    finally:
        for engine in engines:
            engine.dispose()


def _principal_and_ref(service: UseCases) -> tuple[object, ContainerRef]:
    world = make_world(service)
    principal = service.authentication.principal_for_api_token(world.write_a)
    return principal, ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")


def test_parallel_rotations_lose_no_update(service: UseCases) -> None:
    principal, ref = _principal_and_ref(service)
    token, _ = service.tokens.create(principal, ref, TokenFields(name="hot"))  # type: ignore[arg-type]
    grace = service.clock() + timedelta(hours=1)

    def rotate(_: int) -> tuple[int, str]:
        rotated, secret = service.tokens.rotate(
            principal,  # type: ignore[arg-type]
            ref,
            token.id,
            previous_expires_at=grace,
        )
        return rotated.client_secret_version, secret

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(rotate, range(50)))
    versions = sorted(v for v, _ in results)
    assert versions == list(range(2, 52))
    final = service.tokens.get(principal, ref, token.id)  # type: ignore[arg-type]
    assert final.client_secret_version == 51
    by_version = dict(results)
    now = service.clock()
    assert verify_secret(final, by_version[51], now=now) is Verdict.VALID
    assert verify_secret(final, by_version[50], now=now) is Verdict.VALID_PREVIOUS
    valid = [v for v, s in results if verify_secret(final, s, now=now).admitted]
    assert sorted(valid) == [50, 51]


def _plan(engine: Engine, statement: Select[Any]) -> str:
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql).all()
    return "\n".join(" ".join(str(col) for col in row) for row in rows)


def test_list_and_name_filter_use_indexes(service: UseCases) -> None:
    engine = service.database.engine
    target = make_world(service).account_a
    # Other containers hold many rows, so a scan would be the wrong plan.
    others = [service.admin.create_account("bulk") for _ in range(3)]
    with service.database.write() as tx:
        for other_id in others:
            other = tx.containers.get(ContainerKind.ACCOUNT, other_id)
            assert other is not None
            now = service.clock()
            tx.tokens.insert_many(
                [
                    create_token(TokenFields(name=f"n{i}"), container=other, now=now)[0]
                    for i in range(2000)
                ]
            )
        container = tx.containers.get(ContainerKind.ACCOUNT, target)
        assert container is not None
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    cases = {
        "ix_service_tokens_list": parse_list_query(name=None, search=None, page="2", per_page="20"),
        "ix_service_tokens_name": parse_list_query(
            name="n5", search=None, page=None, per_page="20"
        ),
    }
    for index, query in cases.items():
        count, page, _ = list_statements(container, query, dialect=engine.dialect.name)
        # The count may use either index (both lead with the container); the page must use
        # the one that also gives its order.
        assert "ix_service_tokens_" in _plan(engine, count)
        assert index in _plan(engine, page)
        for plan in (_plan(engine, count), _plan(engine, page)):
            assert "SCAN service_tokens" not in plan, plan
            assert "Seq Scan" not in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # no sort step on SQLite
            assert "Sort" not in plan, plan
