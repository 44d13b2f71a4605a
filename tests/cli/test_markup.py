"""Human output prints untrusted values literally: Rich markup in a token or account name
neither breaks nor hides rows, and no control character reaches the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.usecases.authorization import ContainerRef

CLI = [sys.executable, "-m", "servicetokens.cli"]
HOSTILE_NAMES = [
    "[red]x[/red]",
    "[/]",
    "[link=http://evil.example]y[/link]",
    "[bold",
    "plain \\[escaped]",
    ":smile: [/bold]",
]


def _run(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that no cell is folded across lines.
    env = {**os.environ, "COLUMNS": "2000", "TERM": "dumb"}
    return subprocess.run(
        [*CLI, "--database", database, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_audit_list_prints_markup_literally_and_every_row(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'markup.db'}"
    service = build_service(Settings(database_url=database))
    account = service.admin.create_account("markup")
    principal = Principal(
        PrincipalKind.API_TOKEN, "tests", (Grant(ContainerKind.ACCOUNT, account, Permission.WRITE),)
    )
    ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
    ids = [
        service.tokens.create(principal, ref, TokenFields(name=name))[0].id
        for name in HOSTILE_NAMES
    ]
    service.database.engine.dispose()

    result = _run(database, "audit", "list", "--account", account)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # One entry per token, and the account's creation.
    assert f"audit log ({len(HOSTILE_NAMES) + 1} entries)" in out
    for token_id, name in zip(ids, HOSTILE_NAMES, strict=True):
        row = next(line for line in out.splitlines() if token_id in line)
        assert f'"name": "{name}"'.replace("\\", "\\\\") in row, row
    assert "\x1b" not in out


def test_command_output_prints_names_literally(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'names.db'}"
    name = " ".join(HOSTILE_NAMES)
    result = _run(database, "accounts", "create", name)
    assert result.returncode == 0, result.stderr
    assert name in result.stdout
    # An error message quoting a user's value is printed literally too.
    refused = _run(database, "audit", "list", "--since", "[/] [bold")
    assert refused.returncode == 2
    assert "[/] [bold" in refused.stderr
