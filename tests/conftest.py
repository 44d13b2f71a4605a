"""Shared fixtures: a database on each engine, and a populated world of credentials.

Also the session hooks that skip (or, in CI, fail) the tests whose prerequisites this machine
lacks: see `tests/prerequisites.py`."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.signing.kek_source import KEK_ENV
from servicetokens.usecases.facade import UseCases
from tests import prerequisites
from tests.pooler import PgBouncer, start_pgbouncer

PG_ADMIN_URL = prerequisites.admin_url()

# One key-encryption key for the run, as a deployment gives all its gates one: every gate
# (in-process or a CLI subprocess, which inherits it) on any test database can sign. Tests
# of where a KEK comes from set or clear it themselves.
os.environ.setdefault(KEK_ENV, KeyEncryptionKey.generate().encoded())


def pytest_configure(config: pytest.Config) -> None:
    for marker in prerequisites.MARKERS:
        config.addinivalue_line("markers", marker)
    config.addinivalue_line(
        "markers", "starts_early: a long test of fixed length (the soak), run first beside the rest"
    )


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselection: count only tests that would run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    prerequisites.select(config, items)
    # Long tests of fixed length first, so that pytest-xdist runs them beside the rest
    # rather than after it (a stable sort: the order is otherwise unchanged).
    items.sort(key=lambda item: item.get_closest_marker("starts_early") is None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    prerequisites.hand_over(session.config)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's: a worker finished
def pytest_testnodedown(node: Any, error: object) -> None:
    prerequisites.take_over(node.config, getattr(node, "workeroutput", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in prerequisites.summary(terminalreporter.config):
        terminalreporter.write_line(line, yellow=True, bold=True)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    with own_postgres_database() as url:
        yield url


@contextmanager
def own_postgres_database(prefix: str = "st_test") -> Iterator[str]:
    """A fresh PostgreSQL database `<prefix>_<random>`, dropped afterwards: for servers whose
    background jobs (the webhook worker's lease, say) must not meet another test's server on
    the session's shared database, and for tests that count a whole table.

    Its commits do not wait for the WAL to reach the disk (`synchronous_commit = off`: about
    3 ms less per commit here). What that gives up is only the last commits if the
    PostgreSQL server itself crashes; no test crashes this server (the outage suite runs a
    private cluster), and every commit is still seen at once by every other session."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield prerequisites.database_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SQLite file for this test run."""
    path: Path = tmp_path_factory.mktemp("sqlite") / "servicetokens.db"
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on the machine's real PostgreSQL."""
    fixture = "sqlite_database" if request.param == "sqlite" else "postgres_database"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def service(database_url: str) -> Iterator[UseCases]:
    """The use cases on a migrated database."""
    svc = build_service(Settings(database_url=database_url, pool_size=4))
    try:
        yield svc
    finally:
        svc.database.engine.dispose()


@dataclass(frozen=True)
class World:
    """Two accounts with a zone each, and credentials of every kind."""

    account_a: str
    zone_a: str
    account_b: str
    zone_b: str
    write_a: str
    read_a: str
    write_b: str
    write_zone_a: str
    read_zone_a: str
    write_zone_b: str
    revoked_a: str
    user_a: tuple[str, str]
    user_b: tuple[str, str]

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def key(user: tuple[str, str]) -> dict[str, str]:
        return {"X-Auth-Email": user[0], "X-Auth-Key": user[1]}


def make_world(service: UseCases) -> World:
    """Fresh accounts and credentials (unique per call, so tests never see each other)."""
    a = service.admin.create_account("A")
    b = service.admin.create_account("B")
    za = service.admin.create_zone("a.example", account_id=a)
    zb = service.admin.create_zone("b.example", account_id=b)

    def token(kind: ContainerKind, scope: str, perm: Permission) -> str:
        return service.admin.create_api_token(
            "t", scope=kind, scope_id=scope, permission=perm
        ).secret

    revoked = service.admin.create_api_token(
        "revoked", scope=ContainerKind.ACCOUNT, scope_id=a, permission=Permission.WRITE
    )
    service.admin.revoke_api_token(revoked.id)
    user_a = service.admin.create_user(f"a-{secrets.token_hex(4)}@example.com", account_id=a)
    user_b = service.admin.create_user(f"b-{secrets.token_hex(4)}@example.com", account_id=b)
    return World(
        account_a=a,
        zone_a=za,
        account_b=b,
        zone_b=zb,
        write_a=token(ContainerKind.ACCOUNT, a, Permission.WRITE),
        read_a=token(ContainerKind.ACCOUNT, a, Permission.READ),
        write_b=token(ContainerKind.ACCOUNT, b, Permission.WRITE),
        write_zone_a=token(ContainerKind.ZONE, za, Permission.WRITE),
        read_zone_a=token(ContainerKind.ZONE, za, Permission.READ),
        write_zone_b=token(ContainerKind.ZONE, zb, Permission.WRITE),
        revoked_a=revoked.secret,
        user_a=(user_a.id, user_a.secret),
        user_b=(user_b.id, user_b.secret),
    )


@pytest.fixture
def world(service: UseCases) -> World:
    """A fresh world of accounts, zones and credentials."""
    return make_world(service)


@pytest.fixture(scope="session")
def pgbouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of the PostgreSQL server (`tests/pooler.py`),
    for the session."""
    pooler = start_pgbouncer(PG_ADMIN_URL, tmp_path_factory.mktemp("pgbouncer"))
    try:
        yield pooler
    finally:
        pooler.stop()
