"""Listing: filters, pages, `result_info`, and the empty page the SDKs stop on."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.test_service_tokens import auth, base, error, ok
from tests.conftest import World


def create(client: TestClient, world: World, name: str) -> dict[str, Any]:
    result: dict[str, Any] = ok(
        client.post(base(world, "account"), json={"name": name}, headers=auth(world, "account")),
        201,
    )
    return result


def list_page(client: TestClient, world: World, **params: Any) -> dict[str, Any]:
    response = client.get(base(world, "account"), params=params, headers=auth(world, "account"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_pages_cover_every_token_once_in_creation_order(client: TestClient, world: World) -> None:
    created = [create(client, world, f"p{i}") for i in range(23)]
    seen: list[str] = []
    page = 1
    while True:
        body = list_page(client, world, page=page, per_page=5)
        if not body["result"]:
            break
        info = body["result_info"]
        assert info == {
            "page": page,
            "per_page": 5,
            "count": len(body["result"]),
            "total_count": 23,
            "total_pages": 5,
        }
        seen += [t["id"] for t in body["result"]]
        page += 1
    assert seen == [t["id"] for t in created]
    assert page == 6


def test_page_past_the_end_is_empty_200(client: TestClient, world: World) -> None:
    create(client, world, "only")
    body = list_page(client, world, page=99, per_page=10)
    assert body["success"] is True
    assert body["result"] == []
    assert body["result_info"] == {
        "page": 99,
        "per_page": 10,
        "count": 0,
        "total_count": 1,
        "total_pages": 1,
    }
    assert list_page(client, world, page=10**18)["result"] == []


def test_empty_account(client: TestClient, world: World) -> None:
    body = list_page(client, world)
    assert body["result"] == []
    assert body["result_info"] == {
        "page": 1,
        "per_page": 1000,
        "count": 0,
        "total_count": 0,
        "total_pages": 0,
    }


def test_per_page_default_and_clamp(client: TestClient, world: World) -> None:
    create(client, world, "x")
    assert list_page(client, world)["result_info"]["per_page"] == 1000
    assert list_page(client, world, per_page=5000)["result_info"]["per_page"] == 1000
    assert list_page(client, world, per_page="20.0")["result_info"]["per_page"] == 20


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": "abc"},
        {"page": "1.5"},
        {"per_page": 0},
        {"per_page": "-5"},
        {"per_page": "1e3"},
        {"page": "9" * 40},
    ],
)
def test_bad_paging_is_400(client: TestClient, world: World, params: dict[str, Any]) -> None:
    response = client.get(base(world, "account"), params=params, headers=auth(world, "account"))
    detail = error(response, 400, 12130)
    assert detail["message"].startswith("access.api.error.invalid_request: ")


def test_name_filter_is_exact_and_case_sensitive(client: TestClient, world: World) -> None:
    wanted = [create(client, world, "deploy-bot") for _ in range(2)]
    create(client, world, "Deploy-Bot")
    create(client, world, "deploy-bot-2")
    body = list_page(client, world, name="deploy-bot")
    assert [t["id"] for t in body["result"]] == [t["id"] for t in wanted]
    assert body["result_info"]["total_count"] == 2


def test_search_is_case_insensitive_substring_of_name_or_client_id(
    client: TestClient, world: World
) -> None:
    a = create(client, world, "Backup-Runner")
    b = create(client, world, "nightly BACKUP")
    c = create(client, world, "unrelated")
    create(client, world, "100%_literal")
    found = {t["id"] for t in list_page(client, world, search="backup")["result"]}
    assert found == {a["id"], b["id"]}
    by_client_id = list_page(client, world, search=c["client_id"][:12].upper())["result"]
    assert [t["id"] for t in by_client_id] == [c["id"]]
    # LIKE wildcards in the search text are literal characters.
    assert [t["name"] for t in list_page(client, world, search="%_")["result"]] == ["100%_literal"]
    assert list_page(client, world, search="_")["result_info"]["total_count"] == 1


def test_filters_combine_with_paging(client: TestClient, world: World) -> None:
    for i in range(7):
        create(client, world, "same")
        create(client, world, f"other{i}")
    body = list_page(client, world, name="same", per_page=3, page=3)
    assert body["result_info"] == {
        "page": 3,
        "per_page": 3,
        "count": 1,
        "total_count": 7,
        "total_pages": 3,
    }
