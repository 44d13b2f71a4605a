"""The dashboard over HTTP: sign-in, the token pages, the secret shown once, and the
headers every page carries."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.dashboard.conftest import PASSWORD, People, csrf_of, sign_in

_TOKEN_LINK = re.compile(r'href="/accounts/[0-9a-f]{32}/tokens/([0-9a-f-]{36})"')


def _create(browser: TestClient, account: str, csrf: str, name: str, **extra: str) -> str:
    data = {"csrf_token": csrf, "name": name, "duration": "8760h", **extra}
    response = browser.post(f"/accounts/{account}/tokens", data=data)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    assert location.endswith("/secret")
    return location


def test_root_sends_a_stranger_to_sign_in(browser: TestClient) -> None:
    response = browser.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"
    page = browser.get("/sign-in")
    assert page.status_code == 200
    assert 'label for="email"' in page.text
    assert "no-store" in page.headers["cache-control"]


def test_every_page_carries_the_security_headers(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    secret_url = _create(browser, people.account_a, csrf, "headers")
    for url in ("/sign-in", f"/accounts/{people.account_a}/tokens", secret_url, "/nowhere"):
        response = browser.get(url)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text  # no inline script anywhere
        assert " on" + "click=" not in response.text


def test_cookies_are_httponly_and_samesite(browser: TestClient, people: People) -> None:
    form = browser.get("/sign-in")
    response = browser.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "email": people.email_a, "password": PASSWORD},
    )
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("st_session="))
    assert "HttpOnly" in session
    assert "SameSite=lax" in session or "SameSite=Lax" in session
    assert "Secure" not in session  # plain HTTP here; HTTPS requests get Secure


def test_over_https_cookies_are_secure_and_host_only(
    dash_service: UseCases, people: People
) -> None:
    """Over HTTPS every dashboard cookie is `Secure` and named `__Host-...` (the browser
    keeps it only if this host set it for `/` with no `Domain`, so a sibling subdomain
    cannot plant one); a cookie under the plain name is not read there."""
    from tests.dashboard.conftest import dashboard_app

    with dashboard_app(dash_service) as client:
        client.base_url = client.base_url.copy_with(scheme="https")  # type: ignore[misc]
        form = client.get("https://testserver/sign-in")
        pre = form.headers["set-cookie"]
        assert pre.startswith("__Host-st_signin=")
        response = client.post(
            "https://testserver/sign-in",
            data={"csrf_token": csrf_of(form.text), "email": people.email_a, "password": PASSWORD},
        )
        assert response.status_code == 303, response.text
        cookies = response.headers.get_list("set-cookie")
        for name in ("__Host-st_session=", "__Host-st_device="):
            made = next(c for c in cookies if c.startswith(name))
            assert "Secure" in made
            assert "Path=/" in made
            assert "Domain" not in made
        assert not any(c.startswith(("st_session=", "st_device=")) for c in cookies)
        tokens = f"https://testserver/accounts/{people.account_a}/tokens"
        assert client.get(tokens).status_code == 200  # the __Host- session is the session
        session = client.cookies.get("__Host-st_session")
        assert session is not None
        client.cookies.clear()
        client.cookies.set("st_session", session)  # the same id under the plain name
        assert client.get(tokens).status_code == 303  # not read over HTTPS: sign in first


def test_wrong_password_is_refused_beside_the_form(browser: TestClient, people: People) -> None:
    form = browser.get("/sign-in")
    response = browser.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "email": people.email_a, "password": "nope" * 4},
    )
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert "st_session=" not in response.headers.get("set-cookie", "")


def test_create_shows_the_secret_once(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    secret_url = _create(browser, people.account_a, csrf, "deploy bot")
    first = browser.get(secret_url)
    assert first.status_code == 200
    secret = re.search(r'id="client-secret" type="text" readonly value="([^"]+)"', first.text)
    assert secret is not None
    assert "CF-Access-Client-Secret: " + secret.group(1) in first.text
    assert "CF_ACCESS_CLIENT_SECRET=" + secret.group(1) in first.text
    assert first.headers["cache-control"] == "no-store"
    again = browser.get(secret_url)
    assert again.status_code == 200
    assert secret.group(1) not in again.text
    assert "no longer available" in again.text


def test_the_list_searches_and_pages(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    for i in range(27):
        _create(browser, people.account_a, csrf, f"worker-{i:02d}")
    _create(browser, people.account_a, csrf, "the-needle")
    base = f"/accounts/{people.account_a}/tokens"
    first = browser.get(f"{base}?per_page=25")
    assert first.status_code == 200
    assert "28 service tokens" in first.text
    assert len(_TOKEN_LINK.findall(first.text)) == 25
    assert "Page 1 of 2" in first.text
    second = browser.get(f"{base}?per_page=25&page=2")
    assert len(_TOKEN_LINK.findall(second.text)) == 3
    found = browser.get(f"{base}?search=needle")
    assert len(_TOKEN_LINK.findall(found.text)) == 1
    assert "the-needle" in found.text


def test_empty_state_tells_what_to_do(browser: TestClient, people: People) -> None:
    sign_in(browser, people.email_a)
    page = browser.get(f"/accounts/{people.account_a}/tokens")
    assert "No service tokens yet." in page.text
    assert "Create your first service token" in page.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "   "}, "name-error", "name must not be empty"),
        ({"name": "x" * 351}, "name-error", "the limit is 350"),
        ({"name": "ok", "duration": "custom", "custom_duration": "10x"}, "duration-error", "10x"),
        ({"name": "ok", "duration": "custom", "custom_duration": "-5h"}, "duration-error", ""),
    ],
)
def test_create_errors_sit_beside_their_field(
    browser: TestClient, people: People, fields: dict[str, str], field: str, message: str
) -> None:
    csrf = sign_in(browser, people.email_a)
    data = {"csrf_token": csrf, "duration": "8760h", **fields}
    response = browser.post(f"/accounts/{people.account_a}/tokens", data=data)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="{field}">([^<]*)</p>', response.text)
    assert error is not None, response.text
    assert message in error.group(1).replace("&#34;", '"')


def test_token_actions(browser: TestClient, people: People, clock: HandClock) -> None:
    csrf = sign_in(browser, people.email_a)
    secret_url = _create(browser, people.account_a, csrf, "actions")
    token_url = secret_url.removesuffix("/secret")
    browser.get(secret_url)
    response = browser.post(f"{token_url}/disable", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert "Disabled" in browser.get(token_url).text
    browser.post(f"{token_url}/enable", data={"csrf_token": csrf})
    assert 'class="badge off">Disabled' not in browser.get(token_url).text
    browser.post(f"{token_url}/refresh", data={"csrf_token": csrf})
    rotated = browser.post(f"{token_url}/rotate", data={"csrf_token": csrf, "grace": "24h"})
    assert rotated.status_code == 303
    assert rotated.headers["location"] == secret_url
    assert "Save the secret" in browser.get(secret_url).text
    detail = browser.get(token_url).text
    assert "In grace: previous secret valid until" in detail
    for action in ("service_token.create", "service_token.rotate", "service_token.refresh"):
        assert action in detail  # the token's history
    assert browser.get(f"{token_url}/delete").status_code == 200
    deleted = browser.post(f"{token_url}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert browser.get(token_url).status_code == 404


def test_rotate_refuses_a_grace_not_offered(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    token_url = _create(browser, people.account_a, csrf, "grace").removesuffix("/secret")
    response = browser.post(f"{token_url}/rotate", data={"csrf_token": csrf, "grace": "9999h"})
    assert response.status_code == 400
    assert "Choose a grace period." in response.text


def test_the_api_keeps_its_answers(browser: TestClient) -> None:
    unknown = browser.get("/client/v4/nowhere")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == 7000
    assert browser.get("/healthz").status_code == 200
    page = browser.get("/nowhere")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


def test_static_assets_are_small_and_served(browser: TestClient) -> None:
    total = 0
    for name, kind in (("dashboard.css", "text/css"), ("dashboard.js", "text/javascript")):
        response = browser.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(kind)
        total += len(response.content)
    assert total < 100_000
    assert browser.get("/static/../app.py").status_code == 404


def test_a_page_past_the_last_is_not_the_empty_state(browser: TestClient, people: People) -> None:
    """An address past the last page (an old bookmark, a token deleted meanwhile) says so
    and links back; it does not tell an account with tokens to create its first."""
    csrf = sign_in(browser, people.email_a)
    for name in ("one", "two", "three"):
        _create(browser, people.account_a, csrf, name)
    page = browser.get(f"/accounts/{people.account_a}/tokens?per_page=25&search=&page=5")
    assert page.status_code == 200
    assert "No service tokens yet." not in page.text
    assert "Page 5 is past the last page (1)." in page.text
    assert re.search(r'<a href="[^"]*page=1">Go to the first page</a>', page.text)
