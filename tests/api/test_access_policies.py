"""Reusable Access policies over HTTP (`/accounts/{account_id}/access/policies`), on SQLite
and PostgreSQL: every operation, its status, its errors, and exact round trips."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.usecases.facade import UseCases
from tests.api.access_helpers import SDK_RULES, new_token, policies_url, policy_body
from tests.api.test_service_tokens import UUID_RE, V4, error, ok, parse_ts
from tests.conftest import World

READ_ONLY = ("id", "created_at", "updated_at", "reusable", "app_count", "account_id")


def create(client: TestClient, world: World, **overrides: Any) -> dict[str, Any]:
    body = policy_body(**overrides)
    return dict(
        ok(client.post(policies_url(world), json=body, headers=world.bearer(world.write_a)), 201)
    )


def test_create_returns_201_with_defaults_and_read_only_fields(
    client: TestClient, world: World
) -> None:
    created = create(client, world)
    assert UUID_RE.match(created["id"])
    assert created == {
        "id": created["id"],
        "name": "service auth",
        "decision": "non_identity",
        "include": [{"any_valid_service_token": {}}],
        "require": [],
        "exclude": [],
        "session_duration": "24h",
        "approval_groups": [],
        "approval_required": False,
        "isolation_required": False,
        "purpose_justification_required": False,
        "created_at": created["created_at"],
        "updated_at": created["created_at"],
        "reusable": True,
        "account_id": world.account_a,
        "app_count": 0,
    }
    parse_ts(created["created_at"])
    fetched = ok(
        client.get(f"{policies_url(world)}/{created['id']}", headers=world.bearer(world.read_a))
    )
    assert fetched == created


def test_every_sdk_rule_shape_round_trips_exactly(client: TestClient, world: World) -> None:
    token_id = new_token(client, world)
    rules = [*SDK_RULES, {"service_token": {"token_id": token_id}}]
    settings = {
        "session_duration": "30m",
        "approval_groups": [
            {"approvals_needed": 2, "email_addresses": ["a@example.com"], "email_list_uuid": "u"}
        ],
        "approval_required": True,
        "isolation_required": True,
        "purpose_justification_required": True,
        "purpose_justification_prompt": "why?",
        "connection_rules": {"rdp": {"allowed_clipboard_local_to_remote_formats": ["text"]}},
        "mfa_config": {"allowed_authenticators": ["totp"], "mfa_disabled": False},
    }
    created = create(client, world, include=rules, require=rules[:3], exclude=rules[5:], **settings)
    assert created["include"] == rules
    assert created["require"] == rules[:3]
    assert created["exclude"] == rules[5:]
    for key, value in settings.items():
        assert created[key] == value
    listed = ok(client.get(policies_url(world), headers=world.bearer(world.write_a)))
    assert [p for p in listed if p["id"] == created["id"]] == [created]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"name": None}, "name is required"),
        ({"decision": None}, "decision is required"),
        ({"include": None}, "include is required"),
        ({"include": []}, "include must contain at least one rule"),
        ({"name": "   "}, "name must not be empty"),
        ({"name": "x" * 351}, "limit is 350"),
        ({"decision": "block"}, "decision must be one of allow, deny, non_identity, bypass"),
        ({"include": {"everyone": {}}}, "include must be an array of rules"),
        ({"include": ["everyone"]}, "invalid rule: include[0] is not an object"),
        ({"include": [{}]}, "invalid rule: include[0] must have exactly one selector, not 0"),
        ({"include": [{"everyone": {}, "ip": {"ip": "1.1.1.1"}}]}, "exactly one selector, not 2"),
        ({"require": [{"everyone": True}]}, "invalid rule: require[0] everyone must be an object"),
        ({"include": [{"ip": {"ip": "10.0.0.0/33"}}]}, "is not an address or CIDR block"),
        ({"include": [{"ip": {}}]}, "ip needs an ip string"),
        ({"exclude": [{"service_token": {}}]}, "service_token needs a token_id string"),
        (
            {"include": [{"service_token": {"token_id": "6f8570ee-25f8-4f16-a6ac-8c4374e40c1f"}}]},
            "service token 6f8570ee-25f8-4f16-a6ac-8c4374e40c1f not found",
        ),
        ({"session_duration": "1d"}, "session_duration"),
        ({"session_duration": "-1h"}, "session_duration must not be negative"),
        ({"approval_required": "yes"}, "approval_required must be a boolean"),
        ({"approval_groups": [{"email_addresses": []}]}, "approvals_needed is required"),
        ({"approval_groups": [{"approvals_needed": -1}]}, "approvals_needed must be at least 0"),
        (
            {"decision": "bypass", "include": [{"email": {"email": "a@example.com"}}]},
            "bypass policies cannot use identity-based rules (email)",
        ),
    ],
)
def test_invalid_bodies_are_400_12130(
    client: TestClient, world: World, change: dict[str, Any], detail: str
) -> None:
    body = policy_body()
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post(policies_url(world), json=body, headers=world.bearer(world.write_a))
    failure = error(response, 400, 12130)
    assert failure["message"].startswith("access.api.error.invalid_request: ")
    assert detail in failure["message"], failure


def test_body_that_is_not_an_object_or_not_json(client: TestClient, world: World) -> None:
    headers = {**world.bearer(world.write_a), "content-type": "application/json"}
    error(client.post(policies_url(world), content=b"[1]", headers=headers), 400, 12130)
    error(client.post(policies_url(world), content=b"{nope", headers=headers), 400, 12130)
    error(client.post(policies_url(world), content=b"", headers=headers), 400, 12130)


def test_token_of_another_account_cannot_be_named(client: TestClient, world: World) -> None:
    foreign = ok(
        client.post(
            f"{V4}/accounts/{world.account_b}/access/service_tokens",
            json={"name": "b"},
            headers=world.bearer(world.write_b),
        ),
        201,
    )["id"]
    body = policy_body(include=[{"service_token": {"token_id": foreign}}])
    response = client.post(policies_url(world), json=body, headers=world.bearer(world.write_a))
    assert f"service token {foreign} not found" in error(response, 400, 12130)["message"]


def test_zone_tokens_of_the_account_may_be_named(client: TestClient, world: World) -> None:
    zone_token = new_token(client, world, scope="zone")
    created = create(client, world, include=[{"service_token": {"token_id": zone_token}}])
    assert created["include"] == [{"service_token": {"token_id": zone_token}}]


def test_put_replaces_the_whole_policy(client: TestClient, world: World) -> None:
    created = create(
        client,
        world,
        require=[{"ip": {"ip": "10.0.0.0/8"}}],
        session_duration="1h",
        approval_required=True,
        purpose_justification_prompt="why",
    )
    url = f"{policies_url(world)}/{created['id']}"
    replacement = {"name": "renamed", "decision": "allow", "include": [{"everyone": {}}]}
    updated = ok(client.put(url, json=replacement, headers=world.bearer(world.write_a)))
    assert updated["name"] == "renamed"
    assert updated["decision"] == "allow"
    assert updated["include"] == [{"everyone": {}}]
    # Omitted optional fields revert to their defaults: PUT is a replacement.
    assert updated["require"] == []
    assert updated["session_duration"] == "24h"
    assert updated["approval_required"] is False
    assert "purpose_justification_prompt" not in updated
    assert updated["id"] == created["id"]
    assert updated["created_at"] == created["created_at"]
    assert parse_ts(updated["updated_at"]) > parse_ts(created["updated_at"])
    assert ok(client.get(url, headers=world.bearer(world.write_a))) == updated


def test_put_ignores_read_only_fields_and_requires_the_whole_policy(
    client: TestClient, world: World
) -> None:
    created = create(client, world)
    url = f"{policies_url(world)}/{created['id']}"
    sent = {**created, "id": "00000000-0000-0000-0000-000000000000", "app_count": 99}
    sent["created_at"] = "2001-01-01T00:00:00Z"
    updated = ok(client.put(url, json=sent, headers=world.bearer(world.write_a)))
    assert {k: updated[k] for k in READ_ONLY if k != "updated_at"} == {
        k: created[k] for k in READ_ONLY if k != "updated_at"
    }
    partial = client.put(url, json={"name": "only a name"}, headers=world.bearer(world.write_a))
    assert "decision is required" in error(partial, 400, 12130)["message"]


def test_delete_is_202_with_the_id_then_404(client: TestClient, world: World) -> None:
    created = create(client, world)
    url = f"{policies_url(world)}/{created['id']}"
    # Python's SDK labels an empty DELETE body as JSON.
    headers = {**world.bearer(world.write_a), "content-type": "application/json"}
    assert ok(client.delete(url, headers=headers), 202) == {"id": created["id"]}
    error(client.get(url, headers=headers), 404, 12135)
    error(client.delete(url, headers=headers), 404, 12135)
    error(client.put(url, json=policy_body(), headers=headers), 404, 12135)


@pytest.mark.parametrize("policy_id", ["6f8570ee-25f8-4f16-a6ac-8c4374e40c1f", "nope", "A" * 36])
def test_unknown_or_malformed_ids_are_404_12135(
    client: TestClient, world: World, policy_id: str
) -> None:
    url = f"{policies_url(world)}/{policy_id}"
    headers = world.bearer(world.write_a)
    failure = error(client.get(url, headers=headers), 404, 12135)
    assert failure["message"] == "access.api.error.not_found"
    error(client.delete(url, headers=headers), 404, 12135)


def test_list_pages_like_cloudflare(client: TestClient, world: World) -> None:
    made = [create(client, world, name=f"p{i}")["id"] for i in range(5)]
    headers = world.bearer(world.read_a)
    url = policies_url(world)
    body = client.get(url, params={"per_page": 2}, headers=headers).json()
    assert [p["id"] for p in body["result"]] == made[:2]
    assert body["result_info"] == {
        "page": 1,
        "per_page": 2,
        "count": 2,
        "total_count": 5,
        "total_pages": 3,
    }
    pages = [
        [p["id"] for p in ok(client.get(url, params={"per_page": 2, "page": n}, headers=headers))]
        for n in (1, 2, 3, 4)
    ]
    assert pages == [made[:2], made[2:4], made[4:], []]
    assert ok(client.get(url, params={"page": 10**12}, headers=headers)) == []
    error(client.get(url, params={"page": "0"}, headers=headers), 400, 12130)
    clamped = client.get(url, params={"per_page": 5000}, headers=headers).json()
    assert clamped["result_info"]["per_page"] == 1000


def test_read_credentials_cannot_write(client: TestClient, world: World) -> None:
    created = create(client, world)
    read = world.bearer(world.read_a)
    url = f"{policies_url(world)}/{created['id']}"
    error(client.post(policies_url(world), json=policy_body(), headers=read), 403, 10000)
    error(client.put(url, json=policy_body(), headers=read), 403, 10000)
    error(client.delete(url, headers=read), 403, 10000)
    # Authorization is checked before the body: a bad body from a reader is still 403.
    error(client.post(policies_url(world), content=b"{nope", headers=read), 403, 10000)


def test_reusable_policies_have_no_zone_scope(client: TestClient, world: World) -> None:
    response = client.get(
        f"{V4}/zones/{world.zone_a}/access/policies", headers=world.bearer(world.write_a)
    )
    error(response, 404, 7000)


def test_every_change_is_audited_and_bumps_the_control_plane_version(
    client: TestClient, world: World, service: UseCases
) -> None:
    def version() -> int:
        with service.database.read() as tx:
            return tx.versions.control_plane_version(world.account_a)

    before = version()
    created = create(client, world)
    url = f"{policies_url(world)}/{created['id']}"
    ok(client.put(url, json=policy_body(name="again"), headers=world.bearer(world.write_a)))
    ok(client.delete(url, headers=world.bearer(world.write_a)), 202)
    assert version() == before + 3
    actions = [
        entry.action
        for entry in service.admin.audit_log(account_id=world.account_a)
        if entry.target == created["id"]
    ]
    assert sorted(actions) == sorted(
        ["access_policy.create", "access_policy.update", "access_policy.delete"]
    )
