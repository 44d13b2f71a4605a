"""Conformance fixtures: a live ``servicetokens serve`` driven by the official SDKs.

One server per test session (`live_server`), on a free loopback port, over a fresh SQLite
database in a temporary directory; and one per engine (`engine_server`: SQLite, then the
machine's PostgreSQL) for the tests that must hold on both. Accounts, a zone, API tokens and
a user are made through the CLI before a server starts, exactly as an operator would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.harness import Server

from servicetokens.config import TRANSACTION_POOLER_ENV
from tests.conftest import own_postgres_database

HERE = Path(__file__).resolve().parent
CLI_TIMEOUT_S = 60
HEALTH_TIMEOUT_S = 30
API_PREFIX = "/client/v4"

# Environment variables that the official SDKs read on their own: a developer's real
# Cloudflare credentials must never leak into (or redirect) the conformance clients.
SDK_ENV_VARS = (
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_API_KEY",
    "CLOUDFLARE_EMAIL",
    "CLOUDFLARE_API_USER_SERVICE_KEY",
    "CLOUDFLARE_BASE_URL",
    "CLOUDFLARE_CUSTOM_HEADERS",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: official Cloudflare SDKs against a live servicetokens server"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected item of the session, not only this folder's.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.conformance)


@dataclass(frozen=True)
class LiveServer:
    """A running server and the principals made for it."""

    base_url: str
    """``http://127.0.0.1:PORT/client/v4``: what the SDKs take as their base URL."""
    database_url: str
    log_path: Path
    account_id: str
    """Account A: where most tests work."""
    account_b_id: str
    """Account B: only used to prove isolation from account A."""
    zone_id: str
    """A zone of account A."""
    write_token: str
    """Bearer token: Access Service Tokens Write on account A."""
    read_token: str
    """Bearer token: Access Service Tokens Read on account A."""
    account_b_token: str
    """Bearer token: Write on account B only."""
    zone_token: str
    """Bearer token: Write on the zone."""
    user_email: str
    """X-Auth-Email of a user with full rights on account A."""
    user_api_key: str
    """X-Auth-Key of that user."""

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _cli_command() -> list[str]:
    """The ``servicetokens`` console script of the interpreter running the tests."""
    script = Path(sys.executable).parent / "servicetokens"
    if script.exists():
        return [str(script)]
    found = shutil.which("servicetokens")
    if found is None:
        pytest.fail("the servicetokens console script is not installed (pip install -e .)")
    return [found]


def _child_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in SDK_ENV_VARS}, **extra}


class _Cli:
    def __init__(self, database_url: str, env: dict[str, str]) -> None:
        self.base = [*_cli_command(), "--database", database_url]
        self.env = env

    def json(self, *args: str) -> dict[str, str]:
        cmd = [*self.base, *args, "--json"]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, env=self.env
        )
        if proc.returncode != 0:
            pytest.fail(
                f"CLI failed ({proc.returncode}): {' '.join(cmd)}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"CLI printed no JSON: {' '.join(cmd)}\nstdout:\n{proc.stdout}")
        assert isinstance(data, dict), data
        return data


def _serve(database_url: str, workdir: Path, **env: str) -> Iterator[LiveServer]:
    """Accounts, a zone and credentials made through the CLI, then `servicetokens serve` on
    `database_url` until the generator is closed; `env`: SERVICETOKENS_* settings of both."""
    child_env = _child_env(**env)
    cli = _Cli(database_url, child_env)

    account_a = cli.json("accounts", "create", "conformance-a")["id"]
    zone = cli.json("zones", "create", "conformance.example.com", "--account", account_a)["id"]
    account_b = cli.json("accounts", "create", "conformance-b")["id"]

    def api_token(name: str, scope: str, scope_id: str, permission: str) -> str:
        args = ("api-tokens", "create", name, scope, scope_id, "--permission", permission)
        return cli.json(*args)["token"]

    write_token = api_token("a-write", "--account", account_a, "write")
    read_token = api_token("a-read", "--account", account_a, "read")
    account_b_token = api_token("b-write", "--account", account_b, "write")
    zone_token = api_token("zone-write", "--zone", zone, "write")
    email = f"conformance-{uuid.uuid4().hex[:8]}@example.com"
    user = cli.json("users", "create", email, "--account", account_a)

    log_path = workdir / "server.log"
    server = Server.cli(
        database_url,
        ["serve", "--host", "127.0.0.1"],
        log=log_path,
        ready_path="/healthz",
        env=child_env,
        timeout=HEALTH_TIMEOUT_S,
        ready=lambda status: status == 200,
    )
    with server:
        yield LiveServer(
            base_url=f"{server.url}{API_PREFIX}",
            database_url=database_url,
            log_path=log_path,
            account_id=account_a,
            account_b_id=account_b,
            zone_id=zone,
            write_token=write_token,
            read_token=read_token,
            account_b_token=account_b_token,
            zone_token=zone_token,
            user_email=user["email"],
            user_api_key=user["api_key"],
        )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server on a fresh SQLite database for the session."""
    workdir = tmp_path_factory.mktemp("conformance")
    yield from _serve(f"sqlite:///{workdir / 'db.sqlite3'}", workdir)


@pytest.fixture(
    scope="session",
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("pgbouncer", marks=[pytest.mark.postgres, pytest.mark.pgbouncer]),
    ],
)
def engine_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server of its own on a fresh SQLite database, then on the machine's PostgreSQL,
    then on it through a PgBouncer in transaction mode (`tests/pooler.py`;
    `--transaction-pooler` for the server and the CLI alike)."""
    workdir = tmp_path_factory.mktemp(f"conformance-{request.param}")
    if request.param == "sqlite":
        yield from _serve(f"sqlite:///{workdir / 'db.sqlite3'}", workdir)
        return
    url = request.getfixturevalue("postgres_database")
    if request.param == "postgresql":
        yield from _serve(url, workdir)
        return
    pooled = request.getfixturevalue("pgbouncer").url(url)
    yield from _serve(pooled, workdir, **{TRANSACTION_POOLER_ENV: "1"})


@pytest.fixture(autouse=True)
def _no_ambient_cloudflare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SDK_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name prefix no other test (or earlier run on the same server) uses."""
    test = request.node.name.removeprefix("test_")[:40]
    return f"cf-{test}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def notify_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server allowing loopback webhooks, running its jobs every 0.2 s."""
    workdir = tmp_path_factory.mktemp(f"notify-{request.param}")
    with contextlib.ExitStack() as stack:
        # A database of its own on PostgreSQL: another test's server on the session's shared
        # database would hold the one webhook worker's lease, without loopback allowed.
        url = (
            f"sqlite:///{workdir / 'db.sqlite3'}"
            if request.param == "sqlite"
            else stack.enter_context(own_postgres_database())
        )
        saved = dict(os.environ)
        os.environ["SERVICETOKENS_ALLOW_PRIVATE_WEBHOOKS"] = "1"
        os.environ["SERVICETOKENS_JOBS_INTERVAL"] = "0.2"
        try:
            servers = _serve(url, workdir)
            server = next(servers)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        yield server
        servers.close()
