"""API credentials can be taken back: a rotated key, a removed user, an expired or revoked
token is refused on the next request, also by a process answering from its list memo; every
credential change bumps the credentials version; cached principals age out; API tokens'
last use is recorded without a database write per request."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.errors import InvalidAccessToken, UnknownEmailOrKey, ValidationError
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.store.schema import api_tokens, users
from servicetokens.usecases.caches import PRINCIPAL_MAX_AGE
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.usage import ApiTokenUsage
from tests.api.test_service_tokens import V4, base, error, ok
from tests.clocks import HandClock
from tests.conftest import World


@pytest.fixture
def other_process(database_url: str) -> Iterator[TestClient]:
    """A second app with its own service and caches on the same database (as a replica)."""
    other = build_service(Settings(database_url=database_url, pool_size=2))
    with TestClient(create_app(other), raise_server_exceptions=False) as test_client:
        yield test_client


def _memoised(client: TestClient, world: World, headers: dict[str, str]) -> None:
    """List twice with `headers`: the principal and the page are now cached in that app."""
    for _ in range(2):
        ok(client.get(base(world, "account"), headers=headers))


def _credentials_version(service: UseCases, world: World) -> int:
    return service.database.probe_versions(ContainerKind.ACCOUNT, world.account_a)[2]


# -- users: rotate-key and remove --------------------------------------------------------


def test_rotated_key_is_refused_at_once_in_every_process(
    client: TestClient, other_process: TestClient, world: World, service: UseCases
) -> None:
    old = world.key(world.user_a)
    _memoised(client, world, old)
    _memoised(other_process, world, old)
    rotated = service.admin.rotate_user_key(world.user_a[0].upper(), account_id=world.account_a)
    assert rotated.id == world.user_a[0]
    assert rotated.secret != world.user_a[1]
    assert len(rotated.secret) == 64
    for app in (client, other_process):
        error(app.get(base(world, "account"), headers=old), 403, 9103)
        ok(app.get(base(world, "account"), headers=world.key((rotated.id, rotated.secret))))
    with pytest.raises(UnknownEmailOrKey):
        service.authentication.principal_for_api_key(*world.user_a)


def test_rotate_key_needs_a_member_of_that_account(service: UseCases, world: World) -> None:
    with pytest.raises(ValidationError, match="not a member of account"):
        service.admin.rotate_user_key(world.user_a[0], account_id=world.account_b)
    with pytest.raises(ValidationError, match="not a member of account"):
        service.admin.rotate_user_key("nobody@example.com", account_id=world.account_a)
    # Nothing changed: the key still works.
    assert service.authentication.principal_for_api_key(*world.user_a).id == world.user_a[0]


def test_removed_user_is_refused_at_once_in_every_process(
    client: TestClient, other_process: TestClient, world: World, service: UseCases
) -> None:
    headers = world.key(world.user_a)
    _memoised(client, world, headers)
    _memoised(other_process, world, headers)
    assert service.admin.remove_user(world.user_a[0], account_id=world.account_a) is True
    for app in (client, other_process):
        error(app.get(base(world, "account"), headers=headers), 403, 9103)
    with service.database.read() as tx:
        assert tx.principals.user(world.user_a[0]) is None
    with pytest.raises(ValidationError, match="not a member"):
        service.admin.remove_user(world.user_a[0], account_id=world.account_a)


def test_removing_one_membership_keeps_the_user_in_the_others(
    client: TestClient, world: World, service: UseCases
) -> None:
    email, key = world.user_a
    with service.database.write() as tx:  # a second membership (no command adds one yet)
        tx.principals.add_membership(email, world.account_b)
    headers = world.key(world.user_a)
    b_list = f"{V4}/accounts/{world.account_b}/access/service_tokens"
    ok(client.get(b_list, headers=headers))
    _memoised(client, world, headers)
    assert service.admin.remove_user(email, account_id=world.account_a) is False
    error(client.get(base(world, "account"), headers=headers), 403, 10000)
    ok(client.get(b_list, headers=headers))
    assert service.authentication.principal_for_api_key(email, key).grants[0].id == world.account_b


def test_user_actions_are_audited(service: UseCases, world: World) -> None:
    service.admin.rotate_user_key(world.user_a[0], account_id=world.account_a)
    service.admin.remove_user(world.user_a[0], account_id=world.account_a)
    entries = service.admin.audit_log(account_id=world.account_a)
    actions = [(e.action, e.target, e.actor_kind) for e in entries[-2:]]
    assert actions == [
        ("user.rotate_key", world.user_a[0], "cli"),
        ("user.remove", world.user_a[0], "cli"),
    ]
    assert entries[-1].detail == {"user_deleted": True}
    assert all(world.user_a[1] not in str(e.detail) for e in entries)


# -- API tokens: expiry, revocation, listing ------------------------------------------------


@pytest.fixture
def clocked(database_url: str) -> Iterator[tuple[UseCases, HandClock, TestClient]]:
    """A service (and its app) whose clock the test moves."""
    clock = HandClock()
    # The test flushes by hand; the app's background flush would race it.
    settings = Settings(database_url=database_url, pool_size=2)
    service = build_service(settings, clock=clock, usage_interval=3600)
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        yield service, clock, client


def test_expired_token_is_refused_from_its_expiry_on(
    clocked: tuple[UseCases, HandClock, TestClient], world: World
) -> None:
    service, clock, client = clocked
    issued = service.admin.create_api_token(
        "short",
        scope=ContainerKind.ACCOUNT,
        scope_id=world.account_a,
        permission=Permission.READ,
        expires_in=timedelta(seconds=30),
    )
    assert issued.expires_at == clock.now + timedelta(seconds=30)
    headers = world.bearer(issued.secret)
    _memoised(client, world, headers)
    clock.advance(timedelta(seconds=29, microseconds=999_999))
    ok(client.get(base(world, "account"), headers=headers))
    clock.advance(timedelta(microseconds=1))
    error(client.get(base(world, "account"), headers=headers), 403, 9109)
    with pytest.raises(InvalidAccessToken):
        service.authentication.principal_for_api_token(issued.secret)


def test_lifetime_must_be_positive(service: UseCases, world: World) -> None:
    for lifetime in (timedelta(0), timedelta(seconds=-1)):
        with pytest.raises(ValidationError, match="positive"):
            service.admin.create_api_token(
                "x",
                scope=ContainerKind.ACCOUNT,
                scope_id=world.account_a,
                permission=Permission.READ,
                expires_in=lifetime,
            )


def test_revoked_token_is_refused_at_once_in_every_process(
    client: TestClient, other_process: TestClient, world: World, service: UseCases
) -> None:
    issued = service.admin.create_api_token(
        "r", scope=ContainerKind.ZONE, scope_id=world.zone_a, permission=Permission.READ
    )
    headers = world.bearer(issued.secret)
    zone_list = base(world, "zone")
    for app in (client, other_process):
        for _ in range(2):
            ok(app.get(zone_list, headers=headers))
    service.admin.revoke_api_token(issued.id)
    for app in (client, other_process):
        error(app.get(zone_list, headers=headers), 403, 9109)


def test_every_credential_change_bumps_the_credentials_version(
    service: UseCases, world: World
) -> None:
    email = f"bump-{secrets.token_hex(4)}@example.com"
    changes: list[tuple[str, Any]] = [
        (
            "create token",
            lambda: service.admin.create_api_token(
                "b",
                scope=ContainerKind.ACCOUNT,
                scope_id=world.account_a,
                permission=Permission.READ,
            ),
        ),
        ("create user", lambda: service.admin.create_user(email, account_id=world.account_a)),
        ("rotate key", lambda: service.admin.rotate_user_key(email, account_id=world.account_a)),
        ("remove user", lambda: service.admin.remove_user(email, account_id=world.account_a)),
        (
            "revoke token",
            lambda: service.admin.revoke_api_token(service.admin.list_api_tokens()[-1].id),
        ),
    ]
    for label, change in changes:
        before = _credentials_version(service, world)
        change()
        assert _credentials_version(service, world) == before + 1, label


def test_cached_principals_age_out_when_a_row_is_deleted_by_hand(
    clocked: tuple[UseCases, HandClock, TestClient], world: World
) -> None:
    service, clock, client = clocked
    issued = service.admin.create_api_token(
        "by hand", scope=ContainerKind.ACCOUNT, scope_id=world.account_a, permission=Permission.READ
    )
    headers = world.bearer(issued.secret)
    _memoised(client, world, headers)
    with service.database.write() as tx:  # behind the application's back: no version bump
        tx.connection.execute(delete(api_tokens).where(api_tokens.c.id == issued.id))
    clock.advance(PRINCIPAL_MAX_AGE - timedelta(microseconds=1))
    ok(client.get(base(world, "account"), headers=headers))  # still cached: the bound
    clock.advance(timedelta(microseconds=1))
    error(client.get(base(world, "account"), headers=headers), 403, 9109)


def test_a_user_deleted_by_hand_ages_out_too(
    clocked: tuple[UseCases, HandClock, TestClient], world: World
) -> None:
    service, clock, client = clocked
    email, _ = world.user_a
    headers = world.key(world.user_a)
    _memoised(client, world, headers)
    with service.database.write() as tx:
        tx.principals.remove_membership(email, world.account_a)
        tx.connection.execute(delete(users).where(users.c.email == email))
    clock.advance(PRINCIPAL_MAX_AGE)
    error(client.get(base(world, "account"), headers=headers), 403, 9103)


def test_list_api_tokens_by_scope(service: UseCases, world: World) -> None:
    every = service.admin.list_api_tokens()
    of_a = service.admin.list_api_tokens(account_id=world.account_a)
    of_zone_a = service.admin.list_api_tokens(zone_id=world.zone_a)
    of_b = service.admin.list_api_tokens(account_id=world.account_b)
    # make_world: revoked + write/read on account A, write/read on zone A.
    assert {(r.scope, r.scope_id) for r in of_a} == {
        (ContainerKind.ACCOUNT, world.account_a),
        (ContainerKind.ZONE, world.zone_a),
    }
    assert len(of_a) == 5
    assert [r.scope for r in of_zone_a] == [ContainerKind.ZONE, ContainerKind.ZONE]
    assert {r.permission for r in of_zone_a} == {Permission.READ, Permission.WRITE}
    assert len(of_b) == 2
    assert {r.id for r in of_a} | {r.id for r in of_b} <= {r.id for r in every}
    assert [r.status for r in of_a].count("revoked") == 1
    created = [r.created_at for r in every]
    assert all(c is not None for c in created)
    assert created == sorted(created)  # type: ignore[type-var]
    with pytest.raises(ValidationError, match="no zone"):
        service.admin.list_api_tokens(zone_id="0" * 32)
    with pytest.raises(ValidationError, match="no account"):
        service.admin.list_api_tokens(account_id="0" * 32)


# -- last_used_at ---------------------------------------------------------------------------


def _last_used(service: UseCases, token_id: str) -> datetime | None:
    (record,) = [r for r in service.admin.list_api_tokens() if r.id == token_id]
    return record.last_used_at


def test_last_used_at_is_written_behind(
    clocked: tuple[UseCases, HandClock, TestClient], world: World
) -> None:
    service, clock, client = clocked
    issued = service.admin.create_api_token(
        "used", scope=ContainerKind.ACCOUNT, scope_id=world.account_a, permission=Permission.READ
    )
    service.usage.flush()
    assert _last_used(service, issued.id) is None
    headers = world.bearer(issued.secret)
    writes: list[str] = []

    def count_writes(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            writes.append(statement)

    engine = service.database.engine
    event.listen(engine, "before_cursor_execute", count_writes)
    try:
        for _ in range(5):  # cached and uncached paths alike write nothing on the request
            ok(client.get(base(world, "account"), headers=headers))
            clock.advance(timedelta(seconds=1))
        ok(client.get(f"{base(world, 'account')}?per_page=7", headers=headers))
    finally:
        event.remove(engine, "before_cursor_execute", count_writes)
    assert writes == []
    last = clock.now
    assert service.usage.flush() == 1
    assert _last_used(service, issued.id) == last
    # An older use flushed later never moves it back.
    service.usage.record(issued.id, last - timedelta(hours=1))
    service.usage.flush()
    assert _last_used(service, issued.id) == last


def test_usage_is_bounded(service: UseCases, world: World) -> None:
    usage = ApiTokenUsage(service.database, max_pending=2)
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    for i in range(5):
        usage.record(f"{i:032x}", moment)
    usage.record(f"{0:032x}", moment + timedelta(seconds=1))  # a known id still moves on
    assert usage.dropped == 3
    assert usage.flush() == 2
    assert usage.flush() == 0


def test_the_api_flushes_usage_when_it_stops(database_url: str, world: World) -> None:
    service = build_service(Settings(database_url=database_url, pool_size=2))
    with TestClient(create_app(service)) as client:
        ok(client.get(base(world, "account"), headers=world.bearer(world.read_a)))
    with service.database.read() as tx:
        used = [r for r in tx.principals.api_tokens(account_id=world.account_a) if r.last_used_at]
    assert len(used) == 1
    assert used[0].permission is Permission.READ


# -- equal work for known and unknown emails ---------------------------------------------


def _statements_for(service: UseCases, email: str, key: str) -> list[str]:
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = service.database.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with pytest.raises(UnknownEmailOrKey):
            service.authentication.principal_for_api_key(email, key)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_known_and_unknown_emails_cost_the_same_statements(service: UseCases, world: World) -> None:
    wrong_key = secrets.token_hex(32)
    known = _statements_for(service, world.user_a[0], wrong_key)
    unknown = _statements_for(service, f"nobody-{secrets.token_hex(4)}@example.com", wrong_key)
    assert known == unknown
    assert len(known) == 1
    # A right key costs the same too (it only differs in what the one row says).
    seen: list[str] = []
    engine = service.database.engine

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        service.authentication.principal_for_api_key(*world.user_a)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen == known


# -- /accounts/{id}/tokens/verify ---------------------------------------------------------


def _verify(client: TestClient, account: str, token: str) -> Any:
    return client.get(
        f"{V4}/accounts/{account}/tokens/verify", headers={"Authorization": f"Bearer {token}"}
    )


def test_account_verify_answers_for_that_accounts_tokens(client: TestClient, world: World) -> None:
    for token in (world.read_a, world.write_a, world.read_zone_a, world.write_zone_a):
        assert ok(_verify(client, world.account_a, token))["status"] == "active"
    assert ok(_verify(client, world.account_a, world.revoked_a))["status"] == "disabled"
    assert ok(_verify(client, world.account_b, world.write_b))["status"] == "active"


def test_account_verify_answers_another_accounts_token_as_unknown(
    client: TestClient, world: World
) -> None:
    unknown = _verify(client, world.account_a, "stk_" + "1" * 64)
    error(unknown, 401, 1000)
    for account, token in (
        (world.account_a, world.write_b),
        (world.account_a, world.write_zone_b),
        (world.account_b, world.read_a),
        (world.account_b, world.read_zone_a),
        (world.account_b, world.revoked_a),
        ("f" * 32, world.read_a),  # no such account
    ):
        foreign = _verify(client, account, token)
        assert (foreign.status_code, foreign.content) == (unknown.status_code, unknown.content)


def test_account_verify_malformed_account_id_is_7003(client: TestClient, world: World) -> None:
    for account in ("XYZ", world.account_a.upper(), world.account_a + "0"):
        error(_verify(client, account, world.read_a), 400, 7003)
    # Without a token the answer is still 1001, as on /user/tokens/verify.
    error(
        client.get(f"{V4}/accounts/xyz/tokens/verify", headers=world.key(world.user_a)), 400, 1001
    )
