"""An application's policies over HTTP, on SQLite and PostgreSQL: the `policies` field of
an application (ids, links, inline policies, precedence) and the app-scoped policy routes
(`/{accounts|zones}/{id}/access/apps/{app_id}/policies[/{policy_id}]`)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.access_helpers import apps_url, new_token, policies_url, policy_body
from tests.api.test_access_apps import auth, host, make_app, make_policy
from tests.api.test_service_tokens import UUID_RE, V4, error, ok, parse_ts
from tests.conftest import World

SCOPES = ["account", "zone"]
UNIQUE = "access.api.error.invalid_request: policy precedences must be unique"
MANAGED = "access.api.error.invalid_request: reusable policies are managed at /access/policies"


def inline(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "decision": "non_identity", "include": [{"everyone": {}}], **fields}


def policies_of(
    client: TestClient, world: World, app: dict[str, Any], scope: str = "account"
) -> str:
    return f"{apps_url(world, scope)}/{app['id']}/policies"


def test_ids_and_links_take_precedence_from_order_or_explicitly(
    client: TestClient, world: World
) -> None:
    a, b, c = (make_policy(client, world, name=n) for n in "abc")
    app = make_app(
        client,
        world,
        policies=[b["id"], {"id": a["id"], "precedence": 7}, {"id": c["id"]}],
    )
    assert [(p["id"], p["precedence"], p["reusable"]) for p in app["policies"]] == [
        (b["id"], 1, True),
        (c["id"], 3, True),
        (a["id"], 7, True),
    ]
    expanded = app["policies"][0]
    assert {k: expanded[k] for k in ("name", "decision", "include", "require", "exclude")} == {
        "name": "b",
        "decision": "non_identity",
        "include": [{"any_valid_service_token": {}}],
        "require": [],
        "exclude": [],
    }
    for policy in (a, b, c):
        assert (
            ok(client.get(f"{policies_url(world)}/{policy['id']}", headers=auth(world)))[
                "app_count"
            ]
            == 1
        )


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ([{"id": "A", "precedence": 1}, {"id": "B", "precedence": 1}], UNIQUE),
        (["A", {"id": "B", "precedence": 1}], UNIQUE),
        (["A", "A"], "access.api.error.invalid_request: policies names one policy twice"),
        (
            ["A", inline("mixed")],
            "access.api.error.invalid_request: reusable and inline policies are mutually exclusive",
        ),
    ],
)
def test_policies_field_errors(
    client: TestClient, world: World, policies: list[Any], message: str
) -> None:
    ids = {"A": make_policy(client, world)["id"], "B": make_policy(client, world)["id"]}

    def real(item: Any) -> Any:
        if isinstance(item, str):
            return ids.get(item, item)
        if "id" in item:
            return {**item, "id": ids[item["id"]]}
        return item

    body = {"type": "self_hosted", "domain": host(), "policies": [real(p) for p in policies]}
    assert (
        error(client.post(apps_url(world), json=body, headers=auth(world)), 400, 12130)["message"]
        == message
    )


def test_unknown_or_foreign_reusable_ids_are_not_found(client: TestClient, world: World) -> None:
    foreign = ok(
        client.post(
            f"{V4}/accounts/{world.account_b}/access/policies",
            json=policy_body(),
            headers=world.bearer(world.write_b),
        ),
        201,
    )["id"]
    for missing in (str(uuid.uuid4()), foreign):
        body = {"type": "self_hosted", "domain": host(), "policies": [missing]}
        response = client.post(apps_url(world), json=body, headers=auth(world))
        assert error(response, 400, 12130)["message"] == (
            f"access.api.error.invalid_request: policy {missing} not found"
        )


@pytest.mark.parametrize("scope", SCOPES)
def test_inline_policies_are_created_updated_and_dropped_with_the_app_body(
    client: TestClient, world: World, scope: str
) -> None:
    app = make_app(client, world, scope, policies=[inline("first"), inline("second")])
    first, second = app["policies"]
    assert [(p["name"], p["precedence"], p["reusable"]) for p in app["policies"]] == [
        ("first", 1, False),
        ("second", 2, False),
    ]
    assert UUID_RE.match(first["id"])
    url = f"{apps_url(world, scope)}/{app['id']}"
    body = {
        "type": "self_hosted",
        "domain": app["domain"],
        "policies": [
            {"id": second["id"], "precedence": 1, "decision": "deny"},
            inline("third", precedence=5),
        ],
    }
    updated = ok(client.put(url, json=body, headers=auth(world, scope)))
    kept, third = updated["policies"]
    assert (kept["id"], kept["name"], kept["decision"], kept["precedence"]) == (
        second["id"],
        "second",
        "deny",
        1,
    )
    assert kept["created_at"] == second["created_at"]
    assert parse_ts(kept["updated_at"]) > parse_ts(second["updated_at"])
    assert (third["name"], third["precedence"]) == ("third", 5)
    listed = ok(client.get(policies_of(client, world, app, scope), headers=auth(world, scope)))
    assert [p["id"] for p in listed] == [second["id"], third["id"]]
    # The first one is gone for good.
    error(
        client.get(
            f"{policies_of(client, world, app, scope)}/{first['id']}", headers=auth(world, scope)
        ),
        404,
        12135,
    )


def test_app_scoped_routes_create_get_merge_and_delete(client: TestClient, world: World) -> None:
    app = make_app(client, world, policies=[inline("own")])
    url = policies_of(client, world, app)
    created = ok(client.post(url, json=inline("added"), headers=auth(world)), 201)
    assert (created["precedence"], created["reusable"]) == (2, False)
    assert "app_count" not in created
    item = f"{url}/{created['id']}"
    assert ok(client.get(item, headers=auth(world))) == created
    moved = ok(client.put(item, json={"precedence": 9}, headers=auth(world)))
    assert (moved["precedence"], moved["name"], moved["include"]) == (
        9,
        "added",
        [{"everyone": {}}],
    )
    renamed = ok(
        client.put(
            item,
            json={"name": "renamed", "exclude": [{"ip": {"ip": "10.1.0.0/16"}}]},
            headers=auth(world),
        )
    )
    assert (renamed["name"], renamed["precedence"]) == ("renamed", 9)
    assert renamed["exclude"] == [{"ip": {"ip": "10.1.0.0/16"}}]
    clash = client.put(item, json={"precedence": 1}, headers=auth(world))
    assert error(clash, 400, 12130)["message"] == UNIQUE
    also = client.post(url, json=inline("clash", precedence=9), headers=auth(world))
    assert error(also, 400, 12130)["message"] == UNIQUE
    bad = client.put(item, json={"decision": "maybe"}, headers=auth(world))
    assert "decision must be one of" in error(bad, 400, 12130)["message"]
    assert ok(client.delete(item, headers=auth(world)), 202) == {"id": created["id"]}
    error(client.get(item, headers=auth(world)), 404, 12135)
    assert [
        p["name"]
        for p in ok(client.get(f"{apps_url(world)}/{app['id']}", headers=auth(world)))["policies"]
    ] == ["own"]


def test_app_scoped_create_requires_a_whole_policy(client: TestClient, world: World) -> None:
    app = make_app(client, world)
    response = client.post(
        policies_of(client, world, app), json={"precedence": 1}, headers=auth(world)
    )
    assert "name is required" in error(response, 400, 12130)["message"]


def test_linked_reusable_policies_are_listed_but_managed_elsewhere(
    client: TestClient, world: World
) -> None:
    reusable = make_policy(client, world, name="reused")
    app = make_app(client, world, policies=[{"id": reusable["id"], "precedence": 3}])
    url = policies_of(client, world, app)
    own = ok(client.post(url, json=inline("own", precedence=1), headers=auth(world)), 201)
    listed = ok(client.get(url, headers=auth(world)))
    assert [(p["id"], p["precedence"], p["reusable"]) for p in listed] == [
        (own["id"], 1, False),
        (reusable["id"], 3, True),
    ]
    item = f"{url}/{reusable['id']}"
    assert ok(client.get(item, headers=auth(world)))["name"] == "reused"
    assert (
        error(client.put(item, json={"precedence": 4}, headers=auth(world)), 400, 12130)["message"]
        == MANAGED
    )
    assert error(client.delete(item, headers=auth(world)), 400, 12130)["message"] == MANAGED
    paged = client.get(url, params={"per_page": 1, "page": 2}, headers=auth(world)).json()
    assert [p["id"] for p in paged["result"]] == [reusable["id"]]
    assert paged["result_info"]["total_count"] == 2


def test_unknown_application_or_policy_is_404(client: TestClient, world: World) -> None:
    app = make_app(client, world, policies=[inline("own")])
    other = make_app(client, world, policies=[inline("other")])
    missing_app = f"{apps_url(world)}/{uuid.uuid4()}/policies"
    error(client.get(missing_app, headers=auth(world)), 404, 12135)
    error(client.post(missing_app, json=inline("x"), headers=auth(world)), 404, 12135)
    foreign = f"{policies_of(client, world, app)}/{other['policies'][0]['id']}"
    error(client.get(foreign, headers=auth(world)), 404, 12135)
    error(client.put(foreign, json={"precedence": 3}, headers=auth(world)), 404, 12135)
    error(client.delete(foreign, headers=auth(world)), 404, 12135)
    error(
        client.get(f"{policies_of(client, world, app)}/not-a-uuid", headers=auth(world)), 404, 12135
    )


def test_zone_application_policies_may_name_zone_and_account_tokens(
    client: TestClient, world: World
) -> None:
    zone_token, account_token = new_token(client, world, "zone"), new_token(client, world)
    foreign = ok(
        client.post(
            f"{V4}/zones/{world.zone_b}/access/service_tokens",
            json={"name": "b"},
            headers=world.bearer(world.write_zone_b),
        ),
        201,
    )["id"]
    rules = [{"service_token": {"token_id": t}} for t in (zone_token, account_token)]
    app = make_app(client, world, "zone", policies=[inline("tokens", include=rules)])
    assert app["policies"][0]["include"] == rules
    url = policies_of(client, world, app, "zone")
    refused = client.post(
        url,
        json=inline("foreign", include=[{"service_token": {"token_id": foreign}}]),
        headers=auth(world, "zone"),
    )
    assert f"service token {foreign} not found" in error(refused, 400, 12130)["message"]
