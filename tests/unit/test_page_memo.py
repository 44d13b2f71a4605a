"""`api.page_memo`: list bodies rendered from the list use case and memoised by the container
version it reports; a hit costs the version probe and no transaction, and no write in any
process, nor a revocation, is ever answered from a stale entry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import event

from servicetokens.api.page_memo import ListPages, PageMemo
from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.credentials import ApiTokenCredential
from servicetokens.domain.errors import InvalidAccessToken
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import ListQuery
from servicetokens.store.database import Database
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.service_tokens import PendingScan
from tests.unit.conftest import Tenant


@pytest.fixture
def checkouts(use_cases: UseCases) -> Iterator[list[str]]:
    """Every pooled connection checked out and every statement run on the engine."""
    seen: list[str] = []
    engine = use_cases.database.engine

    def checkout(*_: Any) -> None:
        seen.append("checkout")

    def statement(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine.pool, "checkout", checkout)


def _names(body: bytes) -> list[str]:
    return [token["name"] for token in orjson.loads(body)["result"]]


def test_a_hit_opens_no_transaction(
    use_cases: UseCases, tenant: Tenant, checkouts: list[str]
) -> None:
    lists = ListPages(use_cases.tokens, inline=True)
    use_cases.tokens.create(tenant.principal(tenant.writer), tenant.account, TokenFields(name="a"))
    credential = ApiTokenCredential(tenant.reader.secret)
    first = lists.find(credential, tenant.account, ListQuery())
    assert isinstance(first, bytes)
    assert _names(first) == ["a"]
    checkouts.clear()
    assert lists.find(credential, tenant.account, ListQuery()) is first
    # On an SQLite file the version probe runs on a connection of its own, outside the pool.
    assert checkouts == []


def test_a_write_in_another_process_is_seen_at_once(use_cases: UseCases, tenant: Tenant) -> None:
    lists = ListPages(use_cases.tokens, inline=True)
    credential = ApiTokenCredential(tenant.reader.secret)
    assert _names(_body(lists.find(credential, tenant.account, ListQuery()))) == []
    other = build_use_cases(Database(use_cases.database.engine))  # a replica's own caches
    writer = other.authentication.principal_for_api_token(tenant.writer.secret)
    token, _ = other.tokens.create(writer, tenant.account, TokenFields(name="elsewhere"))
    assert _names(_body(lists.find(credential, tenant.account, ListQuery()))) == ["elsewhere"]
    other.tokens.delete(writer, tenant.account, token.id)
    assert _names(_body(lists.find(credential, tenant.account, ListQuery()))) == []


def test_a_memoised_page_is_not_served_to_a_revoked_credential(
    use_cases: UseCases, tenant: Tenant
) -> None:
    lists = ListPages(use_cases.tokens, inline=True)
    credential = ApiTokenCredential(tenant.reader.secret)
    for _ in range(2):
        lists.find(credential, tenant.account, ListQuery())
    use_cases.admin.revoke_api_token(tenant.reader.id)
    with pytest.raises(InvalidAccessToken):
        lists.find(credential, tenant.account, ListQuery())


def test_a_scan_is_run_by_the_caller_then_memoised(
    use_cases: UseCases, tenant: Tenant, checkouts: list[str]
) -> None:
    lists = ListPages(use_cases.tokens, inline=True)
    writer = tenant.principal(tenant.writer)
    for name in ("alpha", "beta"):
        use_cases.tokens.create(writer, tenant.account, TokenFields(name=name))
    credential = ApiTokenCredential(tenant.reader.secret)
    query = ListQuery(search="ETA")
    pending = lists.find(credential, tenant.account, query)
    assert isinstance(pending, PendingScan)
    body = lists.run(pending)
    assert _names(body) == ["beta"]
    checkouts.clear()
    assert lists.find(credential, tenant.account, query) is body
    assert checkouts == []


def test_a_scan_that_waited_is_answered_by_the_same_page_read_meanwhile(
    use_cases: UseCases, tenant: Tenant, checkouts: list[str]
) -> None:
    """Issue 13: identical searches queued in the scan lane read the database once; a write
    while one waits makes it read again (its version is then not the memo's)."""
    lists = ListPages(use_cases.tokens, inline=True)
    writer = tenant.principal(tenant.writer)
    use_cases.tokens.create(writer, tenant.account, TokenFields(name="beta"))
    credential = ApiTokenCredential(tenant.reader.secret)
    query = ListQuery(search="eta")
    first = lists.find(credential, tenant.account, query)
    second = lists.find(credential, tenant.account, query)  # both queued before either ran
    assert isinstance(first, PendingScan)
    assert isinstance(second, PendingScan)
    body = lists.run(first)
    checkouts.clear()
    assert lists.run(second) is body
    assert checkouts == []  # no statement: the page read for the first answered
    wider = ListQuery(search="eta", per_page=5)
    before_write = lists.find(credential, tenant.account, wider)
    use_cases.tokens.create(writer, tenant.account, TokenFields(name="zeta"))
    after_write = lists.find(credential, tenant.account, wider)
    assert isinstance(before_write, PendingScan)
    assert isinstance(after_write, PendingScan)
    lists.run(before_write)  # kept at the version before the write
    checkouts.clear()
    assert sorted(_names(lists.run(after_write))) == ["beta", "zeta"]
    assert checkouts  # read again: the page kept is of an older version


def _body(found: bytes | PendingScan) -> bytes:
    assert isinstance(found, bytes)
    return found


def test_the_memo_keeps_a_page_for_its_version_only() -> None:
    memo = PageMemo(max_bytes=10, max_entries=3)
    memo.put("a", version=1, body=b"1234")
    assert memo.get("a", version=1) == b"1234"
    assert memo.get("a", version=2) is None
    memo.put("huge", version=1, body=b"x" * 11)  # heavier than the whole memo: not kept
    assert memo.get("huge", version=1) is None
    memo.put("b", version=1, body=b"12345")
    memo.put("c", version=1, body=b"123")  # 12 bytes: the least recently used goes
    assert memo.get("a", version=1) is None
    assert (memo.get("b", version=1), memo.get("c", version=1)) == (b"12345", b"123")
