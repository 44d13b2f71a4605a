"""Credentials taken back with the CLI are refused on the very next request by every API
process: two `servicetokens serve` processes on one database (SQLite file, PostgreSQL), one
of them answering the list from its memo with the credential already cached."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.harness import Server

from tests.reliability.live import cli_json


@dataclass
class Replicas:
    database: str
    account: str
    a: Server
    b: Server

    @property
    def listing(self) -> str:
        return f"/client/v4/accounts/{self.account}/access/service_tokens"

    def get(self, server: Server, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(f"{server.url}{self.listing}", headers=headers, timeout=10)

    def warm(self, headers: dict[str, str]) -> None:
        """A answers once; B twice, so its principal and page are both in memory."""
        for server, times in ((self.a, 1), (self.b, 2)):
            for _ in range(times):
                response = self.get(server, headers)
                assert response.status_code == 200, response.text

    def refused_everywhere(self, headers: dict[str, str], code: int) -> None:
        for server in (self.b, self.a):  # B first: the one answering from memory
            response = self.get(server, headers)
            assert response.status_code == 403, response.text
            assert response.json()["errors"][0]["code"] == code, response.text


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    tmp: Path = tmp_path_factory.mktemp("replicas")
    if request.param == "sqlite":
        database = f"sqlite:///{tmp / 'replicas.db'}"
    else:
        database = request.getfixturevalue("postgres_database")
    account = cli_json(database, "accounts", "create", "replicas")["id"]
    with (
        Server.api(database, log=tmp / "api.log") as a,
        Server.api(database, log=tmp / "api.log") as b,
    ):
        yield Replicas(database, account, a, b)


def _cli(replicas: Replicas, *args: str) -> dict[str, Any]:
    return cli_json(replicas.database, *args)


def _user(replicas: Replicas, name: str) -> dict[str, str]:
    made = _cli(replicas, "users", "create", f"{name}@example.com", "--account", replicas.account)
    return {"X-Auth-Email": made["email"], "X-Auth-Key": made["api_key"]}


def _token(replicas: Replicas, *extra: str) -> dict[str, Any]:
    return _cli(
        replicas, "api-tokens", "create", "t", "--account", replicas.account,
        "--permission", "read", *extra,
    )  # fmt: skip


def test_rotated_key(replicas: Replicas) -> None:
    old = _user(replicas, "rotated")
    replicas.warm(old)
    new = _cli(replicas, "users", "rotate-key", old["X-Auth-Email"], "--account", replicas.account)
    replicas.refused_everywhere(old, 9103)
    replicas.warm({"X-Auth-Email": new["email"], "X-Auth-Key": new["api_key"]})


def test_removed_user(replicas: Replicas) -> None:
    headers = _user(replicas, "removed")
    replicas.warm(headers)
    _cli(replicas, "users", "remove", headers["X-Auth-Email"], "--account", replicas.account)
    replicas.refused_everywhere(headers, 9103)


def test_revoked_token(replicas: Replicas) -> None:
    token = _token(replicas)
    headers = {"Authorization": f"Bearer {token['token']}"}
    replicas.warm(headers)
    _cli(replicas, "api-tokens", "revoke", token["id"])
    replicas.refused_everywhere(headers, 9109)


def test_expired_token(replicas: Replicas) -> None:
    token = _token(replicas, "--expires-in", "5s")
    headers = {"Authorization": f"Bearer {token['token']}"}
    expires_at = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00")).timestamp()
    replicas.warm(headers)
    assert time.time() < expires_at, "warming took longer than the token's lifetime"
    # Wait for the wall clock (the servers' clock) to pass the expiry, with a deadline.
    deadline = time.monotonic() + 30
    while time.time() <= expires_at:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    replicas.refused_everywhere(headers, 9109)


def test_last_use_reaches_the_list(replicas: Replicas) -> None:
    token = _token(replicas)
    replicas.warm({"Authorization": f"Bearer {token['token']}"})
    # Written behind within the flush interval (5 s) plus one write: poll with a deadline.
    deadline = time.monotonic() + 30
    while True:
        listed = _cli(replicas, "api-tokens", "list", "--account", replicas.account)
        (summary,) = [t for t in listed["api_tokens"] if t["id"] == token["id"]]
        if summary["last_used_at"] is not None:
            break
        assert time.monotonic() < deadline, summary
        time.sleep(0.5)
    assert summary["last_used_at"] >= summary["created_at"]
