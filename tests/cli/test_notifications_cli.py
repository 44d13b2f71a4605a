"""`servicetokens notifications test` and `servicetokens tokens expiring`, run as the
operator runs them (a subprocess on a SQLite file), against tokens and a webhook made
through the API, with a real loopback receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_service
from servicetokens.config import ALLOW_PRIVATE_WEBHOOKS_ENV, Settings
from tests.api.test_service_tokens import V4
from tests.conftest import World, make_world
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import make_webhook

CLI = [sys.executable, "-m", "servicetokens.cli"]


def run(
    database: str, *args: str, private: bool = True, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "2000", ALLOW_PRIVATE_WEBHOOKS_ENV: "1" if private else "0"}
    return subprocess.run(
        [*CLI, "--database", database, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
        env=env,
    )


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'notify-cli.db'}"


@pytest.fixture
def served(database: str) -> Iterator[tuple[TestClient, World]]:
    service = build_service(Settings(database_url=database, allow_private_webhooks=True))
    try:
        with TestClient(create_app(service), client=("127.0.0.1", 50000)) as client:
            yield client, make_world(service)
    finally:
        service.close()


def create_token(
    api: TestClient, world: World, name: str, duration: str, *, zone: bool = False
) -> str:
    container = f"zones/{world.zone_a}" if zone else f"accounts/{world.account_a}"
    created = api.post(
        f"{V4}/{container}/access/service_tokens",
        json={"name": name, "duration": duration},
        headers=world.bearer(world.write_a),
    )
    assert created.status_code == 201, created.text
    token_id: str = created.json()["result"]["id"]
    return token_id


def test_tokens_expiring_lists_the_window_soonest_first(
    database: str, served: tuple[TestClient, World]
) -> None:
    api, world = served
    soon = create_token(api, world, "deploy [bold]x[/bold]", "72h")
    in_zone = create_token(api, world, "zone-bot", "24h", zone=True)
    later = create_token(api, world, "nightly", "200h")
    create_token(api, world, "forever", "forever")
    other = api.post(
        f"{V4}/accounts/{world.account_b}/access/service_tokens",
        json={"name": "b", "duration": "1h"},
        headers=world.bearer(world.write_b),
    )
    assert other.status_code == 201

    week = json.loads(
        run(database, "tokens", "expiring", "--account", world.account_a, "--json").stdout
    )
    assert week["account_id"] == world.account_a
    assert week["within"] == "168h"
    assert [t["id"] for t in week["tokens"]] == [in_zone, soon]  # soonest first, no B
    first = week["tokens"][0]
    assert first["zone_id"] == world.zone_a
    assert first["enabled"] is True
    assert set(first) == {"id", "name", "client_id", "expires_at", "enabled", "zone_id"}

    wider = run(
        database, "tokens", "expiring", "--account", world.account_a, "--within", "9d", check=False
    )
    assert wider.returncode == 2  # Go durations have no days
    assert "--within" in wider.stderr
    ten_days = json.loads(
        run(
            database,
            "tokens",
            "expiring",
            "--account",
            world.account_a,
            "--within",
            "240h",
            "--json",
        ).stdout
    )
    assert [t["id"] for t in ten_days["tokens"]] == [in_zone, soon, later]

    table = run(database, "tokens", "expiring", "--account", world.account_a)
    assert table.returncode == 0
    assert "deploy [bold]x[/bold]" in table.stdout  # markup printed as written
    none = run(database, "tokens", "expiring", "--account", world.account_a, "--within", "1h")
    assert none.returncode == 0
    assert "(0)" in none.stdout


def test_tokens_expiring_refuses_an_unknown_account(
    database: str, served: tuple[TestClient, World]
) -> None:
    refused = run(database, "tokens", "expiring", "--account", "f" * 32, check=False)
    assert refused.returncode == 1
    assert "error" in refused.stderr
    for bad in ("0s", "-1h", "soon"):
        result = run(
            database, "tokens", "expiring", "--account", "f" * 32, "--within", bad, check=False
        )
        assert result.returncode == 2, bad


def test_notifications_test_sends_the_test_message(
    database: str, served: tuple[TestClient, World]
) -> None:
    api, world = served
    with Receiver() as receiver:
        webhook_id = make_webhook(api, world, receiver.url, secret="s3cret")
        assert len(receiver.received) == 1  # the creation's test message
        result: dict[str, Any] = json.loads(
            run(
                database,
                "notifications",
                "test",
                webhook_id,
                "--account",
                world.account_a,
                "--json",
            ).stdout
        )
        assert result["delivered"] is True
        assert result["status"] == 200
        assert result["id"] == webhook_id
        assert result["error"] is None
        sent = receiver.wait_for(lambda got: len(got) == 2)[1]
        assert sent.headers["cf-webhook-auth"] == "s3cret"
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(sent.headers)
        assert json.loads(sent.body)["text"]

        # Another account's destination is not this account's to test.
        foreign = run(
            database, "notifications", "test", webhook_id, "--account", world.account_b, check=False
        )
        assert foreign.returncode == 1
        assert "Webhook not found" in foreign.stderr
        assert len(receiver.received) == 2

        receiver.status = 503
        failing = run(
            database,
            "notifications",
            "test",
            webhook_id,
            "--account",
            world.account_a,
            "--json",
            check=False,
        )
        assert failing.returncode == 1
        assert json.loads(failing.stdout)["status"] == 503

        # Without the operator's permission, loopback is refused and nothing is sent.
        refused = run(
            database,
            "notifications",
            "test",
            webhook_id,
            "--account",
            world.account_a,
            "--json",
            private=False,
            check=False,
        )
        assert refused.returncode == 1
        answer = json.loads(refused.stdout)
        assert answer["status"] is None
        assert answer["error"]
        assert len(receiver.received) == 3
