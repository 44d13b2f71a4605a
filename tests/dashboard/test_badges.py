"""The status badges the token list shows, each at the moment the hand-moved clock says:
expired, expires within 7 days (the edge included, an hour past it not), never used, last
seen N ago (a use written the way the gate writes it), and none of the warnings on a
healthy token far from its expiry."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.testclient import TestClient

from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.last_seen import LastSeenWriter
from tests.clocks import HandClock
from tests.dashboard.conftest import People, sign_in

_ROW = re.compile(
    r'<a href="/accounts/[0-9a-f]{32}/tokens/([0-9a-f-]{36})">([^<]+)</a></td>'
    r'.*?<ul class="badges">(.*?)</ul>',
    re.DOTALL,
)
_BADGE = re.compile(r'<li class="badge (\w+)">([^<]*)</li>')
_WARNINGS = ("Expired", "Expires in", "Disabled", "In grace")


def _create(browser: TestClient, account: str, csrf: str, name: str, duration: str) -> str:
    data = {"csrf_token": csrf, "name": name, "duration": duration}
    response = browser.post(f"/accounts/{account}/tokens", data=data)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).split("/")[-2]


def _badges(browser: TestClient, account: str) -> dict[str, list[tuple[str, str]]]:
    """Each listed token's name → its badges as (kind, text), in the order shown."""
    response = browser.get(f"/accounts/{account}/tokens?per_page=25")
    assert response.status_code == 200, response.text
    rows = {name: _BADGE.findall(marks) for _, name, marks in _ROW.findall(response.text)}
    return {name: [(kind, text) for kind, text in marks] for name, marks in rows.items()}


def _gate_saw(service: UseCases, token_id: str, clock: HandClock) -> None:
    """A successful use at the clock's now, written as the gate writes it (its write-behind
    of `last_seen_at`, flushed by hand instead of by its background thread)."""
    writer = LastSeenWriter(service.database, interval=1.0)
    writer.record(token_id, clock().timestamp())
    writer.flush()
    assert writer.written == 1


def test_the_list_shows_each_badge_at_its_time(
    browser: TestClient, people: People, dash_service: UseCases, clock: HandClock
) -> None:
    account = people.account_a
    csrf = sign_in(browser, people.email_a)
    _create(browser, account, csrf, "lapsed", "24h")
    on_the_dot = {"duration": "custom", "custom_duration": "78h"}  # expires at the later now
    response = browser.post(
        f"/accounts/{account}/tokens", data={"csrf_token": csrf, "name": "on-the-dot", **on_the_dot}
    )
    assert response.status_code == 303, response.text
    _create(browser, account, csrf, "closing", "168h")
    healthy = _create(browser, account, csrf, "healthy", "8760h")
    used = _create(browser, account, csrf, "used", "8760h")
    _create(browser, account, csrf, "forever", "forever")

    clock.advance(timedelta(days=1, hours=5))
    _gate_saw(dash_service, used, clock)
    clock.advance(timedelta(days=2, hours=1))  # now: 3 days 6 hours after creation
    csrf = sign_in(browser, people.email_a)  # the first session has gone idle meanwhile
    _create(browser, account, csrf, "edge", "168h")  # exactly 7 days from now
    _create(browser, account, csrf, "past-edge", "169h")  # one hour more than 7 days

    shown = _badges(browser, account)
    assert sorted(shown) == [
        "closing",
        "edge",
        "forever",
        "healthy",
        "lapsed",
        "on-the-dot",
        "past-edge",
        "used",
    ]
    assert shown["lapsed"] == [("bad", "Expired"), ("info", "Never used")]
    assert shown["on-the-dot"] == [("bad", "Expired"), ("info", "Never used")]  # from its instant
    # 168 h after creation is 3 days 18 hours from now: the largest whole unit is days.
    assert shown["closing"] == [("warn", "Expires in 3 days"), ("info", "Never used")]
    assert shown["edge"] == [("warn", "Expires in 7 days"), ("info", "Never used")]
    assert shown["used"] == [("info", "Last seen 2 days ago")]
    for name in ("healthy", "forever", "past-edge"):
        assert shown[name] == [("info", "Never used")], name

    clock.advance(timedelta(minutes=5))
    _gate_saw(dash_service, healthy, clock)
    clock.advance(timedelta(minutes=3))
    shown = _badges(browser, account)
    assert shown["healthy"] == [("info", "Last seen 3 minutes ago")]
    assert shown["used"] == [("info", "Last seen 2 days ago")]
    assert not any(text.startswith(_WARNINGS) for _, text in shown["healthy"])
    assert not any(text == "Never used" for _, text in shown["used"])


def test_the_detail_page_shows_the_same_badges(
    browser: TestClient, people: People, dash_service: UseCases, clock: HandClock
) -> None:
    """The token's own page draws its badges from the same rule as its row in the list."""
    account = people.account_a
    csrf = sign_in(browser, people.email_a)
    soon = _create(browser, account, csrf, "soon", "48h")
    clock.advance(timedelta(hours=20))
    _gate_saw(dash_service, soon, clock)
    clock.advance(timedelta(minutes=1))
    sign_in(browser, people.email_a)  # the first session has gone idle meanwhile
    page = browser.get(f"/accounts/{account}/tokens/{soon}")
    assert page.status_code == 200
    listed = page.text[page.text.index('<ul class="badges" aria-label="Status">') :]
    listed = listed[: listed.index("</ul>")]
    assert _BADGE.findall(listed) == [
        ("warn", "Expires in 1 day"),
        ("info", "Last seen 1 minute ago"),
    ]
    assert _badges(browser, account)["soon"] == _BADGE.findall(listed)
