"""Every mutation is audited: who, which credential, what, when, from where; never a secret."""

from __future__ import annotations

import json
import subprocess
import sys

from starlette.testclient import TestClient

from servicetokens.usecases.facade import UseCases
from tests.api.test_service_tokens import auth, base, ok
from tests.conftest import World


def test_mutations_are_audited_without_secrets(
    client: TestClient, world: World, service: UseCases
) -> None:
    url = base(world, "account")
    created = ok(client.post(url, json={"name": "audited"}, headers=auth(world, "account")), 201)
    item = f"{url}/{created['id']}"
    ok(client.put(item, json={"name": "renamed"}, headers=auth(world, "account")))
    bumped = ok(
        client.put(item, json={"client_secret_version": 2}, headers=world.key(world.user_a))
    )
    ok(client.post(f"{item}/refresh", headers=auth(world, "account")))
    rotated = ok(client.post(f"{item}/rotate", json={}, headers=auth(world, "account")))
    ok(client.delete(item, headers=auth(world, "account")))

    entries = [
        e
        for e in service.admin.audit_log(account_id=world.account_a, limit=1000)
        if e.target == created["id"]
    ]
    assert [e.action for e in entries] == [
        "service_token.create",
        "service_token.update",
        "service_token.update_rotate",
        "service_token.refresh",
        "service_token.rotate",
        "service_token.delete",
    ]
    write_token_id = service.authentication.principal_for_api_token(world.write_a).id
    assert entries[0].actor_kind == "api_token"
    assert entries[0].actor_id == write_token_id
    assert entries[2].actor_kind == "user"
    assert entries[2].actor_id == world.user_a[0]
    assert entries[1].detail["fields"] == ["name"]
    assert all(e.origin for e in entries)
    assert all(e.detail["client_id"] == created["client_id"] for e in entries)
    dumped = json.dumps([e.detail for e in entries])
    for secret in (created["client_secret"], bumped["client_secret"], rotated["client_secret"]):
        assert secret not in dumped
    assert world.write_a not in dumped


def test_denied_requests_change_nothing_and_audit_nothing(
    client: TestClient, world: World, service: UseCases
) -> None:
    before = service.admin.audit_log(account_id=world.account_a, limit=1000)
    response = client.post(
        base(world, "account"), json={"name": "x"}, headers=world.bearer(world.read_a)
    )
    assert response.status_code == 403
    assert service.admin.audit_log(account_id=world.account_a, limit=1000) == before


def test_audit_cli(service: UseCases, world: World, database_url: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "servicetokens",
            "--database",
            database_url,
            "audit",
            "list",
            "--account",
            world.account_a,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    actions = {line["action"] for line in lines}
    assert {"account.create", "zone.create", "api_token.create", "user.create"} <= actions
    assert all(line["account_id"] == world.account_a for line in lines)
    assert world.write_a not in out.stdout


def test_total_count_follows_creates_and_deletes(client: TestClient, world: World) -> None:
    url = base(world, "account")
    ids = [
        ok(client.post(url, json={"name": f"c{i}"}, headers=auth(world, "account")), 201)["id"]
        for i in range(5)
    ]
    ok(client.delete(f"{url}/{ids[0]}", headers=auth(world, "account")))
    ok(client.delete(f"{url}/{ids[3]}", headers=auth(world, "account")))
    body = client.get(url, params={"per_page": 2}, headers=auth(world, "account")).json()
    assert body["result_info"]["total_count"] == 3
    assert body["result_info"]["total_pages"] == 2


def _origin_of_create(
    service: UseCases, world: World, client: TestClient, **headers: str
) -> object:
    url = base(world, "account")
    created = ok(
        client.post(url, json={"name": "origin"}, headers={**auth(world, "account"), **headers}),
        201,
    )
    (entry,) = [
        e
        for e in service.admin.audit_log(account_id=world.account_a, limit=1000)
        if e.target == created["id"]
    ]
    return entry.origin


def test_the_audit_origin_is_the_client_a_trusted_proxy_names(
    service: UseCases, world: World
) -> None:
    from servicetokens.api import create_app
    from servicetokens.domain.network import TrustedProxies

    with TestClient(create_app(service), client=("127.0.0.1", 50000)) as behind_loopback:
        assert _origin_of_create(service, world, behind_loopback) == "127.0.0.1"
        forwarded = {"X-Forwarded-For": "6.6.6.6, 203.0.113.5"}
        assert _origin_of_create(service, world, behind_loopback, **forwarded) == "203.0.113.5"
        garbage = {"X-Forwarded-For": "<script>alert(1)</script>" + "x" * 100}
        assert _origin_of_create(service, world, behind_loopback, **garbage) == "127.0.0.1"
    app = create_app(service, trusted_proxies=TrustedProxies(["none"]))
    with TestClient(app, client=("127.0.0.1", 50000)) as untrusting:
        forwarded = {"X-Forwarded-For": "203.0.113.5"}
        assert _origin_of_create(service, world, untrusting, **forwarded) == "127.0.0.1"
    with TestClient(create_app(service), client=("198.51.100.9", 50000)) as direct:
        forwarded = {"X-Forwarded-For": "203.0.113.5"}
        assert _origin_of_create(service, world, direct, **forwarded) == "198.51.100.9"
    with TestClient(create_app(service)) as no_ip:  # a peer that is not an address
        assert _origin_of_create(service, world, no_ip) is None
