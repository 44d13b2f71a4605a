"""The count of a `name` or `search` filter is kept per keys version (`VersionStore.bump_keys`):
a token seen, rotated or refreshed moves the container's version but not what such a filter
matches, so the count is not walked again; a create, delete or rename is, and the count
follows it exactly. On both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import ContainerKind
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.conftest import make_world


@pytest.fixture
def counts(service: UseCases) -> Iterator[list[str]]:
    """The count statements run (`SELECT count(*)` over service tokens)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if "count(*)" in sql and "FROM service_tokens" in sql:
            seen.append(sql)

    event.listen(service.database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(service.database.engine, "before_cursor_execute", record)


def test_a_search_count_survives_what_does_not_change_a_key(
    service: UseCases, counts: list[str]
) -> None:
    world = make_world(service)
    writer = service.authentication.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    made = [service.tokens.create(writer, ref, TokenFields(name=f"job-{i}"))[0] for i in range(5)]
    service.tokens.create(writer, ref, TokenFields(name="other"))

    def total(query: ListQuery) -> int:
        return service.tokens.read_page(writer, ref, query).info.total_count

    search, name = ListQuery(search="JOB-", per_page=2), ListQuery(name="job-3", per_page=5)
    assert (total(search), total(name)) == (5, 1)
    assert len(counts) == 1  # the name filter's page was not full: it gave its own count
    # Seen by a gate, rotated, refreshed, disabled: each moves the version, no key.
    with service.database.write() as tx:
        tx.tokens.touch_last_seen([(made[0].id, service.clock() + timedelta(seconds=1))])
    service.tokens.rotate(writer, ref, made[1].id, previous_expires_at=None)
    service.tokens.refresh(writer, ref, made[2].id)
    service.tokens.update(writer, ref, made[3].id, TokenFields(enabled=False))
    counts.clear()
    assert total(search) == 5
    assert counts == []  # counted at the same keys version: no walk
    # A disabled token still matches `search`; `enabled` is not covered by the keys.
    assert total(ListQuery(search="job-", enabled=True, per_page=1)) == 4
    # A rename, a create and a delete change what matches: counted again, and right.
    service.tokens.update(writer, ref, made[4].id, TokenFields(name="renamed"))
    counts.clear()
    assert total(search) == 4
    assert len(counts) == 1
    service.tokens.create(writer, ref, TokenFields(name="job-new"))
    assert total(search) == 5
    service.tokens.delete(writer, ref, made[0].id)
    assert total(search) == 4
    assert total(ListQuery(name="job-0", per_page=1)) == 0
