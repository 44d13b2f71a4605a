"""Isolation between accounts by every dashboard URL, the list derived from the dashboard's
own route table (so a page added later is covered without editing this file): a member of
account A gets a 404 for each of account B's pages and objects, by GET and by POST with A's
valid CSRF token, under B's account and with B's object ids under A's own; and every page of
B reads the same before and after (nothing of B changed, nothing written to B's log, no
message sent to B's webhook)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.notifications.alert_types import TOKEN_DISABLED
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.dashboard.conftest import People, dashboard_app, sign_in
from tests.notifications.receiver import Receiver

_ACCOUNT = "{account_id}"
_CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')
_ID_32 = r"([0-9a-f]{32})"
_ID_36 = r"([0-9a-f-]{36})"


@pytest.fixture
def dash_service(database_url: str, clock: HandClock) -> Iterator[UseCases]:
    """The suite's use cases, except that a webhook may point at the loopback receiver
    (B's destination is real, and its test message is what a forged test would send)."""
    engine = make_engine(database_url, pool_size=4)
    upgrade(engine)
    try:
        yield build_use_cases(Database(engine), clock=clock, allow_private_webhooks=True)
    finally:
        engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@dataclass(frozen=True)
class Objects:
    """One of each object a dashboard page names by id, all in one account."""

    token_id: str
    access_policy_id: str
    app_id: str
    webhook_id: str
    alert_policy_id: str


def _param_value(path: str, param: str, objects: Objects) -> str:
    """The id of `objects` that the `{param}` of route `path` names (the kind is the path
    segment before it); a route naming an object this test does not know fails here."""
    segments = path.split("/")
    kind = segments[segments.index("{" + param + "}") - 1]
    if param == "account_id":
        raise AssertionError("the account is filled in by the caller")
    known = {
        ("tokens", "token_id"): objects.token_id,
        ("apps", "app_id"): objects.app_id,
        ("webhooks", "webhook_id"): objects.webhook_id,
        ("policies", "policy_id"): (
            objects.alert_policy_id if "/notifications/" in path else objects.access_policy_id
        ),
    }
    assert (kind, param) in known, f"{path}: a page with an id this test cannot fill in"
    return known[kind, param]


def dashboard_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every page of an account, from the app's route table."""
    found = []
    for route in client.app.router.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/accounts/" + _ACCOUNT + "/"):
            found += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


def urls(
    client: TestClient, account: str, objects: Objects, *, with_object_only: bool = False
) -> list[tuple[str, str]]:
    """(method, URL) of every account page, with `account` and the ids of `objects`."""
    made = []
    for method, path in dashboard_routes(client):
        params = re.findall(r"\{(\w+)\}", path)
        if with_object_only and params == ["account_id"]:
            continue
        url = path.replace(_ACCOUNT, account)
        for param in params[1:]:
            url = url.replace("{" + param + "}", _param_value(path, param, objects))
        made.append((method, url))
    return made


def _b_world(client: TestClient, account: str, receiver: Receiver) -> Objects:
    """One object of each kind in `account`, made through its own member's forms."""
    base = f"/accounts/{account}"
    csrf = _CSRF_VALUE.search(client.get(f"{base}/tokens").text)
    assert csrf is not None
    token = csrf.group(0).split('value="')[1].rstrip('"')

    def post(path: str, **data: str) -> str:
        response = client.post(f"{base}/{path}", data={"csrf_token": token, **data})
        assert response.status_code == 303, (path, response.text)
        return str(response.headers["location"])

    def one_id(page: str, pattern: str) -> str:
        found = re.findall(pattern, client.get(f"{base}/{page}").text)
        assert len(set(found)) == 1, (page, found)
        return str(found[0])

    token_id = post("tokens", name="secret-b", duration="8760h").split("/")[-2]
    post("policies", name="policy-b", decision="non_identity", token=token_id)
    policy_id = one_id("policies", rf'href="{base}/policies/{_ID_36}"')
    post("apps", domain="b.example.com", policy=policy_id, name="app-b")
    app_id = one_id("apps", rf'href="{base}/apps/{_ID_36}"')
    post("notifications/webhooks", name="hook-b", url=receiver.url)
    webhook_id = one_id(
        "notifications/webhooks", rf'action="{base}/notifications/webhooks/{_ID_32}/test"'
    )
    post(
        "notifications/policies",
        name="alert-b",
        alert_type=TOKEN_DISABLED,
        enabled="on",
        webhook=webhook_id,
    )
    alert_id = one_id("notifications/policies", rf'href="{base}/notifications/policies/{_ID_32}"')
    return Objects(token_id, policy_id, app_id, webhook_id, alert_id)


def _snapshot(client: TestClient, account: str, objects: Objects) -> dict[str, str]:
    """Every page of `account` as its own member reads it (CSRF values aside)."""
    pages = {}
    for method, url in urls(client, account, objects):
        if method == "GET":
            response = client.get(url)
            assert response.status_code == 200, (url, response.text)
            pages[url] = _CSRF_VALUE.sub("", response.text)
    return pages


def _token(service: UseCases, account: str, token_id: str) -> ServiceToken:
    """The token as the store holds it, read by an API token of its account."""
    reader = Principal(
        PrincipalKind.API_TOKEN, "t", (Grant(ContainerKind.ACCOUNT, account, Permission.READ),)
    )
    return service.tokens.get(reader, ContainerRef(ContainerKind.ACCOUNT, account, "/"), token_id)


def _forged(csrf: str, receiver: Receiver, objects: Objects) -> dict[str, str]:
    """A form that would do harm to B's objects if any handler took it."""
    return {
        "csrf_token": csrf,
        "name": "evil",
        "duration": "24h",
        "grace": "0",
        "decision": "allow",
        "domain": "evil.example.com",
        "confirm": "yes",
        "token": objects.token_id,
        "policy": objects.access_policy_id,
        "webhook": objects.webhook_id,
        "alert_type": TOKEN_DISABLED,
        "url": receiver.url,
    }


def test_a_member_of_a_reaches_none_of_bs_pages_or_objects(
    browser: TestClient, people: People, dash_service: UseCases, receiver: Receiver
) -> None:
    with dashboard_app(dash_service) as owner:
        sign_in(owner, people.email_b)
        objects = _b_world(owner, people.account_b, receiver)
        owner.get(f"/accounts/{people.account_b}/tokens/{objects.token_id}/secret")  # used up
        before = _snapshot(owner, people.account_b, objects)
        token = _token(dash_service, people.account_b, objects.token_id)
        sent = len(receiver.received)
        assert sent == 1  # the destination's own test message, when B saved it

        csrf = sign_in(browser, people.email_a)
        under_b = urls(browser, people.account_b, objects)
        under_a = urls(browser, people.account_a, objects, with_object_only=True)
        tried = set()
        for method, url in [*under_b, *under_a]:
            if method == "GET":
                response = browser.get(url)
            else:
                response = browser.post(url, data=_forged(csrf, receiver, objects))
            assert response.status_code == 404, (method, url, response.status_code)
            assert token.client_id not in response.text, (method, url)
            for name in ("secret-b", "policy-b", "app-b", "b.example.com", "hook-b", "alert-b"):
                assert name not in response.text, (method, url, name)
            tried.add(url.replace(people.account_a, "A").replace(people.account_b, "B"))

        after = _snapshot(owner, people.account_b, objects)
        assert after == before
        assert _token(dash_service, people.account_b, objects.token_id) == token
        assert len(receiver.received) == sent

    # The table reached every kind of page: each object by id, and what it offers.
    for expected in (
        f"/accounts/B/tokens/{objects.token_id}/delete",
        f"/accounts/A/tokens/{objects.token_id}/rotate",
        f"/accounts/B/policies/{objects.access_policy_id}/delete",
        f"/accounts/A/policies/{objects.access_policy_id}",
        f"/accounts/B/apps/{objects.app_id}/delete",
        f"/accounts/A/apps/{objects.app_id}",
        f"/accounts/A/notifications/webhooks/{objects.webhook_id}/test",
        f"/accounts/B/notifications/policies/{objects.alert_policy_id}/delete",
        f"/accounts/A/notifications/policies/{objects.alert_policy_id}",
        "/accounts/B/notifications/history",
        "/accounts/B/audit",
        "/accounts/B/organization",
    ):
        assert expected in tried, expected


def test_signed_out_visitors_reach_no_page(
    browser: TestClient, people: People, receiver: Receiver
) -> None:
    nobody = Objects(
        "0" * 8 + "-0000-0000-0000-" + "0" * 12, "0" * 36, "0" * 36, "0" * 32, "0" * 32
    )
    for method, url in urls(browser, people.account_a, nobody):
        response = browser.request(method, url, data={"name": "x", "url": receiver.url})
        assert response.status_code in (303, 403), (method, url)
        if response.status_code == 303:
            assert response.headers["location"].startswith("/sign-in")
    assert receiver.received == []
