"""`users rotate-key`, `users add-account`, `users remove`, `api-tokens list` and
`api-tokens create --expires-in`: their JSON shapes are a contract, their refusals are clear,
and no token is ever printed twice."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.errors import InvalidAccessToken, UnknownEmailOrKey
from tests.cli.test_cli import CLI, HEX32, run, run_json

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SUMMARY_KEYS = {
    "id",
    "name",
    "scope",
    "permission",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked",
}


def _text(output: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(output.split())


def _ts(text: str) -> datetime:
    assert RFC3339.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def db(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def setup(db: str) -> dict[str, str]:
    account = run_json(db, "accounts", "create", "acme")["id"]
    zone = run_json(db, "zones", "create", "acme.example", "--account", account)["id"]
    other = run_json(db, "accounts", "create", "other")["id"]
    return {"account": account, "zone": zone, "other": other}


def test_rotate_key_prints_a_new_key_and_the_old_one_stops(db: str, setup: dict[str, str]) -> None:
    user = run_json(db, "users", "create", "ops@example.com", "--account", setup["account"])
    rotated = run_json(db, "users", "rotate-key", "Ops@Example.com", "--account", setup["account"])
    assert set(rotated) == {"email", "api_key"}
    assert rotated["email"] == "ops@example.com"
    assert re.fullmatch(r"[0-9a-f]{64}", rotated["api_key"])
    assert rotated["api_key"] != user["api_key"]
    service = build_service(Settings(database_url=db))
    try:
        with pytest.raises(UnknownEmailOrKey):
            service.authentication.principal_for_api_key(user["email"], user["api_key"])
        assert service.authentication.principal_for_api_key(
            rotated["email"], rotated["api_key"]
        ).grants
    finally:
        service.database.engine.dispose()
    # Only a member of that account: a clear refusal, exit 1, nothing changed.
    refused = run(
        db, "users", "rotate-key", "ops@example.com", "--account", setup["other"], check=False
    )
    assert refused.returncode == 1
    assert "not a member of account" in _text(refused.stderr)
    assert refused.stdout == ""


def test_remove_user(db: str, setup: dict[str, str]) -> None:
    user = run_json(db, "users", "create", "gone@example.com", "--account", setup["account"])
    removed = run_json(db, "users", "remove", "gone@example.com", "--account", setup["account"])
    assert removed == {
        "email": "gone@example.com",
        "account_id": setup["account"],
        "user_deleted": True,
    }
    service = build_service(Settings(database_url=db))
    try:
        with pytest.raises(UnknownEmailOrKey):
            service.authentication.principal_for_api_key(user["email"], user["api_key"])
    finally:
        service.database.engine.dispose()
    again = run(
        db, "users", "remove", "gone@example.com", "--account", setup["account"], check=False
    )
    assert again.returncode == 1
    assert "not a member" in _text(again.stderr)
    # The email is free again: a new user may take it.
    run_json(db, "users", "create", "gone@example.com", "--account", setup["other"])


def test_add_account_gives_a_user_a_second_account(db: str, setup: dict[str, str]) -> None:
    user = run_json(db, "users", "create", "two@example.com", "--account", setup["account"])
    added = run_json(db, "users", "add-account", "Two@Example.com", "--account", setup["other"])
    assert added == {"email": "two@example.com", "account_id": setup["other"], "member": True}
    service = build_service(Settings(database_url=db))
    try:
        principal = service.authentication.principal_for_api_key(user["email"], user["api_key"])
        assert {g.id for g in principal.grants} == {setup["account"], setup["other"]}
    finally:
        service.database.engine.dispose()
    for args, message in (
        (("two@example.com", "--account", setup["other"]), "already a member of account"),
        (("nobody@example.com", "--account", setup["other"]), "no user nobody@example.com"),
        (("two@example.com", "--account", "0" * 32), "no account"),
    ):
        refused = run(db, "users", "add-account", *args, check=False)
        assert refused.returncode == 1
        assert message in _text(refused.stderr)
        assert refused.stdout == ""
    # Removed from the first account, the user keeps the second (and its key).
    kept = run_json(db, "users", "remove", "two@example.com", "--account", setup["account"])
    assert kept["user_deleted"] is False


def test_api_tokens_list_json_shape(db: str, setup: dict[str, str]) -> None:
    made = [
        run_json(
            db, "api-tokens", "create", "on account", "--account", setup["account"],
            "--permission", "write",
        ),
        run_json(
            db, "api-tokens", "create", "on zone", "--zone", setup["zone"], "--permission", "read",
            "--expires-in", "1h30m",
        ),
        run_json(
            db, "api-tokens", "create", "elsewhere", "--account", setup["other"],
            "--permission", "read",
        ),
    ]  # fmt: skip
    run_json(db, "api-tokens", "revoke", made[0]["id"])
    listing = run(db, "api-tokens", "list", "--json")
    for secret in (m["token"] for m in made):
        assert secret not in listing.stdout  # never the token
    every = run_json(db, "api-tokens", "list")
    assert set(every) == {"api_tokens"}
    assert [t["id"] for t in every["api_tokens"]] == [m["id"] for m in made]
    for summary in every["api_tokens"]:
        assert set(summary) == SUMMARY_KEYS
        assert HEX32.match(summary["id"])
        _ts(summary["created_at"])
        assert summary["last_used_at"] is None
    first, second, _ = every["api_tokens"]
    assert first == {
        **first,
        "name": "on account",
        "scope": f"account/{setup['account']}",
        "permission": "Access: Service Tokens Write",
        "expires_at": None,
        "revoked": True,
    }
    assert second["scope"] == f"zone/{setup['zone']}"
    assert second["permission"] == "Access: Service Tokens Read"
    assert second["revoked"] is False
    lifetime = _ts(second["expires_at"]) - _ts(second["created_at"])
    assert lifetime == timedelta(hours=1, minutes=30)
    assert made[1]["expires_at"] == second["expires_at"]
    assert made[0]["expires_at"] is None

    of_account = run_json(db, "api-tokens", "list", "--account", setup["account"])
    assert [t["id"] for t in of_account["api_tokens"]] == [made[0]["id"], made[1]["id"]]
    of_zone = run_json(db, "api-tokens", "list", "--zone", setup["zone"])
    assert [t["id"] for t in of_zone["api_tokens"]] == [made[1]["id"]]
    of_other = run_json(db, "api-tokens", "list", "--account", setup["other"])
    assert [t["id"] for t in of_other["api_tokens"]] == [made[2]["id"]]


def test_api_tokens_list_refusals(db: str, setup: dict[str, str]) -> None:
    both = run(
        db, "api-tokens", "list", "--account", setup["account"], "--zone", setup["zone"],
        check=False,
    )  # fmt: skip
    assert both.returncode == 2
    assert "at most one of --account and --zone" in _text(both.stderr)
    unknown = run(db, "api-tokens", "list", "--zone", "0" * 32, check=False)
    assert unknown.returncode == 1
    assert "no zone" in _text(unknown.stderr)


def test_api_tokens_list_table_shows_markup_as_text(db: str, setup: dict[str, str]) -> None:
    name = "[bold red]x[/bold red] [link=http://e.example]y"
    run_json(
        db, "api-tokens", "create", name, "--account", setup["account"], "--permission", "read"
    )
    # Wide enough that Rich does not fold the cell.
    table = subprocess.run(
        [*CLI, "--database", db, "api-tokens", "list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "400"},
    ).stdout
    assert "[bold red]x[/bold red]" in table, table
    assert "account/" in table


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("forever", "omit --expires-in"),
        ("0s", "must be positive"),
        ("-5m", "must be positive"),
        ("10", "invalid duration"),
        ("1d", "invalid duration"),
        ("9999999999h", "out of range"),
    ],
)
def test_expires_in_refusals(db: str, value: str, message: str) -> None:
    # Refused before the database is opened: nothing is created.
    refused = run(
        db, "api-tokens", "create", "x", "--account", "0" * 32, "--permission", "read",
        "--expires-in", value, check=False,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert message in _text(refused.stderr)
    assert refused.stdout == ""


def test_expires_in_takes_go_durations(db: str, setup: dict[str, str]) -> None:
    before = datetime.now(UTC)
    made = run_json(
        db, "api-tokens", "create", "x", "--account", setup["account"], "--permission", "read",
        "--expires-in", "1.5h2m0.5s",
    )  # fmt: skip
    after = datetime.now(UTC)
    lifetime = timedelta(hours=1.5, minutes=2, seconds=0.5)
    assert before + lifetime <= _ts(made["expires_at"]) <= after + lifetime
    short = run_json(
        db, "api-tokens", "create", "y", "--account", setup["account"], "--permission", "read",
        "--expires-in", "1us",
    )  # fmt: skip
    service = build_service(Settings(database_url=db))
    try:
        with pytest.raises(InvalidAccessToken):
            service.authentication.principal_for_api_token(short["token"])
        assert service.authentication.principal_for_api_token(made["token"]).id == made["id"]
    finally:
        service.database.engine.dispose()


def test_refusal_quoting_markup_prints_as_text(db: str, setup: dict[str, str]) -> None:
    # A closing tag with no opening one made Rich raise instead of printing the refusal.
    email = "[/x]@example.com"
    refused = run(db, "users", "rotate-key", email, "--account", setup["account"], check=False)
    assert refused.returncode == 1, refused.stderr
    assert f"{email} is not a member" in _text(refused.stderr)
    assert "Traceback" not in refused.stderr
