"""Use cases without a server: a migrated SQLite file per test, a clock moved by hand, and an
account (with a zone) whose writer and reader principals the tests act as."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.permissions import ContainerKind, Permission, Principal
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.admin import IssuedCredential
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def use_cases(tmp_path: Path, clock: HandClock) -> Iterator[UseCases]:
    """The use cases on a fresh, migrated SQLite file."""
    engine = make_engine(f"sqlite:///{tmp_path / 'unit.db'}", pool_size=2)
    upgrade(engine)
    made = build_use_cases(Database(engine), clock=clock)
    try:
        yield made
    finally:
        made.close()


@dataclass(frozen=True)
class Tenant:
    """An account and its zone, with API tokens that write and read the account, and one
    that writes the zone only."""

    account: ContainerRef
    zone: ContainerRef
    writer: IssuedCredential
    reader: IssuedCredential
    zone_writer: IssuedCredential
    use_cases: UseCases

    def principal(self, credential: IssuedCredential) -> Principal:
        return self.use_cases.authentication.principal_for_api_token(credential.secret)


def make_tenant(use_cases: UseCases) -> Tenant:
    """A fresh account (and zone) with its credentials."""
    admin = use_cases.admin
    account = admin.create_account("unit")
    zone = admin.create_zone("unit.example", account_id=account)

    def token(kind: ContainerKind, scope: str, permission: Permission) -> IssuedCredential:
        return admin.create_api_token("t", scope=kind, scope_id=scope, permission=permission)

    return Tenant(
        account=ContainerRef(ContainerKind.ACCOUNT, account, f"/accounts/{account}"),
        zone=ContainerRef(ContainerKind.ZONE, zone, f"/zones/{zone}"),
        writer=token(ContainerKind.ACCOUNT, account, Permission.WRITE),
        reader=token(ContainerKind.ACCOUNT, account, Permission.READ),
        zone_writer=token(ContainerKind.ZONE, zone, Permission.WRITE),
        use_cases=use_cases,
    )


@pytest.fixture
def tenant(use_cases: UseCases) -> Tenant:
    return make_tenant(use_cases)
