"""The official Python SDK (PyPI ``cloudflare``), unmodified, against a live server.

Every test makes its own tokens under a unique name, so the tests share one server yet do
not depend on each other or on their order.
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
from cloudflare import (
    BadRequestError,
    Cloudflare,
    DefaultHttpxClient,
    NotFoundError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from tests.conformance.conftest import LiveServer

CLIENT_ID = re.compile(r"^[0-9a-f]{32}\.access$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Slack for "now + duration" comparisons: the test's clock and the server's are the same
# machine, so this only absorbs request latency and whole-second timestamps.
SLACK = timedelta(seconds=30)

ClientFactory = Callable[..., Cloudflare]
T = TypeVar("T")


@pytest.fixture
def make_client(live_server: LiveServer) -> Iterator[ClientFactory]:
    clients: list[Cloudflare] = []

    def make(**kwargs: Any) -> Cloudflare:
        kwargs.setdefault("base_url", live_server.base_url)
        if "api_email" not in kwargs:
            kwargs.setdefault("api_token", live_server.write_token)
        client = Cloudflare(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> Cloudflare:
    """Write on account A, default retries (as a user would have it)."""
    return make_client()


@pytest.fixture
def strict_client(make_client: ClientFactory) -> Cloudflare:
    """Write on account A, no retries: a wrong status shows at once."""
    return make_client(max_retries=0)


def collect(pager: Iterable[T], cap: int = 5000) -> list[T]:
    """Drain an auto-paginating list, failing (not hanging) if the pages never end.

    The SDK stops only on an empty page, so a server that ignores ``page`` loops forever.
    """
    items = list(itertools.islice(pager, cap + 1))
    assert len(items) <= cap, f"auto-pagination did not stop after {cap} items"
    return items


def as_dict(model: Any) -> dict[str, Any]:
    """Every field the server sent, declared by the SDK model or not, JSON-typed."""
    assert model is not None
    data = model.to_dict(mode="json")
    assert isinstance(data, dict)
    return data


def ts(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp from a response."""
    assert isinstance(value, str), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without offset: {value!r}"
    return parsed


def close_to(actual: datetime, expected: datetime) -> bool:
    return abs(actual - expected) <= SLACK


def first_error_code(exc: Any) -> int:
    assert exc.errors, f"error envelope carries no errors: {exc.body!r}"
    return int(exc.errors[0].code)


def assert_public_token(data: dict[str, Any], *, name: str, duration: str) -> None:
    assert UUID.match(data["id"]), data
    assert CLIENT_ID.match(data["client_id"]), data
    assert data["name"] == name
    assert data["duration"] == duration
    assert "client_secret" not in data, "the secret leaked outside create/rotate"
    for field in ("created_at", "updated_at", "expires_at"):
        ts(data[field])


# --------------------------------------------------------------------------------------------
# Account scope: the whole lifecycle


def test_create_returns_secret_and_token_fields(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    before = datetime.now(UTC)
    created = client.zero_trust.access.service_tokens.create(
        account_id=live_server.account_id, name=unique_name, duration="60m"
    )
    assert created is not None
    assert created.client_secret, "create must return the client secret"
    assert created.name == unique_name
    assert created.duration == "60m"
    assert created.enabled is True
    assert created.id is not None
    assert UUID.match(created.id)
    assert created.client_id is not None
    assert CLIENT_ID.match(created.client_id)
    extra = as_dict(created)
    assert close_to(ts(extra["expires_at"]), before + timedelta(minutes=60))
    assert extra["client_secret_version"] == 1

    fetched = client.zero_trust.access.service_tokens.get(
        created.id, account_id=live_server.account_id
    )
    data = as_dict(fetched)
    assert_public_token(data, name=unique_name, duration="60m")
    assert data["id"] == created.id
    assert data["client_id"] == created.client_id
    assert data["client_secret_version"] == 1
    assert fetched is not None
    assert fetched.expires_at is not None
    assert close_to(fetched.expires_at, before + timedelta(minutes=60))


def test_create_defaults(client: Cloudflare, live_server: LiveServer, unique_name: str) -> None:
    before = datetime.now(UTC)
    raw = client.zero_trust.access.service_tokens.with_raw_response.create(
        account_id=live_server.account_id, name=unique_name
    )
    assert raw.http_response.status_code == 201
    assert raw.http_response.headers["content-type"].startswith("application/json")
    created = raw.parse()
    assert created is not None
    assert created.duration == "8760h"
    assert created.enabled is True
    assert created.client_secret
    data = as_dict(created)
    assert close_to(ts(data["expires_at"]), before + timedelta(hours=8760))


def test_secrets_and_client_ids_are_unique(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = [
        client.zero_trust.access.service_tokens.create(
            account_id=live_server.account_id, name=f"{unique_name}-{i}"
        )
        for i in range(3)
    ]
    assert all(t is not None for t in tokens)
    assert len({t.id for t in tokens if t}) == 3
    assert len({t.client_id for t in tokens if t}) == 3
    assert len({t.client_secret for t in tokens if t}) == 3


def test_update_is_partial_and_duration_resets_expiry(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    created = tokens.create(account_id=account_id, name=unique_name, duration="1h")
    assert created is not None
    assert created.id is not None
    original = as_dict(tokens.get(created.id, account_id=account_id))

    renamed = tokens.update(created.id, account_id=account_id, name=f"{unique_name}-renamed")
    data = as_dict(renamed)
    assert_public_token(data, name=f"{unique_name}-renamed", duration="1h")
    assert data["client_id"] == created.client_id
    assert ts(data["expires_at"]) == ts(original["expires_at"]), "PUT without duration"

    before = datetime.now(UTC)
    extended = tokens.update(created.id, account_id=account_id, duration="2h")
    data = as_dict(extended)
    assert_public_token(data, name=f"{unique_name}-renamed", duration="2h")
    assert ts(data["expires_at"]) > ts(original["expires_at"])
    assert close_to(ts(data["expires_at"]), before + timedelta(hours=2))

    disabled = tokens.update(created.id, account_id=account_id, enabled=False)
    assert disabled is not None
    assert disabled.enabled is False
    assert disabled.name == f"{unique_name}-renamed"
    assert disabled.duration == "2h"
    fetched = tokens.get(created.id, account_id=account_id)
    assert fetched is not None
    assert fetched.enabled is False
    assert fetched.name == f"{unique_name}-renamed"


def test_refresh_moves_expiry_and_keeps_secret(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    created = tokens.create(account_id=account_id, name=unique_name, duration="1h")
    assert created is not None
    assert created.id is not None
    original = as_dict(tokens.get(created.id, account_id=account_id))
    # Timestamps carry microseconds, so a refresh right away is already later: no sleep.
    before = datetime.now(UTC)
    refreshed = tokens.refresh(created.id, account_id=account_id)
    data = as_dict(refreshed)
    assert_public_token(data, name=unique_name, duration="1h")
    assert data["id"] == created.id
    assert data["client_id"] == created.client_id
    assert data["client_secret_version"] == original["client_secret_version"]
    assert ts(data["expires_at"]) > ts(original["expires_at"])
    assert close_to(ts(data["expires_at"]), before + timedelta(hours=1))
    assert ts(data["updated_at"]) > ts(original["updated_at"])


def test_rotate_keeps_client_id_and_changes_secret(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    created = tokens.create(account_id=account_id, name=unique_name)
    assert created is not None
    assert created.id is not None
    original = as_dict(tokens.get(created.id, account_id=account_id))

    rotated = tokens.rotate(created.id, account_id=account_id)
    assert rotated is not None
    assert rotated.id == created.id
    assert rotated.client_id == created.client_id
    assert rotated.client_secret
    assert rotated.client_secret != created.client_secret
    assert as_dict(rotated)["client_secret_version"] == 2

    data = as_dict(tokens.get(created.id, account_id=account_id))
    assert "client_secret" not in data
    assert data["client_secret_version"] == 2
    assert ts(data["expires_at"]) == ts(original["expires_at"]), "rotate keeps the expiry"

    again = tokens.rotate(created.id, account_id=account_id)
    assert again is not None
    assert again.client_secret not in (created.client_secret, rotated.client_secret)
    assert as_dict(again)["client_secret_version"] == 3


def test_rotate_with_grace_period(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    created = tokens.create(account_id=account_id, name=unique_name)
    assert created is not None
    assert created.id is not None
    grace_until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)

    rotated = tokens.rotate(
        created.id, account_id=account_id, previous_client_secret_expires_at=grace_until
    )
    assert rotated is not None
    assert rotated.client_secret
    assert rotated.client_secret != created.client_secret
    data = as_dict(tokens.get(created.id, account_id=account_id))
    assert ts(data["previous_client_secret_expires_at"]) == grace_until


def test_delete_returns_token_then_it_is_gone(
    strict_client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = strict_client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    created = tokens.create(account_id=account_id, name=unique_name)
    assert created is not None
    assert created.id is not None

    deleted = tokens.delete(created.id, account_id=account_id)
    data = as_dict(deleted)
    assert data["id"] == created.id
    assert data["name"] == unique_name
    assert "client_secret" not in data

    with pytest.raises(NotFoundError):
        tokens.get(created.id, account_id=account_id)
    with pytest.raises(NotFoundError):
        tokens.delete(created.id, account_id=account_id)
    assert [t.id for t in collect(tokens.list(account_id=account_id, name=unique_name))] == []


# --------------------------------------------------------------------------------------------
# Zone scope


def test_zone_scope_lifecycle(
    make_client: ClientFactory, live_server: LiveServer, unique_name: str
) -> None:
    zone = make_client(api_token=live_server.zone_token, max_retries=0)
    tokens = zone.zero_trust.access.service_tokens
    zone_id = live_server.zone_id

    created = tokens.create(zone_id=zone_id, name=unique_name, duration="30m")
    assert created is not None
    assert created.id is not None
    assert created.client_secret
    assert created.client_id is not None
    assert CLIENT_ID.match(created.client_id)
    assert created.duration == "30m"

    listed = [t.id for t in collect(tokens.list(zone_id=zone_id, name=unique_name))]
    assert listed == [created.id]

    fetched = as_dict(tokens.get(created.id, zone_id=zone_id))
    assert_public_token(fetched, name=unique_name, duration="30m")

    before = datetime.now(UTC)
    updated = as_dict(
        tokens.update(created.id, zone_id=zone_id, name=f"{unique_name}-z", duration="3h")
    )
    assert_public_token(updated, name=f"{unique_name}-z", duration="3h")
    assert close_to(ts(updated["expires_at"]), before + timedelta(hours=3))

    deleted = as_dict(tokens.delete(created.id, zone_id=zone_id))
    assert deleted["id"] == created.id
    with pytest.raises(NotFoundError):
        tokens.get(created.id, zone_id=zone_id)


def test_account_and_zone_tokens_are_separate(
    make_client: ClientFactory, live_server: LiveServer, unique_name: str
) -> None:
    account = make_client(max_retries=0).zero_trust.access.service_tokens
    zone = make_client(api_token=live_server.zone_token, max_retries=0)
    zone_tokens = zone.zero_trust.access.service_tokens

    in_account = account.create(account_id=live_server.account_id, name=f"{unique_name}-acc")
    in_zone = zone_tokens.create(zone_id=live_server.zone_id, name=f"{unique_name}-zone")
    assert in_account is not None
    assert in_account.id is not None
    assert in_zone is not None
    assert in_zone.id is not None

    account_ids = {
        t.id for t in collect(account.list(account_id=live_server.account_id, search=unique_name))
    }
    zone_ids = {
        t.id for t in collect(zone_tokens.list(zone_id=live_server.zone_id, search=unique_name))
    }
    assert account_ids == {in_account.id}
    assert zone_ids == {in_zone.id}
    with pytest.raises(NotFoundError):
        zone_tokens.get(in_account.id, zone_id=live_server.zone_id)
    with pytest.raises(NotFoundError):
        account.get(in_zone.id, account_id=live_server.account_id)


# --------------------------------------------------------------------------------------------
# Listing: auto-pagination, filters, order


def test_auto_pagination_yields_every_token_once(live_server: LiveServer, unique_name: str) -> None:
    requests: list[httpx.Request] = []
    http_client = DefaultHttpxClient(event_hooks={"request": [requests.append]})
    with Cloudflare(
        api_token=live_server.write_token, base_url=live_server.base_url, http_client=http_client
    ) as client:
        tokens = client.zero_trust.access.service_tokens
        created = []
        for i in range(45):
            token = tokens.create(account_id=live_server.account_id, name=f"{unique_name}-{i:02d}")
            assert token is not None
            assert token.id is not None
            created.append(token.id)

        # The whole account, 20 per page: ours must each appear exactly once.
        requests.clear()
        everything = [
            t.id for t in collect(tokens.list(account_id=live_server.account_id, per_page=20))
        ]
        counts = Counter(everything)
        assert {i: counts[i] for i in created} == dict.fromkeys(created, 1)
        assert len(everything) == len(set(everything)), "a token was listed twice"
        assert len(requests) == math.ceil(len(everything) / 20) + 1, "pages + one empty page"
        assert all(r.url.params.get("per_page") == "20" for r in requests)

        # Only ours (via search): 20 + 20 + 5, then the empty page that stops the SDK.
        requests.clear()
        ours = [
            t.id
            for t in collect(
                tokens.list(account_id=live_server.account_id, search=unique_name, per_page=20)
            )
        ]
        assert Counter(ours) == Counter(created)
        assert [r.url.params.get("page") for r in requests] == [None, "2", "3", "4"]


def test_list_envelope_result_info_and_page_past_end(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    for i in range(5):
        tokens.create(account_id=account_id, name=f"{unique_name}-{i}")

    raw = tokens.with_raw_response.list(account_id=account_id, search=unique_name, per_page=2)
    assert raw.http_response.status_code == 200
    body = raw.http_response.json()
    assert body["success"] is True
    assert body["errors"] == []
    assert len(body["result"]) == 2
    assert body["result_info"] == {
        "count": 2,
        "page": 1,
        "per_page": 2,
        "total_count": 5,
        "total_pages": 3,
    }
    for item in body["result"]:
        assert "client_secret" not in item

    last = tokens.list(account_id=account_id, search=unique_name, per_page=2, page=3)
    assert len(last.result) == 1
    past = tokens.list(account_id=account_id, search=unique_name, per_page=2, page=4)
    assert past.result == []
    assert not past.has_next_page()
    far = tokens.with_raw_response.list(account_id=account_id, search=unique_name, page=999)
    assert far.http_response.status_code == 200
    assert far.http_response.json()["result"] == []


def test_list_default_page_size_is_large(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    for i in range(3):
        tokens.create(account_id=live_server.account_id, name=f"{unique_name}-{i}")
    raw = tokens.with_raw_response.list(account_id=live_server.account_id, search=unique_name)
    info = raw.http_response.json()["result_info"]
    assert info["page"] == 1
    assert info["per_page"] == 1000
    assert info["count"] == info["total_count"] == 3


def test_list_order_is_created_at_then_id(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    for i in range(6):
        tokens.create(account_id=live_server.account_id, name=f"{unique_name}-{i}")
    listed = [
        as_dict(t)
        for t in collect(
            tokens.list(account_id=live_server.account_id, search=unique_name, per_page=4)
        )
    ]
    assert len(listed) == 6
    keys = [(ts(t["created_at"]), t["id"]) for t in listed]
    assert keys == sorted(keys)
    assert [t["name"] for t in listed] == [f"{unique_name}-{i}" for i in range(6)]


def test_name_filter_is_exact(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    exact = tokens.create(account_id=account_id, name=unique_name)
    longer = tokens.create(account_id=account_id, name=f"{unique_name}-longer")
    assert exact is not None
    assert longer is not None

    assert [t.id for t in collect(tokens.list(account_id=account_id, name=unique_name))] == [
        exact.id
    ]
    assert [
        t.id for t in collect(tokens.list(account_id=account_id, name=f"{unique_name}-longer"))
    ] == [longer.id]
    assert collect(tokens.list(account_id=account_id, name=f"{unique_name}-missing")) == []


def test_search_matches_name_case_insensitively_and_client_id(
    client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    marker = uuid.uuid4().hex[:12]
    first = tokens.create(account_id=account_id, name=f"{unique_name}-Alpha{marker}")
    second = tokens.create(account_id=account_id, name=f"{unique_name}-alpha{marker}-2")
    other = tokens.create(account_id=account_id, name=f"{unique_name}-beta")
    assert first is not None
    assert second is not None
    assert other is not None

    found = {
        t.id for t in collect(tokens.list(account_id=account_id, search=f"ALPHA{marker.upper()}"))
    }
    assert found == {first.id, second.id}

    assert other.client_id is not None
    by_client_id = {
        t.id for t in collect(tokens.list(account_id=account_id, search=other.client_id[:32]))
    }
    assert by_client_id == {other.id}

    assert collect(tokens.list(account_id=account_id, search=f"no-such-{marker}")) == []


# --------------------------------------------------------------------------------------------
# Credentials and permissions


def test_email_and_global_key(
    make_client: ClientFactory, live_server: LiveServer, unique_name: str
) -> None:
    user = make_client(
        api_email=live_server.user_email, api_key=live_server.user_api_key, max_retries=0
    )
    tokens = user.zero_trust.access.service_tokens
    account_id = live_server.account_id

    created = tokens.create(account_id=account_id, name=unique_name, duration="5m")
    assert created is not None
    assert created.id is not None
    assert created.client_secret
    assert [t.id for t in collect(tokens.list(account_id=account_id, name=unique_name))] == [
        created.id
    ]
    fetched = tokens.get(created.id, account_id=account_id)
    assert fetched is not None
    assert fetched.duration == "5m"
    rotated = tokens.rotate(created.id, account_id=account_id)
    assert rotated is not None
    assert rotated.client_secret != created.client_secret
    assert as_dict(tokens.delete(created.id, account_id=account_id))["id"] == created.id

    with pytest.raises(PermissionDeniedError) as denied:
        collect(tokens.list(account_id=live_server.account_b_id))
    assert first_error_code(denied.value) == 10000


def test_read_token_can_read_but_not_write(
    make_client: ClientFactory, client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    account_id = live_server.account_id
    created = client.zero_trust.access.service_tokens.create(
        account_id=account_id, name=unique_name
    )
    assert created is not None
    assert created.id is not None
    reader = make_client(api_token=live_server.read_token, max_retries=0)
    tokens = reader.zero_trust.access.service_tokens

    assert [t.id for t in collect(tokens.list(account_id=account_id, name=unique_name))] == [
        created.id
    ]
    fetched = tokens.get(created.id, account_id=account_id)
    assert fetched is not None
    assert fetched.id == created.id

    with pytest.raises(PermissionDeniedError) as denied:
        tokens.create(account_id=account_id, name=f"{unique_name}-denied")
    assert denied.value.status_code == 403
    assert first_error_code(denied.value) == 10000

    token_id = created.id
    writes: list[Callable[[], object]] = [
        lambda: tokens.update(token_id, account_id=account_id, name="nope"),
        lambda: tokens.delete(token_id, account_id=account_id),
        lambda: tokens.refresh(token_id, account_id=account_id),
        lambda: tokens.rotate(token_id, account_id=account_id),
    ]
    for write in writes:
        with pytest.raises(PermissionDeniedError) as denied:
            write()
        assert first_error_code(denied.value) == 10000
    # Nothing was changed by the refused calls.
    still = client.zero_trust.access.service_tokens.get(created.id, account_id=account_id)
    assert still is not None
    assert still.name == unique_name
    assert collect(tokens.list(account_id=account_id, name=f"{unique_name}-denied")) == []


def test_other_account_token_cannot_touch_account_a(
    make_client: ClientFactory, client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    created = client.zero_trust.access.service_tokens.create(
        account_id=live_server.account_id, name=unique_name
    )
    assert created is not None
    assert created.id is not None
    other = make_client(api_token=live_server.account_b_token, max_retries=0)
    tokens = other.zero_trust.access.service_tokens

    with pytest.raises(PermissionDeniedError) as denied:
        collect(tokens.list(account_id=live_server.account_id))
    assert first_error_code(denied.value) == 10000
    with pytest.raises(PermissionDeniedError):
        tokens.get(created.id, account_id=live_server.account_id)
    with pytest.raises(PermissionDeniedError):
        tokens.create(account_id=live_server.account_id, name=f"{unique_name}-b")
    # A token of account A is not reachable through account B either.
    with pytest.raises(NotFoundError):
        tokens.get(created.id, account_id=live_server.account_b_id)
    assert unique_name not in {
        t.name for t in collect(tokens.list(account_id=live_server.account_b_id))
    }


def test_invalid_api_token(make_client: ClientFactory, live_server: LiveServer) -> None:
    bogus = make_client(api_token="not-a-real-token-" + uuid.uuid4().hex, max_retries=0)
    with pytest.raises(PermissionDeniedError) as denied:
        collect(bogus.zero_trust.access.service_tokens.list(account_id=live_server.account_id))
    assert denied.value.status_code == 403
    assert first_error_code(denied.value) == 9109


# --------------------------------------------------------------------------------------------
# Errors


def test_unknown_token_id_is_not_found(strict_client: Cloudflare, live_server: LiveServer) -> None:
    tokens = strict_client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    missing = str(uuid.uuid4())
    calls: list[Callable[[], object]] = [
        lambda: tokens.get(missing, account_id=account_id),
        lambda: tokens.update(missing, account_id=account_id, name="x"),
        lambda: tokens.delete(missing, account_id=account_id),
        lambda: tokens.refresh(missing, account_id=account_id),
        lambda: tokens.rotate(missing, account_id=account_id),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as not_found:
            call()
        assert not_found.value.status_code == 404
        assert first_error_code(not_found.value) == 12135
        body = not_found.value.body
        assert isinstance(body, dict)
        assert body["success"] is False
        assert body["result"] is None


def test_unknown_token_id_in_zone_is_not_found(
    make_client: ClientFactory, live_server: LiveServer
) -> None:
    zone = make_client(api_token=live_server.zone_token, max_retries=0)
    with pytest.raises(NotFoundError) as not_found:
        zone.zero_trust.access.service_tokens.get(str(uuid.uuid4()), zone_id=live_server.zone_id)
    assert first_error_code(not_found.value) == 12135


@pytest.mark.parametrize("duration", ["1d", "abc", ""])
def test_bad_duration_is_rejected(
    strict_client: Cloudflare, live_server: LiveServer, unique_name: str, duration: str
) -> None:
    tokens = strict_client.zero_trust.access.service_tokens
    with pytest.raises(BadRequestError) as bad:
        tokens.create(account_id=live_server.account_id, name=unique_name, duration=duration)
    assert bad.value.status_code == 400
    assert first_error_code(bad.value) == 12130
    assert collect(tokens.list(account_id=live_server.account_id, name=unique_name)) == []


def test_bad_update_is_rejected_and_changes_nothing(
    strict_client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    tokens = strict_client.zero_trust.access.service_tokens
    account_id = live_server.account_id
    created = tokens.create(account_id=account_id, name=unique_name, duration="1h")
    assert created is not None
    assert created.id is not None

    with pytest.raises(BadRequestError) as bad:
        tokens.update(created.id, account_id=account_id, duration="1d")
    assert first_error_code(bad.value) == 12130
    with pytest.raises(BadRequestError) as bad:
        tokens.update(created.id, account_id=account_id, name="")
    assert first_error_code(bad.value) == 12130

    fetched = tokens.get(created.id, account_id=account_id)
    assert fetched is not None
    assert (fetched.name, fetched.duration) == (unique_name, "1h")


def test_empty_name_is_rejected(strict_client: Cloudflare, live_server: LiveServer) -> None:
    with pytest.raises(BadRequestError) as bad:
        strict_client.zero_trust.access.service_tokens.create(
            account_id=live_server.account_id, name=""
        )
    assert first_error_code(bad.value) == 12130
