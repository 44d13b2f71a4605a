"""The audit log page's filters over HTTP, each shown to narrow to the entries it names and
to keep every other one out: by token, by actor, and by a time range (From's day on, To's
day included, the next midnight excluded), alone and together."""

from __future__ import annotations

import html
import re
import secrets
from datetime import UTC, datetime

from starlette.testclient import TestClient

from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.dashboard.conftest import PASSWORD, People, dashboard_app, sign_in

_ROW = re.compile(
    r"<tr>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>[^<]*</td>"
    r'\s*<td><code class="clip">([^<]*)</code></td>\s*</tr>'
)
_NAME = re.compile(r"(?:^| )name=(\S+)")


def _entries(browser: TestClient, account: str, query: str) -> set[tuple[str, str, str]]:
    """The page's rows for `query` as (action, token name, actor)."""
    response = browser.get(f"/accounts/{account}/audit?{query}")
    assert response.status_code == 200, response.text
    found = set()
    for _, action, actor, detail in _ROW.findall(response.text):
        name = _NAME.search(html.unescape(detail))
        found.add((action, name.group(1) if name else "", html.unescape(actor)))
    return found


def _create(browser: TestClient, account: str, csrf: str, name: str) -> str:
    data = {"csrf_token": csrf, "name": name, "duration": "8760h"}
    response = browser.post(f"/accounts/{account}/tokens", data=data)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).split("/")[-2]


def _history(
    browser: TestClient, people: People, dash_service: UseCases, clock: HandClock
) -> tuple[str, str, str]:
    """Entries by two members of account A over three days of March (and one in account
    B), after the operator's set-up on 1 January; the ids of tokens `alpha` and `beta`,
    and the second member's email."""
    account = people.account_a
    second = f"second-{secrets.token_hex(4)}@example.com"
    dash_service.admin.create_user(second, account_id=account)
    dash_service.people.set_password(second, PASSWORD)

    clock.now = datetime(2030, 3, 1, 9, tzinfo=UTC)
    csrf = sign_in(browser, people.email_a)
    alpha = _create(browser, account, csrf, "alpha")
    beta = _create(browser, account, csrf, "beta")
    assert (
        browser.post(
            f"/accounts/{account}/tokens/{alpha}/refresh", data={"csrf_token": csrf}
        ).status_code
        == 303
    )

    clock.now = datetime(2030, 3, 2, 23, 59, 59, 999_999, tzinfo=UTC)  # the day's last moment
    with dashboard_app(dash_service) as other:
        csrf_other = sign_in(other, second)
        rotate = {"csrf_token": csrf_other, "grace": "0"}
        assert (
            other.post(f"/accounts/{account}/tokens/{alpha}/rotate", data=rotate).status_code == 303
        )
        _create(other, account, csrf_other, "gamma")

    clock.now = datetime(2030, 3, 3, tzinfo=UTC)  # the next midnight
    csrf = sign_in(browser, people.email_a)
    assert (
        browser.post(
            f"/accounts/{account}/tokens/{beta}/disable", data={"csrf_token": csrf}
        ).status_code
        == 303
    )
    _create(browser, account, csrf, "delta")

    with dashboard_app(dash_service) as stranger:  # account B's log is not A's
        _create(stranger, people.account_b, sign_in(stranger, people.email_b), "alpha")
    return alpha, beta, second


def test_the_filters_narrow_to_what_they_name(
    browser: TestClient, people: People, dash_service: UseCases, clock: HandClock
) -> None:
    alpha, beta, second = _history(browser, people, dash_service, clock)
    a = f"user: {people.email_a}"
    b = f"user: {second}"
    everything = {
        ("service_token.create", "alpha", a),
        ("service_token.create", "beta", a),
        ("service_token.refresh", "alpha", a),
        ("service_token.rotate", "alpha", b),
        ("service_token.create", "gamma", b),
        ("service_token.update", "beta", a),
        ("service_token.create", "delta", a),
    }
    account = people.account_a
    listed = _entries(browser, account, "")
    # The operator's set-up (the account, its members), all on 1 January: not the tokens'.
    operator = {entry for entry in listed if entry[2].startswith("cli: ")}
    assert {entry[0] for entry in operator} == {"account.create", "user.create"}
    everything |= operator
    assert listed == everything

    assert _entries(browser, account, f"token={alpha}") == {
        ("service_token.create", "alpha", a),
        ("service_token.refresh", "alpha", a),
        ("service_token.rotate", "alpha", b),
    }
    assert _entries(browser, account, f"token={beta}") == {
        ("service_token.create", "beta", a),
        ("service_token.update", "beta", a),
    }
    assert _entries(browser, account, f"actor={second}") == {
        ("service_token.rotate", "alpha", b),
        ("service_token.create", "gamma", b),
    }
    assert _entries(browser, account, f"actor={people.email_a}") == {
        entry for entry in everything if entry[2] == a
    }
    assert _entries(browser, account, f"token={alpha}&actor={people.email_a}") == {
        ("service_token.create", "alpha", a),
        ("service_token.refresh", "alpha", a),
    }

    day_two = {("service_token.rotate", "alpha", b), ("service_token.create", "gamma", b)}
    day_three = {("service_token.update", "beta", a), ("service_token.create", "delta", a)}
    assert _entries(browser, account, "since=2030-03-02&until=2030-03-02") == day_two
    assert _entries(browser, account, "since=2030-03-02") == day_two | day_three
    assert _entries(browser, account, "until=2030-03-02") == everything - day_three
    assert _entries(browser, account, "since=2030-03-03&until=2030-03-03") == day_three
    assert _entries(browser, account, "since=2030-03-04") == set()
    assert _entries(browser, account, "until=2030-02-28") == operator
    assert _entries(browser, account, "since=2030-01-02&until=2030-02-28") == set()
    assert _entries(browser, account, f"since=2030-03-02&token={beta}") == {
        ("service_token.update", "beta", a)
    }


def test_a_filter_naming_nothing_shows_no_entries(
    browser: TestClient, people: People, dash_service: UseCases, clock: HandClock
) -> None:
    _history(browser, people, dash_service, clock)
    account = people.account_a
    for query in ("token=" + "0" * 32, "actor=nobody@example.com", f"actor={people.email_b}"):
        page = browser.get(f"/accounts/{account}/audit?{query}")
        assert page.status_code == 200
        assert "No entries." in page.text, query
        assert not _ROW.findall(page.text)
    values = browser.get(f"/accounts/{account}/audit?actor=x%40y&since=2030-03-02").text
    assert 'id="actor" name="actor" type="text" value="x@y"' in values  # the form keeps them
    assert 'id="since" name="since" type="date" value="2030-03-02"' in values
