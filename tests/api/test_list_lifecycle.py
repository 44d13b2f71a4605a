"""The token list's lifecycle filters and orders (extensions), and walks that seek.

The oracle of every filter and order is the unfiltered list itself: what a filtered or
reordered list returns is computed here from the tokens' own `expires_at`, `last_seen_at`,
`created_at` and `enabled`, and compared whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicetokens.domain.secrets import CLIENT_ID_PATTERN
from servicetokens.store.token_rows import IN_EVERY_KEY
from servicetokens.usecases.facade import UseCases
from tests.api.test_service_tokens import auth, base, error, ok, parse_ts
from tests.conftest import World

_DURATIONS = ["1h", "2h", "24h", "72h", "8760h", "forever", "24h", "1h"]
_Token = dict[str, Any]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _populate(client: TestClient, world: World, service: UseCases) -> list[_Token]:
    """Eight tokens: varied lifetimes, two names shared, two disabled, three seen."""
    headers = auth(world, "account")
    made = []
    for index, duration in enumerate(_DURATIONS):
        body = {"name": f"n{index % 6}", "duration": duration}
        made.append(ok(client.post(base(world, "account"), json=body, headers=headers), 201))
    for token in (made[1], made[4]):
        url = f"{base(world, 'account')}/{token['id']}"
        ok(client.put(url, json={"name": token["name"], "enabled": False}, headers=headers))
    seen_at = parse_ts(made[-1]["created_at"]) + timedelta(seconds=5)
    with service.database.write() as tx:
        tx.tokens.touch_last_seen(
            [(made[2]["id"], seen_at), (made[5]["id"], seen_at + timedelta(hours=1))]
        )
        tx.tokens.touch_last_seen([(made[7]["id"], parse_ts(made[0]["created_at"]))])
    return _all(client, world)


def _all(client: TestClient, world: World, **params: Any) -> list[_Token]:
    """Every token of the list with `params`, walked page by page as the SDKs do."""
    found: list[_Token] = []
    page = 1
    while True:
        response = client.get(
            base(world, "account"),
            params={**params, "page": page, "per_page": 3},
            headers=auth(world, "account"),
        )
        result = ok(response)
        if not result:
            return found
        found += result
        page += 1


def _seen(token: _Token) -> datetime:
    return parse_ts(token["last_seen_at"] or token["created_at"])


def _ids(tokens: list[_Token]) -> list[str]:
    return [token["id"] for token in tokens]


def test_lifecycle_filters_keep_exactly_the_matching_tokens(
    client: TestClient, world: World, service: UseCases
) -> None:
    everything = _populate(client, world, service)
    assert len(everything) == len(_DURATIONS)
    cut = parse_ts(everything[0]["created_at"]) + timedelta(hours=30)
    seen_cut = parse_ts(everything[-1]["created_at"]) + timedelta(seconds=1)
    cases: list[tuple[dict[str, str], Callable[[_Token], bool]]] = [
        ({"expires_before": _rfc3339(cut)}, lambda t: parse_ts(t["expires_at"]) < cut),
        ({"expires_after": _rfc3339(cut)}, lambda t: parse_ts(t["expires_at"]) > cut),
        ({"enabled": "false"}, lambda t: not t["enabled"]),
        ({"enabled": "true"}, lambda t: t["enabled"]),
        ({"last_seen_before": _rfc3339(seen_cut)}, lambda t: _seen(t) < seen_cut),
        (
            {"expires_before": _rfc3339(cut), "enabled": "true"},
            lambda t: parse_ts(t["expires_at"]) < cut and t["enabled"],
        ),
        # An offset in another zone names the same instant.
        (
            {"expires_after": cut.astimezone(timezone(timedelta(hours=2))).isoformat()},
            lambda t: parse_ts(t["expires_at"]) > cut,
        ),
    ]
    for params, keep in cases:
        expected = [t for t in everything if keep(t)]
        assert 0 < len(expected) < len(everything), params  # each case really filters
        assert _ids(_all(client, world, **params)) == _ids(expected), params
        first = client.get(
            base(world, "account"), params={**params, "per_page": 2}, headers=auth(world, "account")
        ).json()
        assert first["result_info"]["total_count"] == len(expected), params
    # Never seen counts as seen at creation: the never-seen tokens created before the cut
    # are there, the ones seen after it are not.
    stale = _ids(_all(client, world, last_seen_before=_rfc3339(seen_cut)))
    assert everything[7]["id"] in stale
    assert everything[0]["id"] in stale
    assert everything[2]["id"] not in stale
    assert everything[5]["id"] not in stale


_KEYS: dict[str, Callable[[_Token], tuple[Any, ...]]] = {
    "created_at": lambda t: (parse_ts(t["created_at"]), t["id"]),
    "expires_at": lambda t: (parse_ts(t["expires_at"]), t["id"]),
    "last_seen_at": lambda t: (_seen(t), t["id"]),
    "name": lambda t: (t["name"], parse_ts(t["created_at"]), t["id"]),
}


@pytest.mark.parametrize("order", sorted(_KEYS))
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_orders_page_through_every_token_once(
    client: TestClient, world: World, service: UseCases, order: str, direction: str
) -> None:
    everything = _populate(client, world, service)
    expected = sorted(everything, key=_KEYS[order], reverse=direction == "desc")
    walked = _all(client, world, order=order, direction=direction)
    assert _ids(walked) == _ids(expected)
    # A filter and an order together, and a cold jump (no previous page) agrees with the walk.
    enabled = _all(client, world, order=order, direction=direction, enabled="true")
    assert _ids(enabled) == [t["id"] for t in expected if t["enabled"]]
    jump = client.get(
        base(world, "account"),
        params={"order": order, "direction": direction, "page": 2, "per_page": 3},
        headers=world.bearer(world.read_a),
    )
    assert _ids(ok(jump)) == _ids(expected[3:6])


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("expires_before", "2030-01-01"),
        ("expires_before", "2030-01-01T00:00:00"),  # no offset
        ("expires_after", "tomorrow"),
        ("last_seen_before", "2030-13-01T00:00:00Z"),
        ("last_seen_before", "0000-01-01T00:00:00Z"),
        ("enabled", "yes"),
        ("enabled", "1"),
        ("order", "id"),
        ("order", "client_secret"),
        ("direction", "up"),
    ],
)
def test_malformed_lifecycle_parameters_are_400(
    client: TestClient, world: World, param: str, value: str
) -> None:
    response = client.get(
        base(world, "account"), params={param: value}, headers=auth(world, "account")
    )
    assert param in error(response, 400, 12130)["message"]


def test_a_walk_continues_from_its_own_page_across_writes(client: TestClient, world: World) -> None:
    headers = auth(world, "account")
    made = [
        ok(client.post(base(world, "account"), json={"name": f"w{i}"}, headers=headers), 201)
        for i in range(12)
    ]

    def page(number: int, who: dict[str, str]) -> list[str]:
        params = {"page": number, "per_page": 4}
        return _ids(ok(client.get(base(world, "account"), params=params, headers=who)))

    assert page(1, headers) == _ids(made[0:4])
    # A token of page 1 is deleted: by OFFSET, page 2 would start one token later and skip
    # made[4]; the walk continues after page 1's last token instead.
    ok(client.delete(f"{base(world, 'account')}/{made[1]['id']}", headers=headers))
    assert page(2, headers) == _ids(made[4:8])
    ok(client.post(base(world, "account"), json={"name": "late"}, headers=headers), 201)
    assert page(3, headers) == _ids(made[8:12])
    # Another caller who read no page 1 gets the list as it is now (OFFSET): no walk of
    # someone else's leaks into it, and the walker's page is not served from the memo.
    assert page(2, world.bearer(world.read_a)) == _ids(made[5:9])
    assert page(2, headers) == _ids(made[4:8])


def test_last_seen_moves_the_version_of_memoised_answers(
    client: TestClient, world: World, service: UseCases
) -> None:
    headers = auth(world, "account")
    token = ok(client.post(base(world, "account"), json={"name": "seen"}, headers=headers), 201)
    url = f"{base(world, 'account')}/{token['id']}"
    assert ok(client.get(url, headers=headers))["last_seen_at"] is None
    assert ok(client.get(base(world, "account"), headers=headers))[0]["last_seen_at"] is None
    moment = parse_ts(token["created_at"]) + timedelta(minutes=3)
    with service.database.write() as tx:
        tx.tokens.touch_last_seen([(token["id"], moment)])
    assert parse_ts(ok(client.get(url, headers=headers))["last_seen_at"]) == moment
    listed = ok(client.get(base(world, "account"), headers=headers))
    assert parse_ts(listed[0]["last_seen_at"]) == moment


def test_get_keeps_its_checks_in_order(client: TestClient, world: World) -> None:
    headers = auth(world, "account")
    token = ok(client.post(base(world, "account"), json={"name": "g"}, headers=headers), 201)
    url = f"{base(world, 'account')}/{token['id']}"
    assert ok(client.get(url, headers=headers))["id"] == token["id"]
    assert ok(client.get(url, headers=headers))["id"] == token["id"]  # memoised
    # Another account's caller learns nothing, memo or not; a zone path does not find it.
    error(client.get(url, headers=world.bearer(world.write_b)), 403, 10000)
    zone_url = f"{base(world, 'zone')}/{token['id']}"
    error(client.get(zone_url, headers=auth(world, "zone")), 404, 12135)
    error(client.get(url, headers=world.bearer(world.revoked_a)), 403, 9109)
    error(client.get(f"{base(world, 'account')}/not-a-uuid", headers=headers), 404, 12135)


def test_a_counted_search_is_counted_again_after_a_write(client: TestClient, world: World) -> None:
    headers = auth(world, "account")
    for index in range(3):
        ok(client.post(base(world, "account"), json={"name": f"cnt-{index}"}, headers=headers), 201)

    def total(per_page: int) -> int:
        params = {"search": "CNT-", "per_page": per_page}
        body = client.get(base(world, "account"), params=params, headers=headers).json()
        return int(body["result_info"]["total_count"])

    assert total(2) == 3
    assert total(1) == 3  # another page size: the count kept at this version
    ok(client.post(base(world, "account"), json={"name": "cnt-3"}, headers=headers), 201)
    assert total(1) == 4
    assert total(2) == 4


def test_lifecycle_filters_stay_inside_the_callers_account(
    client: TestClient, world: World, service: UseCases
) -> None:
    mine = _populate(client, world, service)
    other = f"/client/v4/accounts/{world.account_b}/access/service_tokens"
    theirs = ok(client.post(other, json={"name": "n0"}, headers=world.bearer(world.write_b)), 201)
    far = "2999-01-01T00:00:00Z"
    for params in (
        {"expires_before": far},
        {"last_seen_before": far},
        {"enabled": "true"},
        {"order": "name", "direction": "desc"},
    ):
        seen_a = _ids(_all(client, world, **params))
        assert theirs["id"] not in seen_a
        assert set(seen_a) <= set(_ids(mine))
        for page in (1, 2):
            answer = client.get(
                other,
                params={**params, "page": page, "per_page": 3},
                headers=world.bearer(world.write_b),
            )
            assert set(_ids(ok(answer))) <= {theirs["id"]}
        # A's list is not B's to read, whatever the filters.
        denied = client.get(
            base(world, "account"), params=params, headers=world.bearer(world.write_b)
        )
        error(denied, 403, 10000)


def test_a_search_for_part_of_every_client_id_lists_every_token(
    client: TestClient, world: World
) -> None:
    # Every client id ends with `.access` (the pattern says so), so these terms match every
    # token: answered as the unfiltered list, with the container's count.
    assert CLIENT_ID_PATTERN.pattern.endswith(re.escape(IN_EVERY_KEY) + "$")
    headers = auth(world, "account")
    made = [
        ok(client.post(base(world, "account"), json={"name": f"x{i}"}, headers=headers), 201)
        for i in range(4)
    ]
    for term in ("ACC", ".access", "s", "cess"):
        body = client.get(
            base(world, "account"), params={"search": term, "per_page": 3}, headers=headers
        ).json()
        assert body["result_info"]["total_count"] == 4, term
        assert _ids(body["result"]) == _ids(made[:3]), term
    none = client.get(base(world, "account"), params={"search": ".accesss"}, headers=headers)
    assert ok(none) == []
