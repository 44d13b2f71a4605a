"""PostgreSQL: the trigram index is asked for a search term's rarest word, not for the
trigrams a term shares with most names (`store/trigrams.py`); the whole term still decides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import parse_list_query
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import create_token
from servicetokens.store.search import SearchPlan, choose_plan, list_statements
from servicetokens.store.trigrams import TrigramSample, words_of
from servicetokens.usecases.facade import UseCases
from tests.conftest import make_world, own_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_service() -> Iterator[UseCases]:
    """A database of its own: the sample must see this test's keys, not other tests'."""
    with own_postgres_database("st_words") as url:
        service = build_service(Settings(database_url=url, pool_size=2))
        try:
            yield service
        finally:
            service.database.engine.dispose()


def test_words_are_runs_of_letters_or_digits() -> None:
    assert words_of("svc-004200\n3f9a.access") == ["svc", "004200", "3f9a", "access"]
    assert words_of("ab-cd") == []


def test_the_index_is_asked_for_the_rarest_word(postgres_service: UseCases) -> None:
    service = postgres_service
    account = make_world(service).account_a
    container = Container(ContainerKind.ACCOUNT, account, account)
    now = service.clock()
    tokens = [
        create_token(
            TokenFields(name=f"shared-prefix-{i:06d}"),
            container=container,
            now=now + timedelta(microseconds=i),
        )[0]
        for i in range(3000)
    ]
    with service.database.write() as tx:
        tx.tokens.insert_many(tokens)
    with service.database.read() as tx:
        connection, dialect = tx.connection, tx.dialect
        total = tx.versions.container_state(container)[1]
        sample = TrigramSample(size=4000)
        word, share = sample.narrowest(connection, "shared-prefix-001234", total=total)
        assert word == "001234"
        assert share < 0.05
        common_word, common = sample.narrowest(connection, "shared-prefix", total=total)
        assert common > 0.5, common_word
        plan = choose_plan(
            connection, dialect, "prefix", token_count=total, total=total, trigrams=sample
        )
        assert plan is SearchPlan.CONTAINER  # a word in most keys: the walk, not the index
        query = parse_list_query(name=None, search="Shared-Prefix-001234", page=None, per_page="5")
        page = list_statements(
            container, query, dialect="postgresql", plan=SearchPlan.INDEX, index_term=word
        ).page
        sql = str(page.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        assert "LIKE '%%001234%%'" in sql or "LIKE '%001234%'" in sql, sql
        found = tx.tokens.read_page(container, query, plan=SearchPlan.INDEX)
    assert [t.name for t in found.tokens] == ["shared-prefix-001234"]
    assert found.total == 1
