"""The token list's lifecycle filters ("Show") and sort, as a GET form: each choice narrows
to the tokens its badge names, the choices survive paging, and they never reach past the
visitor's account."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.testclient import TestClient

from tests.clocks import HandClock
from tests.dashboard.conftest import People, sign_in

_NAME = re.compile(r'href="/accounts/[0-9a-f]{32}/tokens/[0-9a-f-]{36}">([^<]+)</a>')


def _create(browser: TestClient, account: str, csrf: str, name: str, duration: str) -> str:
    data = {"csrf_token": csrf, "name": name, "duration": duration}
    response = browser.post(f"/accounts/{account}/tokens", data=data)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).removesuffix("/secret")


def _names(browser: TestClient, url: str) -> list[str]:
    response = browser.get(url)
    assert response.status_code == 200, response.text
    return _NAME.findall(response.text)


def _lifecycle(browser: TestClient, people: People, clock: HandClock) -> str:
    """Four tokens, one per state; the list's URL."""
    csrf = sign_in(browser, people.email_a)
    _create(browser, people.account_a, csrf, "old-expired", "24h")
    _create(browser, people.account_a, csrf, "old-kept", "8760h")
    clock.advance(timedelta(days=31))
    csrf = sign_in(browser, people.email_a)  # the session ended meanwhile
    _create(browser, people.account_a, csrf, "fresh-soon", "168h")
    off = _create(browser, people.account_a, csrf, "fresh-off", "8760h")
    assert browser.post(f"{off}/disable", data={"csrf_token": csrf}).status_code == 303
    return f"/accounts/{people.account_a}/tokens"


def test_each_show_choice_lists_its_tokens(
    browser: TestClient, people: People, clock: HandClock
) -> None:
    base = _lifecycle(browser, people, clock)
    assert sorted(_names(browser, f"{base}?show=all")) == [
        "fresh-off",
        "fresh-soon",
        "old-expired",
        "old-kept",
    ]
    assert _names(browser, f"{base}?show=expired") == ["old-expired"]
    assert _names(browser, f"{base}?show=expiring") == ["fresh-soon"]
    assert _names(browser, f"{base}?show=disabled") == ["fresh-off"]
    assert sorted(_names(browser, f"{base}?show=idle")) == ["old-expired", "old-kept"]
    page = browser.get(f"{base}?show=expired&search=kept")
    assert "No service token matches" in page.text
    assert "No service tokens yet." not in page.text  # a narrowed list is not an empty one


def test_the_sort_select_orders_the_list(
    browser: TestClient, people: People, clock: HandClock
) -> None:
    base = _lifecycle(browser, people, clock)
    by_name = ["fresh-off", "fresh-soon", "old-expired", "old-kept"]
    assert _names(browser, f"{base}?sort=name:asc") == by_name
    assert _names(browser, f"{base}?sort=name:desc") == by_name[::-1]
    assert _names(browser, f"{base}?sort=expires_at:asc")[:2] == ["old-expired", "fresh-soon"]
    newest_first = _names(browser, f"{base}?sort=created_at:desc")
    assert sorted(newest_first[:2]) == ["fresh-off", "fresh-soon"]  # the hand clock ties pairs
    page = browser.get(f"{base}?sort=name:desc&show=idle")
    assert '<option value="name:desc" selected>' in page.text
    assert '<option value="idle" selected>' in page.text


def test_the_form_has_a_label_for_every_control(browser: TestClient, people: People) -> None:
    sign_in(browser, people.email_a)
    page = browser.get(f"/accounts/{people.account_a}/tokens").text
    form = page[page.index('role="search"') : page.index("</form>", page.index('role="search"'))]
    assert 'method="get"' in page[page.index("<form", page.index("</header>")) :][:120]
    for control in re.findall(r'<(?:input|select) id="([^"]+)"', form):
        assert f'<label for="{control}">' in form, control


def test_show_and_sort_survive_paging(
    browser: TestClient, people: People, clock: HandClock
) -> None:
    csrf = sign_in(browser, people.email_a)
    for i in range(26):
        _create(browser, people.account_a, csrf, f"w-{i:02d}", "8760h")
    clock.advance(timedelta(days=31))
    csrf = sign_in(browser, people.email_a)
    _create(browser, people.account_a, csrf, "fresh", "8760h")
    base = f"/accounts/{people.account_a}/tokens"
    first = browser.get(f"{base}?show=idle&sort=name:desc&per_page=25")
    assert "26 service tokens" in first.text
    assert _NAME.findall(first.text)[0] == "w-25"
    link = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert "show=idle" in url
    assert "sort=name%3Adesc" in url
    assert "per_page=25" in url
    assert _names(browser, url) == ["w-00"]


def test_a_choice_not_offered_is_refused(browser: TestClient, people: People) -> None:
    sign_in(browser, people.email_a)
    base = f"/accounts/{people.account_a}/tokens"
    for query in ("show=everything", "sort=client_secret:asc", "sort=name", "sort=name:up"):
        response = browser.get(f"{base}?{query}")
        assert response.status_code == 400, query
        assert "Choose" in response.text
        assert response.headers["cache-control"] == "no-store"


def test_filters_never_reach_another_account(
    browser: TestClient, people: People, clock: HandClock
) -> None:
    _lifecycle(browser, people, clock)
    browser.cookies.clear()
    sign_in(browser, people.email_b)
    for query in ("show=expired", "show=idle&sort=name:desc", "show=disabled"):
        foreign = browser.get(f"/accounts/{people.account_a}/tokens?{query}")
        assert foreign.status_code == 404, query
        assert "old-expired" not in foreign.text
        assert "fresh-off" not in foreign.text
        assert _names(browser, f"/accounts/{people.account_b}/tokens?{query}") == []
