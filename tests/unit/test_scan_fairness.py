"""`ListPages.scan`: an account's scans, in the account and in any of its zones, share one
account's slots in the scan lane, so an account with many zones cannot hold every lane
thread (or every loop search connection) while another account's filtered list waits."""

from __future__ import annotations

import asyncio
import threading

from servicetokens.api.page_memo import ListPages
from servicetokens.api.scan_lane import ScanLane
from servicetokens.domain.paging import ListQuery, PageInfo
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.service_tokens import PendingScan, TokenPage

_WAIT = 10.0  # seconds: a deadline for events that should come at once


class _Scan:
    """A blocking read of an empty page that reports when it starts and ends when released."""

    def __init__(self, query: ListQuery) -> None:
        self.query = query
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> TokenPage:
        self.started.set()
        assert self.release.wait(_WAIT)
        return TokenPage([], PageInfo(1, self.query.per_page, 0, 0), version=1)


def test_an_accounts_zones_share_its_slots_in_the_scan_lane(use_cases: UseCases) -> None:
    lists = ListPages(use_cases.tokens, inline=True)
    a, b = "a" * 32, "b" * 32
    account_a = Container(ContainerKind.ACCOUNT, a, a)
    zones_of_a = [Container(ContainerKind.ZONE, f"{i:x}" * 32, a) for i in range(1, 4)]
    account_b = Container(ContainerKind.ACCOUNT, b, b)
    query = ListQuery(name="x")

    async def go() -> None:
        lane = ScanLane(threads=3)  # 2 at a time per account, one thread left for others
        try:
            a_scans = [_Scan(query) for _ in range(2 + 2 * len(zones_of_a))]
            holders = [account_a, account_a] + [z for z in zones_of_a for _ in range(2)]
            a_tasks = [
                asyncio.create_task(lists.scan(PendingScan(c, query, s), lane))
                for c, s in zip(holders, a_scans, strict=True)
            ]
            assert await asyncio.to_thread(a_scans[0].started.wait, _WAIT)
            b_scan = _Scan(query)
            b_task = asyncio.create_task(lists.scan(PendingScan(account_b, query, b_scan), lane))
            # B's filtered list starts while every one of A's scans still runs or waits.
            assert await asyncio.to_thread(b_scan.started.wait, _WAIT)
            assert sum(s.started.is_set() for s in a_scans) == 2
            b_scan.release.set()
            await b_task
            for scan in a_scans:
                scan.release.set()
            await asyncio.gather(*a_tasks)
        finally:
            for scan in a_scans:
                scan.release.set()
            lane.close()

    asyncio.run(go())
