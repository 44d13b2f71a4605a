"""`servicetokens policies ...` and `servicetokens apps ...`: enough to set up a gate without
an SDK. The JSON shapes are a contract; the commands validate and audit as the API does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind
from tests.cli.test_cli import run, run_json

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
POLICY_KEYS = {
    "id",
    "name",
    "decision",
    "include",
    "require",
    "exclude",
    "session_duration",
    "app_count",
}
APP_KEYS = {"id", "name", "domain", "hosts", "aud", "scope", "policies"}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def setup(db: str) -> dict[str, str]:
    account = run_json(db, "accounts", "create", "acme")["id"]
    zone = run_json(db, "zones", "create", "acme.example", "--account", account)["id"]
    service = build_service(Settings(database_url=db))
    try:
        principal, ref = service.admin.operator_on(ContainerKind.ACCOUNT, account)
        token, _ = service.tokens.create(principal, ref, TokenFields(name="ci"))
    finally:
        service.close()
    return {"account": account, "zone": zone, "token": token.id}


def test_policies_and_apps_from_creation_to_deletion(db: str, setup: dict[str, str]) -> None:
    account = setup["account"]
    policy = run_json(
        db,
        "policies",
        "create",
        "ci only",
        "--account",
        account,
        "--include",
        f"service_token={setup['token']}",
        "--require",
        "ip=10.0.0.0/8",
        "--exclude",
        '{"geo": {"country_code": "RU"}}',
        "--session-duration",
        "30m",
    )
    assert set(policy) == POLICY_KEYS
    assert UUID.match(policy["id"])
    assert policy["decision"] == "non_identity"
    assert policy["include"] == [{"service_token": {"token_id": setup["token"]}}]
    assert policy["require"] == [{"ip": {"ip": "10.0.0.0/8"}}]
    assert policy["exclude"] == [{"geo": {"country_code": "RU"}}]
    assert (policy["session_duration"], policy["app_count"]) == ("30m", 0)

    app = run_json(
        db,
        "apps",
        "create",
        "api.acme.example",
        "--account",
        account,
        "--policy",
        policy["id"],
        "--destination",
        "api.acme.example/v2",
        "--service-auth-401-redirect",
    )
    assert set(app) == APP_KEYS
    assert re.fullmatch(r"[0-9a-f]{64}", app["aud"])
    assert app["hosts"] == ["api.acme.example", "api.acme.example/v2"]
    assert app["scope"] == f"account/{account}"
    assert app["policies"] == [
        {
            "id": policy["id"],
            "name": "ci only",
            "decision": "non_identity",
            "precedence": 1,
            "reusable": True,
        }
    ]
    listed = run_json(db, "policies", "list", "--account", account)["policies"]
    assert [(p["id"], p["app_count"]) for p in listed] == [(policy["id"], 1)]
    assert [a["id"] for a in run_json(db, "apps", "list", "--account", account)["apps"]] == [
        app["id"]
    ]

    refused = run(db, "policies", "delete", policy["id"], "--account", account, check=False)
    assert refused.returncode == 1
    assert "policy is used by one or more applications" in refused.stderr
    deleted = run_json(db, "apps", "delete", app["id"], "--account", account)
    assert deleted == {"id": app["id"], "deleted": True}
    assert run_json(db, "policies", "delete", policy["id"], "--account", account) == {
        "id": policy["id"],
        "deleted": True,
    }
    assert run_json(db, "policies", "list", "--account", account) == {"policies": []}

    service = build_service(Settings(database_url=db))
    try:
        entries = service.admin.audit_log(account_id=account)
    finally:
        service.close()
    cli_actions = [
        e.action for e in entries if e.actor_kind == "cli" and e.action.startswith("access")
    ]
    assert cli_actions == [
        "access_policy.create",
        "access_app.create",
        "access_app.delete",
        "access_policy.delete",
    ]


def test_zone_applications_and_the_table_output(db: str, setup: dict[str, str]) -> None:
    app = run_json(db, "apps", "create", "shop.acme.example", "--zone", setup["zone"])
    assert app["scope"] == f"zone/{setup['zone']}"
    assert app["policies"] == []
    table = run(db, "apps", "list", "--zone", setup["zone"]).stdout
    assert app["id"][:8] in table
    outside = run(
        db, "apps", "create", "elsewhere.example.org", "--zone", setup["zone"], check=False
    )
    assert outside.returncode == 1
    assert "domain does not belong to zone" in outside.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("policies", "create", "p", "--include", "somebody"), 2, "is not a rule"),
        (("policies", "create", "p", "--include", "{not json"), 2, "not a JSON rule"),
        (("policies", "create", "p"), 1, "include must contain at least one rule"),
        (("policies", "create", "p", "--include", "everyone", "--decision", "x"), 1, "decision"),
        (("apps", "create", "x.example"), 2, "exactly one of --account and --zone"),
    ],
)
def test_refusals_are_clear(
    db: str, setup: dict[str, str], args: tuple[str, ...], code: int, message: str
) -> None:
    scoped: list[Any] = list(args)
    if args[0] == "policies":
        scoped += ["--account", setup["account"]]
    result = run(db, *scoped, check=False)
    assert result.returncode == code, result.stderr
    assert message in " ".join(result.stderr.split())


def test_an_unknown_account_is_named(db: str, setup: dict[str, str]) -> None:
    missing = "0" * 32
    result = run(db, "policies", "list", "--account", missing, check=False)
    assert result.returncode == 1
    assert f"no account {missing}" in " ".join(result.stderr.split())
