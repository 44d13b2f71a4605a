"""The dashboard's trust boundary: CSRF, sessions (idle, absolute, sign-out, a new
password, ended by the operator), where sign-in may send a person next, and sign-in
throttling that a stranger cannot turn into a lock-out. Isolation between accounts by every
URL is in `test_isolation.py`."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.sign_in import SESSION_IDLE, SESSION_LIFETIME
from tests.clocks import HandClock
from tests.dashboard.conftest import PASSWORD, People, csrf_of, dashboard_app, sign_in


def _count(service: UseCases, account: str) -> int:
    writer = Principal(
        PrincipalKind.API_TOKEN, "t", (Grant(ContainerKind.ACCOUNT, account, Permission.READ),)
    )
    ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
    from servicetokens.domain.paging import ListQuery

    return service.tokens.read_page(writer, ref, ListQuery()).info.total_count


# -- CSRF ------------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    sign_in(browser, people.email_a)
    url = f"/accounts/{people.account_a}/tokens"
    for data in ({"name": "forged"}, {"name": "forged", "csrf_token": "0" * 64}):
        response = browser.post(url, data=data)
        assert response.status_code == 403
        assert "did not come from this dashboard" in response.text
    assert _count(dash_service, people.account_a) == 0


def test_a_post_from_another_origin_is_refused(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    response = browser.post(
        f"/accounts/{people.account_a}/tokens",
        data={"csrf_token": csrf, "name": "x"},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_the_csrf_token_of_one_session_fails_in_another(
    dash_service: UseCases, people: People
) -> None:
    with dashboard_app(dash_service) as first, dashboard_app(dash_service) as second:
        csrf_first = sign_in(first, people.email_a)
        sign_in(second, people.email_a)
        response = second.post(
            f"/accounts/{people.account_a}/tokens", data={"csrf_token": csrf_first, "name": "x"}
        )
        assert response.status_code == 403


def test_sign_in_without_its_csrf_token_is_refused(browser: TestClient, people: People) -> None:
    browser.get("/sign-in")
    response = browser.post("/sign-in", data={"email": people.email_a, "password": PASSWORD})
    assert response.status_code == 403
    assert "st_session=" not in response.headers.get("set-cookie", "")


def test_sign_out_needs_the_csrf_token(browser: TestClient, people: People) -> None:
    sign_in(browser, people.email_a)
    assert browser.post("/sign-out", data={"csrf_token": ""}).status_code == 403
    assert browser.get(f"/accounts/{people.account_a}/tokens").status_code == 200


# -- sessions --------------------------------------------------------------------------------


def test_sign_out_ends_the_session(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    cookie = browser.cookies["st_session"]
    assert browser.post("/sign-out", data={"csrf_token": csrf}).status_code == 303
    browser.cookies.set("st_session", cookie)  # a copy of the cookie kept by an attacker
    response = browser.get(f"/accounts/{people.account_a}/tokens")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


def test_an_idle_session_ends(browser: TestClient, people: People, clock: HandClock) -> None:
    sign_in(browser, people.email_a)
    url = f"/accounts/{people.account_a}/tokens"
    clock.advance(SESSION_IDLE - timedelta(minutes=2))
    assert browser.get(url).status_code == 200  # used: the idle end moves
    clock.advance(SESSION_IDLE - timedelta(minutes=2))
    assert browser.get(url).status_code == 200
    clock.advance(SESSION_IDLE + timedelta(seconds=1))
    assert browser.get(url).status_code == 303


def test_a_busy_session_still_ends_at_its_absolute_end(
    browser: TestClient, people: People, clock: HandClock
) -> None:
    sign_in(browser, people.email_a)
    url = f"/accounts/{people.account_a}/tokens"
    elapsed = timedelta(0)
    while elapsed + timedelta(minutes=20) < SESSION_LIFETIME:
        clock.advance(timedelta(minutes=20))
        elapsed += timedelta(minutes=20)
        assert browser.get(url).status_code == 200
    clock.advance(SESSION_LIFETIME - elapsed)
    assert browser.get(url).status_code == 303


def test_a_new_password_ends_every_session(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    sign_in(browser, people.email_a)
    dash_service.people.set_password(people.email_a, "another long password")
    assert browser.get(f"/accounts/{people.account_a}/tokens").status_code == 303


def test_ending_a_users_sessions_signs_out_each_of_their_browsers_and_no_one_elses(
    people: People, dash_service: UseCases, clock: HandClock
) -> None:
    mine = f"/accounts/{people.account_a}/tokens"
    theirs = f"/accounts/{people.account_b}/tokens"
    with (
        dashboard_app(dash_service) as laptop,
        dashboard_app(dash_service) as phone,
        dashboard_app(dash_service) as colleague,
    ):
        sign_in(laptop, people.email_a)
        sign_in(phone, people.email_a)
        sign_in(colleague, people.email_b)
        # A session already over (idle past its end) is not counted as one this ends.
        with dashboard_app(dash_service) as forgotten:
            sign_in(forgotten, people.email_a)
            clock.advance(SESSION_IDLE - timedelta(minutes=2))
            assert laptop.get(mine).status_code == 200
            assert phone.get(mine).status_code == 200
            assert colleague.get(theirs).status_code == 200
            clock.advance(timedelta(minutes=3))
            assert forgotten.get(mine).status_code == 303

        assert dash_service.admin.end_user_sessions(people.email_a.upper()) == 2
        for browser in (laptop, phone):
            response = browser.get(mine)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/sign-in")
        assert colleague.get(theirs).status_code == 200
        with dash_service.database.read() as tx:
            (entry,) = tx.audit.entries(
                account_id=None,
                since=None,
                limit=10,
                target=people.email_a,
                action="user.end_sessions",
            )
        assert entry.actor_kind == "cli"
        assert entry.detail == {"sessions": 2}
        # The password is unchanged: the person signs in again as before.
        sign_in(laptop, people.email_a)
        assert laptop.get(mine).status_code == 200
    with pytest.raises(ValidationError, match=r"no user nobody@example\.com"):
        dash_service.admin.end_user_sessions("Nobody@Example.com")


def test_a_removed_membership_takes_effect_at_once(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    other = dash_service.admin.create_account("C")
    dash_service.admin.create_user("second@example.com", account_id=other)
    dash_service.admin.add_user_to_account(people.email_a, account_id=other)
    sign_in(browser, people.email_a)
    assert browser.get(f"/accounts/{other}/tokens").status_code == 200
    dash_service.admin.remove_user(people.email_a, account_id=other)
    assert browser.get(f"/accounts/{other}/tokens").status_code == 404


def test_the_account_switcher_names_only_the_users_own_accounts(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    second = dash_service.admin.create_account("Second <b>& Co</b>")
    sign_in(browser, people.email_a)
    page = browser.get(f"/accounts/{people.account_a}/tokens").text
    assert 'aria-label="Accounts"' not in page  # one account: no switcher
    dash_service.admin.add_user_to_account(people.email_a, account_id=second)
    page = browser.get(f"/accounts/{people.account_a}/tokens").text
    switcher = page[
        page.index('aria-label="Accounts"') : page.index(
            "</nav>", page.index('aria-label="Accounts"')
        )
    ]
    assert f'href="/accounts/{people.account_a}/tokens" aria-current="page">A</a>' in switcher
    assert f'href="/accounts/{second}/tokens">Second &lt;b&gt;&amp; Co&lt;/b&gt;</a>' in switcher
    assert people.account_b not in page  # B's account is named nowhere
    assert ">B<" not in switcher


def test_the_session_id_is_stored_only_as_a_digest(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    sign_in(browser, people.email_a)
    cookie = browser.cookies["st_session"]
    with dash_service.database.read() as tx:
        rows = tx.connection.execute(
            text("SELECT * FROM dashboard_sessions WHERE email = :email"),
            {"email": people.email_a},
        ).all()
    assert rows
    assert all(cookie.encode() not in repr(row).encode() for row in rows)


def test_a_held_secret_is_sealed_at_rest(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    csrf = sign_in(browser, people.email_a)
    response = browser.post(
        f"/accounts/{people.account_a}/tokens",
        data={"csrf_token": csrf, "name": "sealed", "duration": "24h"},
    )
    with dash_service.database.read() as tx:
        sealed = tx.connection.execute(
            text(
                "SELECT pending_secret FROM dashboard_sessions"
                " WHERE pending_secret IS NOT NULL AND email = :email"
            ),
            {"email": people.email_a},
        ).all()
    assert len(sealed) == 1
    page = browser.get(response.headers["location"]).text
    secret = re.search(r'id="client-secret" type="text" readonly value="([^"]+)"', page)
    assert secret is not None
    assert secret.group(1) not in sealed[0][0]
    with dash_service.database.read() as tx:
        left = tx.connection.execute(
            text(
                "SELECT count(*) FROM dashboard_sessions"
                " WHERE pending_secret IS NOT NULL AND email = :email"
            ),
            {"email": people.email_a},
        ).scalar()
    assert left == 0


# -- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_next_never_leaves_the_site(browser: TestClient, people: People, target: str) -> None:
    form = browser.get("/sign-in")
    response = browser.post(
        "/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "email": people.email_a,
            "password": PASSWORD,
            "next": target,
        },
    )
    assert response.headers["location"] == "/"


# -- throttling ------------------------------------------------------------------------------


def _attempt(client: TestClient, email: str, password: str) -> int:
    form = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "email": email, "password": password},
    )
    return response.status_code


def test_failures_throttle_the_email_for_unknown_browsers(
    dash_service: UseCases, people: People, clock: HandClock
) -> None:
    with dashboard_app(dash_service) as stranger:
        for _ in range(5):
            assert _attempt(stranger, people.email_a, "wrong password!") == 401
        # Throttled: refused without the password being checked, even the right one.
        assert _attempt(stranger, people.email_a, PASSWORD) == 429
        clock.advance(timedelta(seconds=31))
        assert _attempt(stranger, people.email_a, PASSWORD) == 303  # throttle, not lock


def test_a_stranger_cannot_lock_the_rightful_user_out(
    dash_service: UseCases, people: People, clock: HandClock
) -> None:
    with dashboard_app(dash_service) as owner:
        sign_in(owner, people.email_a)  # the owner's browser is now known (device cookie)
        owner.cookies.delete("st_session")
        with dashboard_app(dash_service) as stranger:
            for _ in range(12):
                _attempt(stranger, people.email_a, "guessing away!")
                clock.advance(timedelta(seconds=1))
            assert _attempt(stranger, people.email_a, PASSWORD) == 429
        # The owner's browser is counted on its own key: the stranger's failures do not
        # slow it down.
        assert _attempt(owner, people.email_a, PASSWORD) == 303


def test_one_address_is_throttled_across_emails(dash_service: UseCases, people: People) -> None:
    with dashboard_app(dash_service) as sprayer:
        statuses = [_attempt(sprayer, f"user{i}@example.com", "spray password") for i in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429


def test_a_throttled_answer_says_when_to_retry(dash_service: UseCases, people: People) -> None:
    with dashboard_app(dash_service) as client:
        for _ in range(5):
            _attempt(client, people.email_b, "wrong password!")
        form = client.get("/sign-in")
        response = client.post(
            "/sign-in",
            data={"csrf_token": csrf_of(form.text), "email": people.email_b, "password": "x"},
        )
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 30
        assert "Too many failed sign-ins" in response.text
