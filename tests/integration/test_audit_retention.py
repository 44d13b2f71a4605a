"""Audit log retention on SQLite and PostgreSQL: bounded batches, an injected clock, and the
periodic pruning of the API server process and of the gate."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.domain.audit import AuditEntry
from servicetokens.store.database import Database
from servicetokens.usecases.audit_retention import AuditPruner, parse_retention_days, prune_audit
from servicetokens.usecases.facade import UseCases

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def _add(database: Database, account: str, ages: list[timedelta], now: datetime) -> None:
    with database.write() as tx:
        for age in ages:
            tx.audit.add(
                AuditEntry(
                    at=now - age,
                    actor_kind="cli",
                    actor_id="tests",
                    action="service_token.create",
                    account_id=account,
                    detail={"age_days": age / DAY},
                )
            )


def _ages(service: UseCases, account: str) -> list[float]:
    entries = service.admin.audit_log(account_id=account, limit=10_000)
    return sorted(float(e.detail["age_days"]) for e in entries)  # type: ignore[arg-type]


def _until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s")
        time.sleep(0.02)


def test_prune_deletes_only_what_is_older_than_the_retention_in_batches(
    service: UseCases,
) -> None:
    account = secrets.token_hex(16)
    old = [timedelta(days=400 + i) for i in range(10)] + [366 * DAY]
    kept = [364 * DAY, DAY, timedelta(0)]
    _add(service.database, account, old + kept, NOW)

    clock = lambda: NOW  # noqa: E731 - the injected 'now'
    # One statement deletes at most `limit` rows, however large the backlog.
    with service.database.write() as tx:
        assert tx.audit.prune(NOW - 365 * DAY, limit=4) == 4
    assert len(_ages(service, account)) == len(old) + len(kept) - 4
    assert prune_audit(service.database, retention_days=365, clock=clock, batch=3) == 7
    assert _ages(service, account) == [0.0, 1.0, 364.0]
    # 0 keeps everything; a later 'now' makes more entries old.
    assert prune_audit(service.database, retention_days=0, clock=lambda: NOW + 1000 * DAY) == 0
    assert prune_audit(service.database, retention_days=365, clock=lambda: NOW + 2 * DAY) == 1
    assert _ages(service, account) == [0.0, 1.0]


def test_the_api_server_prunes_periodically(service: UseCases) -> None:
    account = secrets.token_hex(16)
    _add(service.database, account, [500 * DAY, 31 * DAY, 29 * DAY], NOW)
    pruner = AuditPruner(
        service.database, retention_days=30, clock=lambda: NOW, interval=0.05, first_after=0.0
    )
    with TestClient(create_app(service, audit_pruner=pruner)):
        _until(lambda: _ages(service, account) == [29.0])
        runs = pruner.runs
        _until(lambda: pruner.runs > runs)  # and it keeps running
    assert pruner.deleted >= 2


def test_retention_zero_keeps_forever(service: UseCases) -> None:
    account = secrets.token_hex(16)
    _add(service.database, account, [5000 * DAY], NOW)
    pruner = AuditPruner(service.database, retention_days=0, interval=0.01, first_after=0.0)
    pruner.start()
    pruner.stop()
    assert pruner.prune_once() == 0
    assert _ages(service, account) == [5000.0]


@pytest.mark.parametrize("text", ["-1", "36501", "ten", "1.5", ""])
def test_bad_retention_values_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="audit retention"):
        parse_retention_days(text)


def test_audit_prune_command(sqlite_database: str) -> None:
    from servicetokens.bootstrap import build_service
    from servicetokens.config import Settings

    service = build_service(Settings(database_url=sqlite_database))
    account = secrets.token_hex(16)
    now = datetime.now(UTC)
    _add(service.database, account, [40 * DAY, 20 * DAY], now)
    command = [sys.executable, "-m", "servicetokens.cli", "--database", sqlite_database]
    result = subprocess.run(
        [*command, "audit", "prune", "--older-than", "30", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert '"deleted": ' in result.stdout
    assert _ages(service, account) == [20.0]
    refused = subprocess.run(
        [*command, "audit", "prune", "--older-than", "-3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    service.database.engine.dispose()
