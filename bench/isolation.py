"""`search-isolation`: one account's searches must not slow another account's list.

    python -m bench --scenario search-isolation --tokens 100000 --engine sqlite --engine postgresql

Account A holds N tokens (the usual bulk seed), account B five (made through the service, as
a user would). Against one `servicetokens serve --workers W`:

1. B's page 1 (`per_page=20`, one URL: a memoised page, as a dashboard polls it) from one
   wrk connection, alone: the baseline.
2. The same, while 20 wrk connections send A's searches: near-universal terms (every
   substring of `.access`, which ends every client id; of `svc-00`, which starts every bulk
   name; each hex digit, in ~87% of client ids; each in every spelling of its case, since
   search folds case but the page memo does not), each paired with a `per_page` from 20 to
   40 and an `expires_after` of its own in the past (which every token matches), so no URL
   and no filter set repeats within the run: every search misses the page memo, the
   first-matches memo and the kept counts, and reads A's tokens. A's load starts a second
   before B's measurement and ends after it.

Rows: B alone, B under A's load (its note gives B's p99 under load ÷ alone), and A's
searches themselves (their throughput and latency: the cost the searcher pays).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import orjson

from bench.load import Load, LoadResult, run_load
from bench.report import Row
from bench.run import Options, api_server, database, log
from bench.seed import seed
from bench.server import RssSampler
from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["NAME", "near_universal_terms", "run_search_isolation", "settings"]

NAME = "search-isolation"
SEARCHERS = 20
"""Concurrent connections searching account A."""
B_TOKENS = 5
PER_PAGES = range(20, 41)
"""A's page sizes: with the terms, every URL distinct; small, so the search is the cost."""


def settings(tool: str, *, workers: int, seconds: float, warmup: float) -> str:
    """How the scenario drives the server, for the report header."""
    return (
        f"{NAME}: server `--workers {workers}`; B: {tool} -t1 -c1, {seconds:g} s alone (after "
        f"a {warmup:g} s warm-up), then {seconds:g} s while A's {tool} -t2 -c{SEARCHERS} "
        f"searches ({seconds + 2:g} s, from 1 s before B's start)"
    )


def _substrings(text: str) -> list[str]:
    return [text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)]


def _cases(text: str) -> list[str]:
    """Every upper/lower-case spelling of `text` (search folds case; the page memo does not)."""
    spellings = [""]
    for char in text:
        spellings = [s + c for s in spellings for c in dict.fromkeys((char.lower(), char.upper()))]
    return spellings


def near_universal_terms() -> list[str]:
    """Distinct terms that (nearly) every bulk token matches, by name or client id: every
    substring of `.access` and `svc-00`, and every hex digit (in ~87% of client ids), each in
    every spelling of its case."""
    parts = [*_substrings(".access"), *_substrings("svc-00"), *"0123456789abcdef"]
    return list(dict.fromkeys(spelling for part in parts for spelling in _cases(part)))


@dataclass(frozen=True, slots=True)
class _Second:
    account_id: str
    api_token: str


def _add_second_account(database_url: str) -> _Second:
    service = build_service(Settings(database_url=database_url, pool_size=2))
    try:
        account_id = service.admin.create_account("bench-b")
        scope = {"scope": ContainerKind.ACCOUNT, "scope_id": account_id}
        api_token = service.admin.create_api_token("b", **scope, permission=Permission.READ).secret
        writer = service.admin.create_api_token("b-w", **scope, permission=Permission.WRITE).secret
        principal = service.authentication.principal_for_api_token(writer)
        ref = ContainerRef(ContainerKind.ACCOUNT, account_id, "/")
        for i in range(B_TOKENS):
            service.tokens.create(principal, ref, TokenFields(name=f"b-{i}"))
    finally:
        service.database.engine.dispose()
    return _Second(account_id, api_token)


def _collection(account_id: str) -> str:
    return f"/client/v4/accounts/{account_id}/access/service_tokens"


def _expect_list(url: str, path: str, token: str, want: int) -> None:
    answer = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=300)
    body = orjson.loads(answer.content)
    got = len(body.get("result") or []) if answer.status_code == 200 else -1
    if got != want:
        problem = f"{answer.status_code} {answer.text[:200]}"
        raise RuntimeError(f"{path}: want {want} tokens, got {problem}")


def _row(
    engine: str, count: int, scenario: str, result: LoadResult, rss: RssSampler, note: str
) -> Row:
    return Row(
        engine=engine,
        tokens=count,
        scenario=scenario,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        rss_mb=rss.peak_mb,
        rss_process_mb=rss.peak_process_mb,
        pss_mb=rss.peak_pss_mb,
        bad=result.bad_status + result.socket_errors,
        baseline="",
        note=note,
    )


def run_search_isolation(engine: str, count: int, opts: Options) -> tuple[list[Row], float]:
    """Seed A (`count` tokens) and B, measure B's page 1 alone and under A's searches."""
    with database(engine, opts.workdir) as url:
        log(f"{engine} @{count:,} {NAME}: seeding")
        seeded = seed(url, count)
        second = _add_second_account(url)
        log(f"{engine} @{count:,} {NAME}: seeded in {seeded.seconds:.1f}s")
        b_path = f"{_collection(second.account_id)}?per_page=20"
        b_load = Load("GET", [b_path], {"Authorization": f"Bearer {second.api_token}"})
        terms = near_universal_terms()
        # per_page outermost: consecutive requests differ in term and page size; each has an
        # `expires_after` of its own (in 2000: every token matches), so no two share a filter
        # set and none is answered by what another read (the first-matches memo, a count).
        pairs = [(t, pp) for pp in PER_PAGES for t in terms]
        a_paths = [
            f"{_collection(seeded.account_id)}?search={t}&per_page={pp}"
            f"&expires_after=2000-01-01T00:00:00.{i:06d}Z"
            for i, (t, pp) in enumerate(pairs)
        ]
        a_load = Load("GET", a_paths, {"Authorization": f"Bearer {seeded.api_token}"})
        with api_server(seeded, opts) as server:
            time.sleep(1)  # let every worker finish starting
            _expect_list(server.url, b_path, second.api_token, B_TOKENS)
            _expect_list(server.url, a_paths[0], seeded.api_token, PER_PAGES.start)
            run_load(server.url, b_load, seconds=opts.warmup, threads=1, connections=1)
            with RssSampler(server.pid) as rss_alone:
                alone = run_load(server.url, b_load, seconds=opts.seconds, threads=1, connections=1)
            searches: list[LoadResult] = []
            searching = threading.Thread(
                target=lambda: searches.append(
                    run_load(
                        server.url,
                        a_load,
                        seconds=opts.seconds + 2,
                        threads=2,
                        connections=SEARCHERS,
                    )
                )
            )
            with RssSampler(server.pid) as rss_loaded:
                searching.start()
                time.sleep(1)  # A's searches are under way before B's first request
                loaded = run_load(
                    server.url, b_load, seconds=opts.seconds, threads=1, connections=1
                )
                searching.join()
    a = searches[0]
    distinct = len(a_paths)
    misses = "all misses" if a.requests <= distinct else "PARTLY CACHED: requests > distinct"
    ratio = loaded.p99_ms / alone.p99_ms if alone.p99_ms else None
    rows = [
        _row(engine, count, f"{NAME}-alone", alone, rss_alone, "B: page 1 of 5 tokens, alone"),
        _row(
            engine,
            count,
            NAME,
            loaded,
            rss_loaded,
            f"B: page 1 while A searches; p99 = {ratio:.2f}× B's alone" if ratio else "B: page 1",
        ),
        _row(
            engine,
            count,
            f"{NAME}-searches",
            a,
            rss_loaded,
            f"A: {SEARCHERS} conns, search=<{len(terms)} near-universal terms>, "
            f"per_page={PER_PAGES.start}..{PER_PAGES.stop - 1}, expires_after=<one each>; "
            f"{distinct:,} distinct, {a.requests:,} requests: {misses}",
        ),
    ]
    for row in rows:
        log(
            f"{engine} @{count:,} {row.scenario}: {row.rps:,.0f} req/s, p50 {row.p50_ms:.2f} ms, "
            f"p99 {row.p99_ms:.2f} ms, {row.bad} errors"
        )
    return rows, seeded.seconds
