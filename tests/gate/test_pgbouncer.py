"""PgBouncer in transaction mode between every process and PostgreSQL (`tests/pooler.py`).

Behind such a pooler each transaction may run on another server session, so nothing may
live in a session: no server-side prepared statement (`--transaction-pooler` turns psycopg's
off), no advisory lock held past its transaction, no LISTEN (it uses a direct URL,
`--listen-database`, or the followers poll). Tested: the store's statements and job claims
through a real PgBouncer, and an API with two gates through it, revocation reaching both
gates within a second with LISTEN on a direct connection and without.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from bench.harness import Server
from sqlalchemy.exc import DBAPIError

from servicetokens.bootstrap import build_service, open_database
from servicetokens.config import TRANSACTION_POOLER_ENV, Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import create_token
from servicetokens.store.database import Database
from servicetokens.store.migrate import upgrade
from tests import prerequisites
from tests.gate.conftest import Tenant, creds, make_tenant, until
from tests.pooler import PgBouncer

pytestmark = [pytest.mark.postgres, pytest.mark.pgbouncer]


@pytest.fixture(scope="module")
def pooled(pg_database: str, pgbouncer: PgBouncer) -> Iterator[Database]:
    """The test database through PgBouncer, as `--transaction-pooler` opens it."""
    direct = open_database(Settings(database_url=pg_database, pool_size=1))
    upgrade(direct.engine)
    direct.dispose()
    database = open_database(
        Settings(database_url=pgbouncer.url(pg_database), pool_size=4, transaction_pooler=True)
    )
    yield database
    database.dispose()


def _hammer(database: Database, rounds: int = 40) -> None:
    """The API's hottest statement, many times on each of four pooled connections at
    once: psycopg would prepare it on the fifth execution on a connection."""

    def reads(_: int) -> None:
        for _ in range(rounds):
            with database.read() as tx:
                tx.versions.versions(ContainerKind.ACCOUNT, "0" * 32)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(reads, range(4)))


def test_statements_run_again_and_again_on_any_server_session(pooled: Database) -> None:
    _hammer(pooled)


def test_the_event_loops_reads_run_again_and_again_through_the_pooler(
    pg_database: str, pgbouncer: PgBouncer
) -> None:
    """The probe, token reads and searches sent from an event loop (`store.loop_connections`)
    prepare nothing and hold nothing in a session: many times each, on several connections of
    one loop at once, through transaction pooling."""
    service = build_service(
        Settings(database_url=pgbouncer.url(pg_database), pool_size=2, transaction_pooler=True)
    )
    database = service.database
    try:
        account = service.admin.create_account("pooled-searches")
        container = Container(ContainerKind.ACCOUNT, account, account)
        made = [
            create_token(
                TokenFields(name=f"pool-{i:03d}"), container=container, now=service.clock()
            )[0]
            for i in range(30)
        ]
        with database.write() as tx:
            tx.tokens.insert_many(made)

        async def rounds() -> list[object]:
            try:
                return list(
                    await asyncio.gather(
                        *(
                            call
                            for i in range(90)
                            for call in (
                                database.search_page_async(
                                    container,
                                    ListQuery(search=f"pool-{i % 30:03d}", per_page=5),
                                    index_term=f"{i % 30:03d}",
                                    after=None,
                                    total=None,
                                ),
                                database.token_async(container, made[i % 30].id),
                                database.probe_versions_async(ContainerKind.ACCOUNT, account),
                            )
                        )
                    )
                )
            finally:
                await database.close_async()

        answers = asyncio.run(rounds())
        pages, tokens = answers[0::3], answers[1::3]
        assert [[t.name for t in p.tokens] for p in pages] == [
            [f"pool-{i % 30:03d}"] for i in range(90)
        ]
        assert [t.id for t in tokens] == [made[i % 30].id for i in range(90)]
    finally:
        database.dispose()


def test_without_the_setting_the_pooler_refuses_or_breaks(
    pg_database: str, pgbouncer: PgBouncer
) -> None:
    # The controls: what --transaction-pooler prevents does happen without it. PgBouncer
    # refuses the startup option that carries the statement timeout...
    plain = open_database(Settings(database_url=pgbouncer.url(pg_database), pool_size=4))
    with pytest.raises(DBAPIError, match="unsupported startup parameter"):
        _hammer(plain, rounds=1)
    plain.dispose()
    # (Were it told to ignore that option, psycopg's prepared statements would break once two
    # client connections' statements met on one server session; whether they do in a run
    # depends on the pooler's routing, so that half is not asserted here: it failed once in a
    # full run's timing and passed in others.)


def test_a_job_claim_ends_with_its_transaction(pooled: Database, pg_database: str) -> None:
    with pooled.write() as first:
        assert first.versions.claim_job_run("pgbouncer-probe")
        with pooled.write() as second:  # another server session, same moment
            assert not second.versions.claim_job_run("pgbouncer-probe")
    # A lock held past its transaction would stay with a server session the pooler keeps;
    # a direct connection, not through the pooler, would then never get it.
    direct = open_database(Settings(database_url=pg_database, pool_size=1))
    try:
        with direct.write() as third:
            assert third.versions.claim_job_run("pgbouncer-probe")
    finally:
        direct.dispose()


def _listening_sessions(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(prerequisites.admin_url(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN %%'",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module", params=["listen-direct", "polled"])
def pooled_world(
    request: pytest.FixtureRequest,
    pg_database: str,
    pgbouncer: PgBouncer,
    tmp_path_factory: pytest.TempPathFactory,
    upstream: str,
) -> Iterator[tuple[Tenant, str, list[str]]]:
    """An API and two gates whose --database is PgBouncer; the gates LISTEN on the direct
    URL (`--listen-database`) or, without it, poll."""
    tmp: Path = tmp_path_factory.mktemp(f"pgbouncer-{request.param}")
    tenant = make_tenant(pg_database)
    pooled_url = pgbouncer.url(pg_database)
    env = {**os.environ, TRANSACTION_POOLER_ENV: "1"}
    listen = ["--listen-database", pg_database] if request.param == "listen-direct" else []
    processes: list[Server] = []
    try:
        with ThreadPoolExecutor(3) as pool:
            api_job = pool.submit(Server.api, pooled_url, log=tmp / "api.log", env=env)
            gate_jobs = [
                pool.submit(
                    Server.gate,
                    pooled_url,
                    account=tenant.account,
                    upstream=upstream,
                    log=tmp / f"gate-{n}.log",
                    extra=listen,
                    env=env,
                )
                for n in range(2)
            ]
            api = api_job.result()
            processes.append(api)
            processes.extend(job.result() for job in gate_jobs)
        yield tenant, api.url, [gate.url for gate in processes[1:]]
        for process in processes:
            assert "Traceback" not in process.log_text(), process.log_text()
    finally:
        for process in processes:
            process.stop()
        tenant.service.database.dispose()


def test_revocation_through_the_api_reaches_both_gates_within_a_second(
    pooled_world: tuple[Tenant, str, list[str]], pg_database: str, request: pytest.FixtureRequest
) -> None:
    tenant, api, gates = pooled_world
    listening = _listening_sessions(pg_database)
    if "listen-direct" in request.node.callspec.id:
        assert listening >= 2, "each gate LISTENs on its direct connection"
    else:
        assert listening == 0, "nothing LISTENs through the pooler"
    headers = {"Authorization": f"Bearer {tenant.api_token}"}
    listing = f"{api}/client/v4/accounts/{tenant.account}/access/service_tokens"
    created = httpx.post(listing, headers=headers, json={"name": "pooled"}, timeout=10)
    assert created.status_code == 201, created.text
    token = created.json()["result"]
    presented = creds(token["client_id"], token["client_secret"])
    for _ in range(3):  # warm both gates' caches, and the API's hot statements past five runs
        for gate in gates:
            assert httpx.get(gate, headers=presented).status_code == 200
        assert httpx.get(f"{listing}/{token['id']}", headers=headers).status_code == 200
    deleted = httpx.delete(f"{listing}/{token['id']}", headers=headers, timeout=10)
    assert deleted.status_code == 200, deleted.text
    pending = set(gates)

    def refused_by_both() -> bool:
        for gate in list(pending):
            if httpx.get(gate, headers=presented).status_code == 401:
                pending.discard(gate)
        return not pending

    until(refused_by_both, within=1.0, step=0.01)
