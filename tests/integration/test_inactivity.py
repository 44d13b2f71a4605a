"""The inactive-token job (`service_token_inactivity`) on both engines, with an injected
clock: exactly the stale tokens no policy names are disabled (or deleted), each audited and
announced on the change feed; one runner at a time across processes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind, Permission, Principal
from servicetokens.domain.tokens import ServiceToken
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.inactivity import InactiveTokens
from tests.clocks import HandClock
from tests.conftest import own_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def use_cases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UseCases]:
    """A database of this test's own: the job reads every organization in it."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('inactivity') / 'st.db'}"
        else:
            url = stack.enter_context(own_postgres_database("st_inact"))
        built = build_service(Settings(database_url=url, pool_size=4))
        try:
            yield built
        finally:
            built.close()


class Account:
    def __init__(self, use_cases: UseCases) -> None:
        admin = use_cases.admin
        self.id = admin.create_account("inactive")
        self.zone = admin.create_zone(f"z{secrets.token_hex(4)}.example", account_id=self.id)
        writer = admin.create_api_token(
            "w", scope=ContainerKind.ACCOUNT, scope_id=self.id, permission=Permission.WRITE
        )
        self.principal: Principal = use_cases.authentication.principal_for_api_token(writer.secret)
        self.ref = ContainerRef(ContainerKind.ACCOUNT, self.id, f"/accounts/{self.id}")
        self.zone_ref = ContainerRef(ContainerKind.ZONE, self.zone, f"/zones/{self.zone}")
        self.use_cases = use_cases

    def token(self, name: str, *, zone: bool = False) -> ServiceToken:
        ref = self.zone_ref if zone else self.ref
        return self.use_cases.tokens.create(self.principal, ref, TokenFields(name=name))[0]

    def organization(self, action: str, *, enabled: bool = True, zone: bool = False) -> None:
        self.use_cases.organizations.create(
            self.principal,
            self.zone_ref if zone else self.ref,
            {
                "name": "org",
                "auth_domain": f"t{secrets.token_hex(6)}.cloudflareaccess.com",
                "service_token_inactivity": {
                    "enabled": enabled,
                    "inactivity_threshold_days": 30,
                    "action": action,
                },
            },
        )

    def name_in_policy(self, token: ServiceToken) -> None:
        self.use_cases.policies.create(
            self.principal,
            self.ref,
            {
                "name": f"p-{token.name}",
                "decision": "non_identity",
                "include": [{"service_token": {"token_id": token.id}}],
            },
        )

    def seen(self, token: ServiceToken, at: datetime) -> None:
        with self.use_cases.database.write() as tx:
            tx.tokens.touch_last_seen([(token.id, at)])

    def stored(self, token: ServiceToken) -> ServiceToken | None:
        with self.use_cases.database.read() as tx:
            return tx.tokens.by_client_id(token.client_id)


def _job(use_cases: UseCases, now: datetime, batch: int = 100) -> InactiveTokens:
    return InactiveTokens(use_cases.database, clock=HandClock(now), batch=batch)


def test_stale_tokens_no_policy_names_are_disabled_and_audited(use_cases: UseCases) -> None:
    account = Account(use_cases)
    account.organization("disable")
    fresh, stale, named, zone_stale = (
        account.token("fresh"),
        account.token("stale"),
        account.token("named"),
        account.token("zone-stale", zone=True),
    )
    account.name_in_policy(named)
    now = datetime.now(UTC) + timedelta(days=35)
    account.seen(fresh, now - timedelta(days=10))
    feed_before = _feed_length(use_cases)

    run = _job(use_cases, now, batch=1).run_once()  # batch 1: the loop takes several batches

    assert run.disabled == 2
    assert not run.skipped
    assert {
        t.name: t.enabled for t in map(account.stored, [fresh, stale, named, zone_stale]) if t
    } == {
        "fresh": True,
        "stale": False,
        "named": True,
        "zone-stale": False,
    }
    entries = use_cases.admin.audit_log(account_id=account.id, since=None, limit=100)
    disabled = [e for e in entries if e.action == "service_token.inactivity_disable"]
    assert sorted(e.target for e in disabled) == sorted([stale.id, zone_stale.id])
    assert {(e.actor_kind, e.actor_id) for e in disabled} == {("system", "inactivity")}
    assert _feed_length(use_cases) == feed_before + 2  # gates evict them within a second
    assert _job(use_cases, now).run_once().disabled == 0  # a second run finds nothing


def test_delete_removes_them_and_keeps_the_count(use_cases: UseCases) -> None:
    account = Account(use_cases)
    account.organization("delete")
    kept, gone, named = account.token("kept"), account.token("gone"), account.token("named")
    account.name_in_policy(named)
    now = datetime.now(UTC) + timedelta(days=31)
    account.seen(kept, now - timedelta(days=29, hours=23))

    assert _job(use_cases, now).run_once().deleted == 1

    assert account.stored(gone) is None
    assert account.stored(kept) is not None
    assert account.stored(named) is not None
    with use_cases.database.read() as tx:
        container = tx.containers.get(ContainerKind.ACCOUNT, account.id)
        assert container is not None
        assert tx.versions.container_state(container)[1] == 2  # three created, one deleted


def test_nothing_happens_before_the_threshold_or_with_the_setting_off(
    use_cases: UseCases,
) -> None:
    on, off = Account(use_cases), Account(use_cases)
    on.organization("delete")
    off.organization("delete", enabled=False)
    young, other = on.token("young"), off.token("old")
    assert _job(use_cases, datetime.now(UTC) + timedelta(days=29)).run_once().deleted == 0
    assert on.stored(young) is not None
    assert _job(use_cases, datetime.now(UTC) + timedelta(days=400)).run_once().deleted == 1
    assert on.stored(young) is None
    assert off.stored(other) is not None  # its organization's setting is off


def test_a_zones_organization_reaches_only_the_zones_tokens(use_cases: UseCases) -> None:
    account = Account(use_cases)
    account.organization("disable", zone=True)
    in_zone, on_account = account.token("z", zone=True), account.token("a")
    _job(use_cases, datetime.now(UTC) + timedelta(days=40)).run_once()
    assert [t.enabled for t in (account.stored(in_zone), account.stored(on_account)) if t] == [
        False,
        True,
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("use_cases", ["postgresql"], indirect=True)
def test_one_runner_at_a_time_across_processes(use_cases: UseCases) -> None:
    """PostgreSQL only: on SQLite the write transaction itself admits one writer."""
    account = Account(use_cases)
    account.organization("disable")
    stale = account.token("stale")
    now = datetime.now(UTC) + timedelta(days=40)
    # Another process's run holds the job: this one skips and touches nothing.
    with use_cases.database.write() as other:
        assert other.versions.claim_job_run("service_token_inactivity")
        run = _job(use_cases, now).run_once()
    assert run.skipped
    assert run.disabled == 0
    stored = account.stored(stale)
    assert stored is not None
    assert stored.enabled
    assert _job(use_cases, now).run_once().disabled == 1  # free again after that commit


def _feed_length(use_cases: UseCases) -> int:
    with use_cases.database.read() as tx:
        return len(tx.versions.changes_since(0))


def test_the_api_process_runs_the_job_in_the_background(use_cases: UseCases) -> None:
    """`create_app(jobs=...)` (what `bootstrap.build_api` passes, every `--jobs-interval`
    seconds) starts the job with the app and stops it with the app."""
    from starlette.testclient import TestClient

    from servicetokens.api.app import create_app

    account = Account(use_cases)
    account.organization("disable")
    stale = account.token("stale")
    job = InactiveTokens(
        use_cases.database, clock=HandClock(datetime.now(UTC) + timedelta(days=60)), interval=0.02
    )
    with TestClient(create_app(use_cases, jobs=[job])):
        deadline = time.monotonic() + 10
        while (stored := account.stored(stale)) is not None and stored.enabled:
            assert time.monotonic() < deadline, "the job did not run within 10 s"
            time.sleep(0.02)  # polling with a deadline
    assert stored is not None
    assert not stored.enabled
