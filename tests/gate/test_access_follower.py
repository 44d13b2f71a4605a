"""The follower of an account's Access configuration: compiled once per control-plane
version, never replaced by an older one, trusted only while the version is being read."""

from __future__ import annotations

import time

from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.usecases.access_follower import AccessFollower
from tests.gate.access_world import app, make_org, reusable, rule_token, service_auth
from tests.gate.conftest import Tenant


def _follower(tenant: Tenant) -> AccessFollower:
    database = Database(make_engine(tenant.database_url, pool_size=2))
    return AccessFollower(database, tenant.account, interval=0.1)


def test_a_new_version_is_compiled_once_and_an_old_one_never_comes_back(tenant: Tenant) -> None:
    make_org(tenant, "follower.gate-tests.example")
    follower = _follower(tenant)
    first = follower.load()
    assert first.organization is not None
    assert first.organization.auth_domain == "follower.gate-tests.example"
    assert follower.reload() is first  # same version: nothing compiled again
    assert follower.reloads == 1
    token, _ = tenant.token()
    made = app(tenant, "follow.test", [service_auth(rule_token(token.id))])
    follower.follow_once()
    second = follower.state
    assert second is not None
    assert second.version > first.version
    match = second.index.lookup("follow.test", "/")
    assert match is not None
    assert match.app.aud == made.app.aud
    assert follower.reloads == 2
    follower.follow_once()  # nothing new
    assert follower.state is second
    assert follower.reloads == 2


def test_the_configuration_is_trusted_only_while_it_is_read(tenant: Tenant) -> None:
    follower = _follower(tenant)
    assert not follower.is_current()  # never read
    follower.load()
    now = time.monotonic()
    assert follower.is_current(now)
    assert not follower.is_current(now + 2.5)


def test_a_reload_recompiles_what_changed_and_reuses_the_rest(tenant: Tenant) -> None:
    """Editing a reusable policy recompiles exactly the applications linked to it (the
    others keep their compiled form), and what is enforced afterwards is the edit."""
    make_org(tenant, "reuse.gate-tests.example")
    first_token, _ = tenant.token()
    second_token, _ = tenant.token()
    shared = reusable(tenant, "non_identity", rule_token(first_token.id))
    linked = app(tenant, "linked.test", [shared.policy.id])
    alone = app(tenant, "alone.test", [service_auth(rule_token(first_token.id))])
    follower = _follower(tenant)
    before = follower.load()
    body = {"name": "edited", "decision": "non_identity", "include": [rule_token(second_token.id)]}
    tenant.service.policies.update(tenant.principal, tenant.ref, shared.policy.id, body)
    after = follower.reload()
    assert after.version > before.version
    assert after.index.reused == after.app_count - 1  # all but the linked one
    assert after.index.compiled[alone.app.id] is before.index.compiled[alone.app.id]
    assert after.index.compiled[linked.app.id] is not before.index.compiled[linked.app.id]
    match = after.index.lookup("linked.test", "/")
    assert match is not None
    assert match.compiled.view is match.app
    (policy,) = match.app.policies
    assert policy.include == ({"service_token": {"token_id": second_token.id}},)
