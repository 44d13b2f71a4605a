"""`api.page_memo`: list bodies rendered from the list use case and memoised by the container
version it reports; a hit costs the version probe and no transaction, and no write in any
process, nor a revocation, is ever answered from a stale entry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import event

from servicetokens.api.page_memo import ListPages, PageMemo
from servicetokens.api.scan_lane import ScanLane
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
    wider = ListQuery(search="ta", per_page=5)  # not read yet: "eta"'s prefix does not hold it
    before_write = lists.find(credential, tenant.account, wider)
    use_cases.tokens.create(writer, tenant.account, TokenFields(name="zeta"))
    after_write = lists.find(credential, tenant.account, wider)
    assert isinstance(before_write, PendingScan)
    assert isinstance(after_write, PendingScan)
    lists.run(before_write)  # kept at the version before the write
    checkouts.clear()
    assert sorted(_names(lists.run(after_write))) == ["beta", "zeta"]
    assert checkouts  # read again: the page kept is of an older version


def test_other_pages_of_a_search_are_cut_from_its_first_matches_at_that_version_only(
    use_cases: UseCases, tenant: Tenant, checkouts: list[str]
) -> None:
    """Issue 13: a search's scan reads its list's first matches (`PrefixMemo`), so another
    page size or page of the same search at the same version reads nothing; after a write
    it is read again; a page cut from it continues the caller's walk."""
    lists = ListPages(use_cases.tokens, inline=True)
    writer = tenant.principal(tenant.writer)
    made = [
        use_cases.tokens.create(writer, tenant.account, TokenFields(name=f"n-{i:02d}"))[0]
        for i in range(30)
    ]
    in_order = [t.name for t in sorted(made, key=lambda t: (t.created_at, t.id))]
    credential = ApiTokenCredential(tenant.reader.secret)
    pending = lists.find(credential, tenant.account, ListQuery(search="N-", per_page=4))
    assert isinstance(pending, PendingScan)
    assert pending.prefix is None  # asked once at this version: its page alone
    first = orjson.loads(lists.run(pending))
    assert [t["name"] for t in first["result"]] == in_order[:4]
    pending = lists.find(credential, tenant.account, ListQuery(search="N-", per_page=6))
    assert isinstance(pending, PendingScan)
    assert pending.prefix == 1000  # asked again: its first matches (all 30 here)
    assert [t["name"] for t in orjson.loads(lists.run(pending))["result"]] == in_order[:6]
    assert first["result_info"] == {
        "page": 1,
        "per_page": 4,
        "count": 4,
        "total_count": 30,
        "total_pages": 8,
    }
    checkouts.clear()
    for per_page, page in ((7, 1), (3, 3), (10, 3), (1, 30), (25, 2), (5, 7)):
        query = ListQuery(search="N-", per_page=per_page, page=page)
        body = orjson.loads(_body(lists.find(credential, tenant.account, query)))
        names = in_order[(page - 1) * per_page : page * per_page]
        assert [t["name"] for t in body["result"]] == names, (per_page, page)
        assert body["result_info"]["total_count"] == 30
        assert body["result_info"]["count"] == len(names)
    # The second read asked for 1,000 matches and found all 30: any page is cut from them.
    everything = _body(lists.find(credential, tenant.account, ListQuery(search="N-", per_page=400)))
    assert len(orjson.loads(everything)["result"]) == 30
    assert checkouts == [] or all("container_versions" in s for s in checkouts), checkouts
    use_cases.tokens.create(writer, tenant.account, TokenFields(name="n-new"))
    again = lists.find(credential, tenant.account, ListQuery(search="N-", per_page=7))
    assert isinstance(again, PendingScan)  # another version: read again
    assert again.prefix is None
    assert orjson.loads(lists.run(again))["result_info"]["total_count"] == 31


def test_a_walk_continues_from_a_page_cut_from_the_first_matches(
    use_cases: UseCases, tenant: Tenant
) -> None:
    lists = ListPages(use_cases.tokens, inline=True)
    writer = tenant.principal(tenant.writer)
    made = [
        use_cases.tokens.create(writer, tenant.account, TokenFields(name=f"w-{i}"))[0]
        for i in range(6)
    ]
    in_order = [t.name for t in sorted(made, key=lambda t: (t.created_at, t.id))]
    credential = ApiTokenCredential(tenant.reader.secret)
    page_1 = _served(lists, credential, tenant, ListQuery(search="w-", per_page=2))
    page_2 = _served(lists, credential, tenant, ListQuery(search="w-", per_page=2, page=2))
    third = lists.find(credential, tenant.account, ListQuery(search="w-", per_page=1, page=3))
    assert isinstance(third, bytes)  # page 2 read the first matches: cut from them
    assert [t["name"] for t in orjson.loads(page_2)["result"]] == in_order[2:4]
    # A write between pages: the walk continues from page 2's end, not by OFFSET, so every
    # token that existed throughout is listed exactly once.
    use_cases.tokens.create(writer, tenant.account, TokenFields(name="w-new"))
    use_cases.tokens.delete(writer, tenant.account, _id_named(use_cases, tenant, in_order[0]))
    page_3 = lists.find(credential, tenant.account, ListQuery(search="w-", per_page=2, page=3))
    assert isinstance(page_3, PendingScan)
    assert page_3.prefix is None  # only the caller's own seek is right across a write
    seen = [t["name"] for t in orjson.loads(page_1)["result"] + orjson.loads(page_2)["result"]]
    seen += [t["name"] for t in orjson.loads(lists.run(page_3))["result"]]
    page = 4
    while True:
        found = lists.find(
            credential, tenant.account, ListQuery(search="w-", per_page=2, page=page)
        )
        body = lists.run(found) if isinstance(found, PendingScan) else found
        names = [t["name"] for t in orjson.loads(body)["result"]]
        if not names:
            break
        seen += names
        page += 1
    assert sorted(n for n in seen if n != "w-new") == sorted(in_order)


def test_scans_of_one_list_at_one_version_count_its_matches_once(
    use_cases: UseCases, tenant: Tenant, checkouts: list[str]
) -> None:
    """A burst of one search at several page sizes (after a write, say): the scans run one
    after another, the first counts the matches, the others reuse the count and the
    first matches read by the second."""
    lists = ListPages(use_cases.tokens, inline=True)
    writer = tenant.principal(tenant.writer)
    for i in range(12):
        use_cases.tokens.create(writer, tenant.account, TokenFields(name=f"b-{i}"))
    credential = ApiTokenCredential(tenant.reader.secret)
    pending = [
        lists.find(credential, tenant.account, ListQuery(search="B-", per_page=per_page))
        for per_page in (2, 3, 4, 5)
    ]
    scans = [p for p in pending if isinstance(p, PendingScan)]
    assert len(scans) == 4
    lane = ScanLane()

    async def burst() -> list[bytes]:
        return list(await asyncio.gather(*(lists.scan(p, lane) for p in scans)))

    checkouts.clear()
    try:
        bodies = asyncio.run(burst())
    finally:
        lane.close()
    counts = [sql for sql in checkouts if "count(*)" in sql]
    assert len(counts) == 1, counts
    assert [len(orjson.loads(b)["result"]) for b in bodies] == [2, 3, 4, 5]
    assert {orjson.loads(b)["result_info"]["total_count"] for b in bodies} == {12}


def _served(
    lists: ListPages, credential: ApiTokenCredential, tenant: Tenant, query: ListQuery
) -> bytes:
    found = lists.find(credential, tenant.account, query)
    return lists.run(found) if isinstance(found, PendingScan) else found


def _id_named(use_cases: UseCases, tenant: Tenant, name: str) -> str:
    writer = tenant.principal(tenant.writer)
    page = use_cases.tokens.read_page(writer, tenant.account, ListQuery(name=name))
    return page.tokens[0].id


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
