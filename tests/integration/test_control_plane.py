"""What gates read of the control plane, on SQLite and PostgreSQL: one account's snapshot
(applications with their policies in order, reusable policies, organizations), its version
moving with every write in the write's own transaction, the NOTIFY on PostgreSQL, and a
snapshot read that no concurrent commit can tear."""

from __future__ import annotations

import psycopg
import pytest

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.errors import NotFound
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.store.versions import CONTROL_PLANE_CHANNEL
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.conftest import World, make_world

POLICY = {"name": "svc", "decision": "non_identity", "include": [{"any_valid_service_token": {}}]}


def principal(service: UseCases, world: World) -> Principal:
    return service.authentication.principal_for_api_token(world.write_a)


def account(world: World) -> ContainerRef:
    return ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")


def zone(world: World) -> ContainerRef:
    return ContainerRef(ContainerKind.ZONE, world.zone_a, "/")


def test_an_account_without_a_control_plane(service: UseCases, world: World) -> None:
    snapshot = service.control_plane.snapshot(world.account_a)
    assert (snapshot.version, snapshot.applications, snapshot.organizations) == (0, (), ())
    assert snapshot.organization is None
    assert service.control_plane.version(world.account_a) == 0


def test_the_snapshot_holds_the_whole_account_and_nothing_else(
    service: UseCases, world: World
) -> None:
    me = principal(service, world)
    token, _ = service.tokens.create(me, account(world), TokenFields(name="t"))
    named = {
        **POLICY,
        "name": "named",
        "include": [{"service_token": {"token_id": token.id}}],
    }
    shared = service.policies.create(me, account(world), POLICY).policy
    deny = service.policies.create(me, account(world), {**POLICY, "decision": "deny"}).policy
    app = service.applications.create(
        me,
        account(world),
        {
            "type": "self_hosted",
            "domain": "app.example.com",
            "policies": [{"id": deny.id, "precedence": 2}, {"id": shared.id, "precedence": 1}],
        },
    ).app
    zone_app = service.applications.create(
        me, zone(world), {"type": "self_hosted", "domain": "z.a.example", "policies": [named]}
    ).app
    org = service.organizations.update(
        me, account(world), {"name": "A", "auth_domain": f"{world.account_a}.example"}
    )
    other = service.authentication.principal_for_api_token(world.write_b)
    service.applications.create(
        other,
        ContainerRef(ContainerKind.ACCOUNT, world.account_b, "/"),
        {"type": "self_hosted", "domain": "b.example.com"},
    )

    snapshot = service.control_plane.snapshot(world.account_a)
    assert snapshot.version == service.control_plane.version(world.account_a) == 5
    assert [expanded.app.id for expanded in snapshot.applications] == [app.id, zone_app.id]
    first, second = snapshot.applications
    assert [(p.policy.id, p.precedence) for p in first.policies] == [(shared.id, 1), (deny.id, 2)]
    assert [(p.policy.fields.name, p.policy.app_id) for p in second.policies] == [
        ("named", zone_app.id)
    ]
    assert second.app.container.kind is ContainerKind.ZONE
    assert {p.id for p in snapshot.reusable_policies} == {shared.id, deny.id}
    assert snapshot.organization == org
    assert snapshot.organization is not None
    assert snapshot.organization.auth_domain == f"{world.account_a}.example"
    assert snapshot.organization.strict_service_token_auth is True


def test_every_control_plane_write_moves_the_version_by_one(
    service: UseCases, world: World
) -> None:
    me, ref = principal(service, world), account(world)
    version = service.control_plane.version

    def moved(before: int) -> int:
        after = version(world.account_a)
        assert after == before + 1
        return after

    current = version(world.account_a)
    policy = service.policies.create(me, ref, POLICY).policy
    current = moved(current)
    service.policies.update(me, ref, policy.id, {**POLICY, "name": "renamed"})
    current = moved(current)
    app = service.applications.create(me, ref, {"type": "self_hosted", "domain": "v.example"}).app
    current = moved(current)
    service.applications.update(
        me, ref, app.id, {"type": "self_hosted", "domain": "v.example", "policies": [policy.id]}
    )
    current = moved(current)
    scoped = service.app_policies.create(me, ref, app.id, POLICY).policy
    current = moved(current)
    service.app_policies.update(me, ref, app.id, scoped.id, {"precedence": 9})
    current = moved(current)
    service.app_policies.delete(me, ref, app.id, scoped.id)
    current = moved(current)
    service.applications.revoke_tokens(me, ref, app.id)
    current = moved(current)
    service.organizations.create(me, ref, {"name": "V", "auth_domain": f"{ref.id}.example"})
    current = moved(current)
    service.organizations.update(me, ref, {"session_duration": "1h"})
    current = moved(current)
    service.applications.delete(me, ref, app.id)
    current = moved(current)
    service.policies.delete(me, ref, policy.id)
    current = moved(current)
    # A refused write moves nothing; nor does a token write.
    with pytest.raises(NotFound):
        service.policies.update(me, ref, policy.id, POLICY)
    service.tokens.create(me, ref, TokenFields(name="t"))
    assert version(world.account_a) == current


def test_a_snapshot_read_is_not_torn_by_a_commit(service: UseCases, world: World) -> None:
    me, ref = principal(service, world), account(world)
    service.policies.create(me, ref, POLICY)
    with service.database.snapshot() as tx:
        before = tx.versions.control_plane_version(world.account_a)
        policies = len(tx.access_policies.of_account(world.account_a))
        service.policies.create(me, ref, POLICY)  # commits on another connection
        assert tx.versions.control_plane_version(world.account_a) == before
        assert len(tx.access_policies.of_account(world.account_a)) == policies
    assert service.control_plane.version(world.account_a) == before + 1


@pytest.mark.postgres
def test_postgres_notifies_the_account_on_commit(postgres_database: str) -> None:
    service = build_service(Settings(database_url=postgres_database, pool_size=2))
    try:
        world = make_world(service)
        me, ref = principal(service, world), account(world)
        with psycopg.connect(postgres_database, autocommit=True) as listener:
            listener.execute(f"LISTEN {CONTROL_PLANE_CHANNEL}")
            service.tokens.create(me, ref, TokenFields(name="no notice on this channel"))
            service.policies.create(me, ref, POLICY)
            notices = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        assert notices == [world.account_a]
    finally:
        service.close()
