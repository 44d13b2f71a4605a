"""The gate's write-behind (last_seen_at and failed-attempt audit entries) on SQLite and
PostgreSQL: one row the database refuses costs only that row; an outage keeps the batch."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.last_seen import LastSeenWriter


def _tokens(service: UseCases, count: int) -> tuple[str, Principal, list[ServiceToken]]:
    account = service.admin.create_account("write-behind")
    principal = Principal(
        PrincipalKind.API_TOKEN,
        "tests",
        (Grant(ContainerKind.ACCOUNT, account, Permission.WRITE),),
    )
    ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
    tokens = [
        service.tokens.create(principal, ref, TokenFields(name=f"t{i}"))[0] for i in range(count)
    ]
    return account, principal, tokens


def _failure(account: str, target: str, marker: str, **overrides: object) -> AuditEntry:
    fields: dict[str, object] = {
        "at": datetime.now(UTC),
        "actor_kind": "gate",
        "actor_id": account,
        "action": "gate.auth_failed",
        "account_id": account,
        "target": target,
        "origin": "203.0.113.7",
        "detail": {"marker": marker, "reason": "wrong_secret"},
    }
    fields.update(overrides)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def _last_seen(service: UseCases, principal: Principal, account: str, token: ServiceToken) -> Any:
    ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
    return service.tokens.get(principal, ref, token.id).last_seen_at


def test_a_refused_row_is_dropped_and_the_rest_of_the_batch_is_written(
    service: UseCases, database_url: str
) -> None:
    account, principal, tokens = _tokens(service, 6)
    writer = LastSeenWriter(service.database, interval=3600.0)
    used_at = float(int(time.time()) - 10)
    for token in tokens[:3]:
        writer.record(token.id, used_at)
    # Rows no database can take: PostgreSQL refuses NUL in text (DataError) and neither
    # driver can encode a lone surrogate.
    writer.record("nul\x00id", used_at)
    writer.record("lone-\udc80-surrogate", used_at)
    for token in tokens[3:]:
        writer.record(token.id, used_at)
    writer.record_failure(_failure(account, tokens[0].id, "plain"))
    # Oversized and invalid values (an origin of 100 characters raised a DataError on
    # PostgreSQL and jammed the writer): bounded before storage, so they are written too.
    writer.record_failure(
        _failure(
            account,
            "t" * 100,
            "hostile",
            origin="o" * 100,
            actor_id="a" * 1000,
            action="gate." + "b" * 100,
            detail={"marker": "hostile", "name": "nul\x00 and [red]markup[/red]"},
        )
    )
    writer.flush()

    postgres = database_url.startswith("postgresql")
    assert writer.dropped == (2 if postgres else 1)
    assert writer.written + writer.dropped == 8  # SQLite takes the NUL (matching no token)
    written = writer.written
    expected = datetime.fromtimestamp(used_at, UTC)
    assert [_last_seen(service, principal, account, t) for t in tokens] == [expected] * 6
    entries = {
        e.detail.get("marker"): e for e in service.admin.audit_log(account_id=account, limit=100)
    }
    assert entries["plain"].origin == "203.0.113.7"
    hostile = entries["hostile"]
    assert hostile.origin is None
    assert hostile.target == "t" * 64
    assert hostile.actor_id == "a" * 254
    assert len(hostile.action) == 64
    assert hostile.detail["name"] == "nul\x00 and [red]markup[/red]"  # JSON-escaped, intact

    # The writer keeps working afterwards.
    later = used_at + 5
    for token in tokens:
        writer.record(token.id, later)
    writer.record_failure(_failure(account, tokens[1].id, "after"))
    writer.flush()
    assert writer.written == written + 6
    assert writer.dropped == (2 if postgres else 1)
    moved = datetime.fromtimestamp(later, UTC)
    assert [_last_seen(service, principal, account, t) for t in tokens] == [moved] * 6
    markers = {
        e.detail.get("marker") for e in service.admin.audit_log(account_id=account, limit=100)
    }
    assert markers - {None} == {"plain", "hostile", "after"}


def test_an_outage_keeps_the_batch_for_the_next_attempt() -> None:
    # Nothing listens on port 1: every connection is refused, as when the database is down.
    database = Database(make_engine("postgresql://postgres@127.0.0.1:1/none", pool_size=1))
    writer = LastSeenWriter(database, interval=3600.0)
    writer.record("00000000-0000-4000-8000-000000000000", time.time())
    writer.record_failure(_failure("a" * 32, "t", "kept"))
    for _ in range(2):  # a flush with nothing pending would return without a query
        with pytest.raises(OperationalError):
            writer.flush()
    assert (writer.written, writer.dropped) == (0, 0)
    database.engine.dispose()
