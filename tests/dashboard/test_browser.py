"""The dashboard in a real browser (Debian's Chromium driven by Playwright): a person signs
in, creates a token and reads its secret once, finds it by search, rotates it with a grace
period (the gate accepts both secrets), disables and deletes it, and signs out; a member of
another account sees none of it by any URL; a POST without the CSRF token is refused; the
pages fit a 360 px screen.

Elements are found by role and label, as a person (or a screen reader) finds them. One
browser serves the whole module; each test has its own context (cookies).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.harness import ServerThread

from servicetokens.api import create_app
from servicetokens.dashboard import mount_dashboard
from tests import prerequisites
from tests.dashboard.conftest import PASSWORD
from tests.gate.conftest import GateFactory, Tenant, creds, make_tenant, upstream_app

pytestmark = pytest.mark.chromium

with contextlib.suppress(ImportError):  # collected (and skipped, one line) without it too
    from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Tenant, str, str]]:
    """(dashboard URL, tenant A, email of A's member, email of B's member), served by a real
    uvicorn, and a gate with an echo upstream for the tenant."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'dash.db'}"
    tenant = make_tenant(url)
    service = tenant.service
    other = service.admin.create_account("B")
    email_a, email_b = "alice@example.com", "bob@example.com"
    service.admin.create_user(email_a, account_id=tenant.account)
    service.admin.create_user(email_b, account_id=other)
    service.people.set_password(email_a, PASSWORD)
    service.people.set_password(email_b, PASSWORD)
    app = create_app(service)
    mount_dashboard(app, service)
    with ServerThread(app) as server:
        yield server.url, tenant, email_a, email_b
    service.close()


@pytest.fixture(scope="module")
def gate(site: tuple[str, Tenant, str, str]) -> Iterator[str]:
    with ServerThread(upstream_app) as upstream:
        factory = GateFactory(site[1], upstream.url)
        try:
            yield factory()
        finally:
            factory.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=prerequisites.chromium_program())
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, site: tuple[str, Tenant, str, str]) -> Iterator[Page]:
    context = chromium.new_context(base_url=site[0])
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def sign_in(page: Page, email: str) -> None:
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Service tokens")).to_be_visible()


def _gate_status(gate: str, client_id: str, secret: str) -> int:
    return httpx.get(f"{gate}/anything", headers=creds(client_id, secret), timeout=5).status_code


def test_a_token_from_creation_to_deletion(
    page: Page, site: tuple[str, Tenant, str, str], gate: str
) -> None:
    sign_in(page, site[2])
    expect(page.get_by_text("No service tokens yet.")).to_be_visible()
    page.get_by_role("link", name="Create your first service token").click()
    page.get_by_label("Name").fill("deploy-bot")
    page.get_by_label("Duration", exact=True).select_option(label="30 days")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", name="Save the secret")).to_be_visible()
    client_id = page.get_by_label("Client ID").input_value()
    first_secret = page.get_by_label("Client Secret").input_value()
    assert len(first_secret) == 64
    expect(page.get_by_label("curl")).to_have_value(re.compile(re.escape(first_secret)))
    expect(page.get_by_role("button", name="Copy Client Secret")).to_be_visible()  # JS ran
    assert _gate_status(gate, client_id, first_secret) == 200

    page.reload()
    expect(page.get_by_role("heading", name="Secret no longer shown")).to_be_visible()
    assert first_secret not in page.content()

    page.get_by_role("navigation", name="Sections").get_by_role(
        "link", name="Service tokens"
    ).click()
    page.get_by_label("Search by name or client ID").fill("deploy")
    page.get_by_label("Show").select_option(label="Expiring within 7 days")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No service token matches")).to_be_visible()  # 30 days left
    page.get_by_label("Show").select_option(label="All tokens")
    page.get_by_label("Sort by").select_option(label="Name, Z to A")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_label("Sort by")).to_have_value("name:desc")
    expect(page.get_by_role("table")).to_contain_text(client_id)
    page.get_by_role("link", name="deploy-bot").click()

    page.get_by_label("Keep the old secret for 24 hours").check()
    page.get_by_role("button", name="Rotate secret").click()
    second_secret = page.get_by_label("Client Secret").input_value()
    assert second_secret != first_secret
    assert _gate_status(gate, client_id, second_secret) == 200
    assert _gate_status(gate, client_id, first_secret) == 200  # in its grace period
    page.get_by_role("link", name="Go to the token").click()
    expect(page.get_by_text("In grace: previous secret valid until")).to_be_visible()

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_text("Disabled", exact=True)).to_be_visible()
    assert _gate_status(gate, client_id, second_secret) != 200

    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete token").click()
    expect(page.get_by_role("heading", name="Service tokens")).to_be_visible()
    expect(page.get_by_role("link", name="deploy-bot")).to_have_count(0)


def test_sign_out_ends_the_session(page: Page, site: tuple[str, Tenant, str, str]) -> None:
    sign_in(page, site[2])
    tokens_url = page.url
    cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.context.add_cookies(cookies)  # the old session cookie, put back
    page.goto(tokens_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_another_account_sees_nothing_by_any_url(
    page: Page, site: tuple[str, Tenant, str, str]
) -> None:
    tenant = site[1]
    token, _ = tenant.token("owned-by-a")
    sign_in(page, site[3])  # a member of B
    base = f"/accounts/{tenant.account}"
    for path in (
        f"{base}/tokens",
        f"{base}/tokens/{token.id}",
        f"{base}/tokens/{token.id}/secret",
        f"{base}/tokens/{token.id}/delete",
        f"{base}/audit",
        f"{base}/policies",
        f"{base}/apps",
        f"{base}/organization",
    ):
        response = page.goto(path)
        assert response is not None
        assert response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        assert token.client_id not in page.content()


def test_a_post_without_the_csrf_token_is_refused(
    page: Page, site: tuple[str, Tenant, str, str]
) -> None:
    sign_in(page, site[2])
    account = site[1].account
    response = page.context.request.post(
        f"/accounts/{account}/tokens", form={"name": "forged", "duration": "24h"}
    )
    assert response.status == 403
    page.goto(f"/accounts/{account}/tokens?search=forged")
    expect(page.get_by_role("link", name="forged")).to_have_count(0)


def test_the_pages_fit_a_narrow_screen(
    chromium: Browser, site: tuple[str, Tenant, str, str], tmp_path: Path
) -> None:
    context = chromium.new_context(base_url=site[0], viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        sign_in(page, site[2])
        site[1].token("a-token-with-a-rather-long-name-for-a-small-screen")
        for path in ("tokens", "tokens/new", "audit", "policies", "notifications/policies/new"):
            page.goto(f"/accounts/{site[1].account}/{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (path, width)
        page.keyboard.press("Tab")  # the first stop is the skip link
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    finally:
        context.close()
