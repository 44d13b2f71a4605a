"""Gate fixtures: a real upstream on a free port, in-process gates, a tenant.

Real CLI processes (`servicetokens serve` / `gate`) come from `bench.harness.Server`.

`upstream_app` echoes what it received as JSON (so tests can see exactly which headers the
gate forwarded), streams large answers on `/stream/N`, and hashes request bodies.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from bench.harness import ServerThread

from servicetokens.bootstrap import build_service, build_use_cases, gate_on
from servicetokens.config import Settings
from servicetokens.domain.clock import system_clock
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.app import GateApp
from servicetokens.gate.settings import GateSettings
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.conftest import own_postgres_database


async def upstream_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo the request as JSON; `/stream/N` answers N MiB in 64 KiB chunks."""
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"]
            await send({"type": kind + ".complete"})
            if kind == "lifespan.shutdown":
                return
    digest = hashlib.sha256()
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        digest.update(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            break
    path: str = scope["path"]
    if path.startswith("/stream/"):
        total = int(path.rsplit("/", 1)[1]) * 1024 * 1024
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(total // 65536):
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    headers: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode(), []).append(value.decode("latin-1"))
    body = orjson.dumps(
        {
            "method": scope["method"],
            "path": path,
            "query": scope["query_string"].decode(),
            "headers": headers,
            "body_size": size,
            "body_sha256": digest.hexdigest(),
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-upstream", b"yes")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Tenant:
    """An account with a writer principal and an API token, on one database."""

    database_url: str
    service: UseCases
    account: str
    api_token: str
    principal: Principal = field(init=False)

    def __post_init__(self) -> None:
        grant = Grant(ContainerKind.ACCOUNT, self.account, Permission.WRITE)
        self.principal = Principal(PrincipalKind.API_TOKEN, "tests", (grant,))

    @property
    def ref(self) -> ContainerRef:
        return ContainerRef(ContainerKind.ACCOUNT, self.account, "/")

    def token(self, name: str = "t", **fields: Any) -> tuple[ServiceToken, str]:
        return self.service.tokens.create(
            self.principal, self.ref, TokenFields(name=name, **fields)
        )

    def expired_token(self) -> tuple[ServiceToken, str]:
        """A token whose one-hour life ended an hour ago."""
        past = build_use_cases(
            self.service.database, clock=lambda: system_clock() - timedelta(hours=2)
        )
        return past.tokens.create(self.principal, self.ref, TokenFields(name="old", duration="1h"))

    def update(self, token: ServiceToken, **fields: Any) -> ServiceToken:
        return self.service.tokens.update(
            self.principal, self.ref, token.id, TokenFields(**fields)
        )[0]

    def rotate(self, token: ServiceToken, grace: datetime | None) -> str:
        return self.service.tokens.rotate(
            self.principal, self.ref, token.id, previous_expires_at=grace
        )[1]

    def get(self, token: ServiceToken) -> ServiceToken:
        return self.service.tokens.get(self.principal, self.ref, token.id)

    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}


def make_tenant(database_url: str) -> Tenant:
    service = build_service(Settings(database_url=database_url, pool_size=4))
    account = service.admin.create_account("gate tests")
    api = service.admin.create_api_token(
        "gate tests", scope=ContainerKind.ACCOUNT, scope_id=account, permission=Permission.WRITE
    )
    return Tenant(database_url, service, account, api.secret)


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    """The echo upstream's base URL."""
    with ServerThread(upstream_app) as server:
        yield server.url


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('gate') / 'gate.db'}"


@pytest.fixture(scope="module")
def tenant(sqlite_url: str) -> Iterator[Tenant]:
    made = make_tenant(sqlite_url)
    yield made
    made.service.database.engine.dispose()


class GateFactory:
    """Starts in-process gates for one tenant; `apps[url]` is the GateApp behind a URL."""

    def __init__(self, tenant: Tenant, upstream: str) -> None:
        self._tenant = tenant
        self._upstream = upstream
        self._servers: list[ServerThread] = []
        self.apps: dict[str, GateApp] = {}

    def __call__(self, **overrides: Any) -> str:
        options: dict[str, Any] = {"poll_interval": 0.1, "upstream": self._upstream, **overrides}
        settings = GateSettings(account_id=self._tenant.account, **options)
        engine = make_engine(self._tenant.database_url, pool_size=4)
        app = gate_on(settings, Database(engine))
        server = ServerThread(app).__enter__()
        self._servers.append(server)
        self.apps[server.url] = app
        return server.url

    def close(self) -> None:
        for server in reversed(self._servers):
            server.__exit__()


@pytest.fixture(scope="module")
def start_gate(tenant: Tenant, upstream: str) -> Iterator[GateFactory]:
    """Start in-process gates with GateSettings overrides; each call returns a URL."""
    factory = GateFactory(tenant, upstream)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database `st_gate_<random>` for this run, dropped afterwards."""
    # Reachability was checked at collection (tests/prerequisites.py): a failure here is real.
    with own_postgres_database("st_gate") as url:
        yield url


def creds(client_id: str, secret: str) -> dict[str, str]:
    return {"CF-Access-Client-Id": client_id, "CF-Access-Client-Secret": secret}


def until(predicate: Callable[[], bool], *, within: float, step: float = 0.02) -> float:
    """Seconds until `predicate()` held; fails the test if it did not within `within`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > within:
            pytest.fail(f"condition not met within {within} s")
        time.sleep(step)
    return time.monotonic() - start


@pytest.fixture
def database(tmp_path: Path) -> Database:
    """A migrated SQLite database of this test's own (for the signing-key tests)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}", pool_size=2)
    upgrade(engine)
    return Database(engine)
