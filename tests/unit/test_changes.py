"""`usecases.changes`: every mutation's change (versions, change feed) and its audit entry are
written in the mutation's transaction: both, or neither."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from servicetokens.domain.errors import NotFound, ValidationError
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import Container, ContainerKind, Permission
from servicetokens.domain.tokens import create_token
from servicetokens.store.database import Transaction
from servicetokens.store.schema import token_changes
from servicetokens.usecases.changes import record_operator_change, record_token_change
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.unit.conftest import Tenant


def _state(use_cases: UseCases, tenant: Tenant) -> tuple[int, int, int, int, list[str]]:
    """(container version, token count, credentials version, change-feed rows, audit
    actions of the account)."""
    ref = tenant.account
    version, count, credentials = use_cases.database.probe_versions(ref.kind, ref.id)
    with use_cases.database.read() as tx:
        feed = tx.connection.execute(select(func.count()).select_from(token_changes)).scalar_one()
        actions = [e.action for e in tx.audit.entries(account_id=ref.id, since=None, limit=1000)]
    return version, count, credentials, feed, actions


def test_every_token_mutation_records_its_change_and_its_entry(
    use_cases: UseCases, tenant: Tenant, clock: HandClock
) -> None:
    tokens, writer, ref = use_cases.tokens, tenant.principal(tenant.writer), tenant.account
    version, count, credentials, feed, actions = _state(use_cases, tenant)
    token, _ = tokens.create(writer, ref, TokenFields(name="one"))
    tokens.update(writer, ref, token.id, TokenFields(name="uno"))
    tokens.update(writer, ref, token.id, TokenFields(client_secret_version=2))
    tokens.refresh(writer, ref, token.id)
    tokens.rotate(writer, ref, token.id, previous_expires_at=clock() + timedelta(hours=1))
    tokens.delete(writer, ref, token.id)
    after = _state(use_cases, tenant)
    assert after[:4] == (version + 6, count, credentials, feed + 6)
    assert after[4][len(actions) :] == [
        f"service_token.{action}"
        for action in ("create", "update", "update_rotate", "refresh", "rotate", "delete")
    ]
    entries = use_cases.admin.audit_log(account_id=ref.id, limit=6)
    assert {(e.actor_kind, e.actor_id, e.target) for e in entries} == {
        ("api_token", writer.id, token.id)
    }


def test_the_token_count_follows_creates_and_deletes(use_cases: UseCases, tenant: Tenant) -> None:
    tokens, writer, ref = use_cases.tokens, tenant.principal(tenant.writer), tenant.account
    made = [tokens.create(writer, ref, TokenFields(name=f"n{i}"))[0] for i in range(3)]
    assert _state(use_cases, tenant)[1] == 3
    tokens.delete(writer, ref, made[0].id)
    assert _state(use_cases, tenant)[1] == 2


def _record_then_fail(tx: Transaction, tenant: Tenant, now: datetime) -> None:
    container = Container(ContainerKind.ACCOUNT, tenant.account.id, tenant.account.id)
    token, _ = create_token(TokenFields(name="doomed"), container=container, now=now)
    tx.tokens.insert(token)
    writer = tenant.principal(tenant.writer)
    record_token_change(tx, writer, "create", token, now=now, count_delta=1)
    raise RuntimeError("the use case fails after recording")


@pytest.mark.parametrize("path", ["write", "run_write"])
def test_a_unit_that_fails_after_recording_leaves_neither(
    use_cases: UseCases, tenant: Tenant, clock: HandClock, path: str
) -> None:
    before = _state(use_cases, tenant)

    def unit(tx: Transaction) -> None:
        _record_then_fail(tx, tenant, clock())

    def in_a_transaction() -> None:
        with use_cases.database.write() as tx:
            unit(tx)

    # `run_write` on SQLite: group commit, where the unit's savepoint is rolled back.
    run = in_a_transaction if path == "write" else lambda: use_cases.database.run_write(unit)
    with pytest.raises(RuntimeError, match="after recording"):
        run()
    assert _state(use_cases, tenant) == before


def test_refused_mutations_record_nothing(use_cases: UseCases, tenant: Tenant) -> None:
    tokens, writer, ref = use_cases.tokens, tenant.principal(tenant.writer), tenant.account
    token, _ = tokens.create(writer, ref, TokenFields(name="kept"))
    tokens.update(writer, ref, token.id, TokenFields(client_secret_version=3))
    before = _state(use_cases, tenant)
    with pytest.raises(ValidationError, match="lower than the current version"):
        tokens.update(writer, ref, token.id, TokenFields(name="x", client_secret_version=2))
    with pytest.raises(NotFound):
        tokens.delete(writer, ref, "f174e90a-fafe-4643-bbbc-4a0ed4fc8415")
    assert _state(use_cases, tenant) == before


def test_operator_changes_to_credentials_bump_the_credentials_version(
    use_cases: UseCases, tenant: Tenant
) -> None:
    admin, account = use_cases.admin, tenant.account.id
    _, _, credentials, _, actions = _state(use_cases, tenant)
    issued = admin.create_api_token(
        "op", scope=ContainerKind.ACCOUNT, scope_id=account, permission=Permission.READ
    )
    admin.revoke_api_token(issued.id)
    user = admin.create_user("op@example.com", account_id=account)
    admin.rotate_user_key(user.id, account_id=account)
    admin.remove_user(user.id, account_id=account)
    admin.create_zone("no-credential.example", account_id=account)  # audited, no bump
    _, _, now_credentials, _, now_actions = _state(use_cases, tenant)
    assert now_credentials == credentials + 5
    assert now_actions[len(actions) :] == [
        "api_token.create",
        "user.create",
        "user.rotate_key",
        "user.remove",
        "zone.create",
    ]  # a revoke names no account: it is audited under none
    assert any(
        e.action == "api_token.revoke" and e.target == issued.id
        for e in admin.audit_log(account_id=None, limit=1000)
    )


def test_a_refused_operator_change_records_nothing(use_cases: UseCases, tenant: Tenant) -> None:
    before = _state(use_cases, tenant)
    with pytest.raises(ValidationError):
        use_cases.admin.revoke_api_token("0" * 32)
    with pytest.raises(ValidationError):
        use_cases.admin.rotate_user_key("nobody@example.com", account_id=tenant.account.id)
    assert _state(use_cases, tenant) == before


def test_record_operator_change_writes_in_the_callers_transaction(
    use_cases: UseCases, tenant: Tenant, clock: HandClock
) -> None:
    before = _state(use_cases, tenant)

    def record(*, then_fail: bool) -> None:
        with use_cases.database.write() as tx:
            record_operator_change(
                tx, "user.create", now=clock(), account_id=tenant.account.id, credentials=True
            )
            if then_fail:
                raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        record(then_fail=True)
    assert _state(use_cases, tenant) == before
    record(then_fail=False)
    after = _state(use_cases, tenant)
    assert after[2] == before[2] + 1
    assert after[4] == [*before[4], "user.create"]
