"""The notification pages over HTTP: webhook destinations (the secret entered once, never
shown back; the test message's result shown), alert policies (create, edit, delete, errors
beside their field), the history (read-only), and the same isolation, CSRF and headers as
every other page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.notifications.alert_types import TOKEN_DISABLED
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.dashboard.conftest import People, dashboard_app, make_people, sign_in
from tests.notifications.receiver import Receiver

_SECRET = "whsec-never-shown-again-7f3a"
_POLICY_LINK = re.compile(r'href="/accounts/[0-9a-f]{32}/notifications/policies/([0-9a-f]{32})"')
_WEBHOOK_FORM = re.compile(
    r'action="/accounts/[0-9a-f]{32}/notifications/webhooks/([0-9a-f]{32})/test"'
)


@pytest.fixture
def service(database_url: str) -> Iterator[UseCases]:
    """Use cases whose webhooks may reach loopback (where the receiver listens), on real
    time (a receiver may check a signature's timestamp)."""
    engine = make_engine(database_url, pool_size=4)
    upgrade(engine)
    clock = HandClock(datetime.now(UTC))
    yield build_use_cases(Database(engine), clock=clock, allow_private_webhooks=True)
    engine.dispose()


@pytest.fixture
def two(service: UseCases) -> People:
    return make_people(service)


@pytest.fixture
def client(service: UseCases) -> Iterator[TestClient]:
    with dashboard_app(service) as browser:
        yield browser


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _add_webhook(client: TestClient, account: str, csrf: str, url: str, **extra: str) -> str:
    data = {"csrf_token": csrf, "name": "ops hook", "url": url, **extra}
    response = client.post(f"/accounts/{account}/notifications/webhooks", data=data)
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    assert "its test message was delivered" in page.text
    found = _WEBHOOK_FORM.search(page.text)
    assert found is not None
    return found.group(1)


def test_a_destination_is_tested_and_its_secret_never_shown(
    client: TestClient, two: People, receiver: Receiver
) -> None:
    csrf = sign_in(client, two.email_a)
    base = f"/accounts/{two.account_a}/notifications/webhooks"
    webhook_id = _add_webhook(client, two.account_a, csrf, receiver.url, secret=_SECRET)
    assert len(receiver.received) == 1  # the test message, sent before saving
    assert "webhook-signature" in receiver.received[0].headers
    listing = client.get(base)
    assert listing.headers["cache-control"] == "no-store"
    assert _SECRET not in listing.text
    assert "ops hook" in listing.text
    tested = client.post(f"{base}/{webhook_id}/test", data={"csrf_token": csrf})
    assert tested.status_code == 200
    assert "Delivered: the destination answered 200." in tested.text
    assert _SECRET not in tested.text
    receiver.status = 503
    failed = client.post(f"{base}/{webhook_id}/test", data={"csrf_token": csrf})
    assert "Refused: the destination answered 503." in failed.text
    gone = client.post(f"{base}/{webhook_id}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert "ops hook" not in client.get(base).text


def test_a_failing_destination_is_an_error_beside_the_url(
    client: TestClient, two: People, receiver: Receiver
) -> None:
    csrf = sign_in(client, two.email_a)
    receiver.status = 500
    data = {"csrf_token": csrf, "name": "down", "url": receiver.url, "secret": _SECRET}
    response = client.post(f"/accounts/{two.account_a}/notifications/webhooks", data=data)
    assert response.status_code == 400
    error = re.search(r'<p class="error" id="url-error">([^<]*)</p>', response.text)
    assert error is not None
    assert "500" in error.group(1)
    assert _SECRET not in response.text  # not even put back into the form
    assert 'value="down"' in response.text
    bad = client.post(
        f"/accounts/{two.account_a}/notifications/webhooks",
        data={"csrf_token": csrf, "name": "", "url": receiver.url},
    )
    assert re.search(r'<p class="error" id="name-error">', bad.text)


def test_alert_policies_and_the_history(
    client: TestClient, two: People, receiver: Receiver
) -> None:
    csrf = sign_in(client, two.email_a)
    webhook_id = _add_webhook(client, two.account_a, csrf, receiver.url)
    base = f"/accounts/{two.account_a}/notifications/policies"
    form = client.get(f"{base}/new")
    assert form.status_code == 200
    assert 'label for="alert_type"' in form.text
    no_hook = client.post(
        base, data={"csrf_token": csrf, "name": "p", "alert_type": TOKEN_DISABLED, "enabled": "on"}
    )
    assert no_hook.status_code == 400
    assert re.search(r'<p class="error" id="webhooks-error">', no_hook.text)
    created = client.post(
        base,
        data={
            "csrf_token": csrf,
            "name": "tell ops",
            "alert_type": TOKEN_DISABLED,
            "enabled": "on",
            "webhook": webhook_id,
        },
    )
    assert created.status_code == 303, created.text
    listing = client.get(base).text
    assert "Service Token Disabled" in listing
    assert "Every token" in listing
    found = _POLICY_LINK.search(listing)
    assert found is not None
    policy_url = f"{base}/{found.group(1)}"
    edited = client.post(
        policy_url,
        data={
            "csrf_token": csrf,
            "name": "tell ops, renamed",
            "alert_type": TOKEN_DISABLED,
            "webhook": webhook_id,
        },
    )
    assert edited.status_code == 303
    assert "tell ops, renamed" in client.get(policy_url).text
    assert "<td>Disabled</td>" in client.get(base).text  # the box left unchecked
    enabled = client.post(
        policy_url,
        data={
            "csrf_token": csrf,
            "name": "on",
            "alert_type": TOKEN_DISABLED,
            "enabled": "on",
            "webhook": webhook_id,
        },
    )
    assert enabled.status_code == 303
    assert "<td>Enabled</td>" in client.get(base).text

    token = client.post(
        f"/accounts/{two.account_a}/tokens",
        data={"csrf_token": csrf, "name": "watched", "duration": "24h"},
    )
    token_url = token.headers["location"].removesuffix("/secret")
    client.post(f"{token_url}/disable", data={"csrf_token": csrf})
    history = client.get(f"/accounts/{two.account_a}/notifications/history")
    assert history.status_code == 200
    assert TOKEN_DISABLED in history.text
    assert "<form" not in history.text.split("<main", 1)[1].split("Sign out")[0]

    deleted = client.post(f"{policy_url}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert "No alert policies yet." in client.get(base).text


def test_another_account_gets_404_on_every_notification_page(
    client: TestClient, two: People, receiver: Receiver
) -> None:
    csrf_a = sign_in(client, two.email_a)
    webhook_id = _add_webhook(client, two.account_a, csrf_a, receiver.url)
    client.cookies.clear()
    csrf_b = sign_in(client, two.email_b)
    a = f"/accounts/{two.account_a}/notifications"
    for path in (f"{a}/webhooks", f"{a}/policies", f"{a}/policies/new", f"{a}/history"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "ops hook" not in response.text
    sent = len(receiver.received)
    for path in (f"{a}/webhooks/{webhook_id}/test", f"{a}/webhooks/{webhook_id}/delete"):
        assert client.post(path, data={"csrf_token": csrf_b}).status_code == 404, path
    # Under B's own account, A's destination is not found either.
    b = f"/accounts/{two.account_b}/notifications"
    for path in (f"{b}/webhooks/{webhook_id}/test", f"{b}/webhooks/{webhook_id}/delete"):
        assert client.post(path, data={"csrf_token": csrf_b}).status_code == 404, path
    assert len(receiver.received) == sent  # nothing was sent on B's word
    forged = client.post(
        f"{b}/policies",
        data={
            "csrf_token": csrf_b,
            "name": "x",
            "alert_type": TOKEN_DISABLED,
            "webhook": webhook_id,
        },
    )
    assert forged.status_code == 400  # A's webhook is not B's to name
    assert re.search(r'<p class="error" id="webhooks-error">', forged.text)


def test_notification_forms_need_the_csrf_token(
    client: TestClient, two: People, receiver: Receiver
) -> None:
    sign_in(client, two.email_a)
    a = f"/accounts/{two.account_a}/notifications"
    for path, data in (
        (f"{a}/webhooks", {"name": "x", "url": receiver.url}),
        (f"{a}/policies", {"name": "x", "alert_type": TOKEN_DISABLED}),
    ):
        response = client.post(path, data=data)
        assert response.status_code == 403, path
        assert response.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert receiver.received == []
    assert "No webhook destinations yet." in client.get(f"{a}/webhooks").text
