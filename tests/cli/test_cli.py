"""The CLI's commands and JSON keys are a contract others script against."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.credentials import ApiTokenCredential
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.service_tokens import TokenPage

HEX32 = re.compile(r"^[0-9a-f]{32}$")
CLI = [sys.executable, "-m", "servicetokens.cli"]


def run(database: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--database", database, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def run_json(database: str, *args: str) -> dict[str, Any]:
    result = run(database, *args, "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_cli_contract(fresh_sqlite: str) -> None:
    account = run_json(fresh_sqlite, "accounts", "create", "acme")
    assert HEX32.match(account["id"])
    zone = run_json(fresh_sqlite, "zones", "create", "acme.example", "--account", account["id"])
    assert HEX32.match(zone["id"])
    api_token = run_json(
        fresh_sqlite,
        "api-tokens",
        "create",
        "ci",
        "--account",
        account["id"],
        "--permission",
        "write",
    )
    assert HEX32.match(api_token["id"])
    assert api_token["token"].startswith("stk_")
    zone_token = run_json(
        fresh_sqlite, "api-tokens", "create", "z", "--zone", zone["id"], "--permission", "read"
    )
    user = run_json(fresh_sqlite, "users", "create", "Ops@Example.com", "--account", account["id"])
    assert user["email"] == "ops@example.com"
    assert re.fullmatch(r"[0-9a-f]{64}", user["api_key"])

    # The credentials the CLI printed work through the service layer.
    service = build_service(Settings(database_url=fresh_sqlite))
    try:
        ref = ContainerRef(ContainerKind.ACCOUNT, account["id"], "/")
        credential = ApiTokenCredential(api_token["token"])
        access = service.tokens.open_list(credential, ref)
        page = service.tokens.list_page(access, _query())
        assert isinstance(page, TokenPage)
        assert page.info.total_count == 0
        zone_principal = service.authentication.principal_for_api_token(zone_token["token"])
        assert zone_principal.grants[0].permission is Permission.READ
        assert service.authentication.principal_for_api_key(user["email"], user["api_key"]).grants
    finally:
        service.database.engine.dispose()


def _query() -> Any:
    from servicetokens.domain.paging import parse_list_query

    return parse_list_query(name=None, search=None, page=None, per_page=None)


def test_db_upgrade_is_idempotent(fresh_sqlite: str) -> None:
    first = run_json(fresh_sqlite, "db", "upgrade")
    second = run_json(fresh_sqlite, "db", "upgrade")
    assert first == second
    assert first["revision"]


def test_cli_errors_are_clear(fresh_sqlite: str) -> None:
    missing = run(fresh_sqlite, "zones", "create", "z", "--account", "0" * 32, check=False)
    assert missing.returncode == 1
    assert "no account" in missing.stderr
    both = run(fresh_sqlite, "api-tokens", "create", "x", "--permission", "read", check=False)
    assert both.returncode == 2
    bad_permission = run(
        fresh_sqlite,
        "api-tokens",
        "create",
        "x",
        "--account",
        "0" * 32,
        "--permission",
        "admin",
        check=False,
    )
    assert bad_permission.returncode == 2
    assert "unknown permission" in bad_permission.stderr


def test_postgres_url_is_accepted(postgres_database: str) -> None:
    account = run_json(postgres_database, "accounts", "create", "pg")
    assert HEX32.match(account["id"])


def test_human_output_without_json(fresh_sqlite: str) -> None:
    result = run(fresh_sqlite, "accounts", "create", "acme")
    assert "acme" in result.stdout
    assert re.search(r"[0-9a-f]{32}", result.stdout)


@pytest.mark.parametrize("command", ["serve", "gate"])
def test_a_malformed_trusted_proxy_is_refused_before_anything_starts(
    fresh_sqlite: str, command: str
) -> None:
    extra = ["--account", "0" * 32, "--upstream", "http://127.0.0.1:9"] if command == "gate" else []
    refused = run(fresh_sqlite, command, *extra, "--trusted-proxy", "10.0.0.0/33", check=False)
    assert refused.returncode == 2
    assert "--trusted-proxy" in refused.stderr


def test_the_gate_refuses_an_upstream_that_is_not_an_http_url(fresh_sqlite: str) -> None:
    account = run_json(fresh_sqlite, "accounts", "create", "a")["id"]
    for upstream in ("ftp://example.org", "http://", "http://u:p@host", "http://host/?q=1"):
        refused = run(
            fresh_sqlite, "gate", "--account", account, "--upstream", upstream, check=False
        )
        assert refused.returncode == 2, upstream
        assert "upstream" in refused.stderr


def test_the_gate_refuses_a_failure_window_of_zero(fresh_sqlite: str) -> None:
    account = run_json(fresh_sqlite, "accounts", "create", "a")["id"]
    upstream = ["--account", account, "--upstream", "http://127.0.0.1:9"]
    refused = run(fresh_sqlite, "gate", *upstream, "--failure-window", "0", check=False)
    assert refused.returncode == 2
    assert "failure-window" in refused.stderr
