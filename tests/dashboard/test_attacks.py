"""The dashboard attacked: guesses raced past the throttle, the address throttle reset by the
attacker's own account or dodged inside an IPv6 /64, a secret taken twice by two tabs, a
HEAD that swallows a secret, and hostile filter values (NUL, the last day of the calendar)
that must get a page of ours, never a 500 or the API's JSON."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import bindparam, event, text
from starlette.testclient import TestClient

from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.sign_in import ADDRESS_RULE, EMAIL_RULE
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.passwords import Passwords
from servicetokens.usecases.sign_in import DashboardAuth, SignInRefused
from tests.clocks import HandClock
from tests.dashboard.conftest import PASSWORD, People, csrf_of, make_people, sign_in

_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _address() -> str:
    return f"198.18.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def _outcome(auth: DashboardAuth, email: str, password: str, origin: str) -> str:
    try:
        auth.sign_in(email, password, origin=origin, device=None)
    except SignInRefused as exc:
        return "wrong" if exc.retry_after is None else "throttled"
    return "signed in"


class _Interleaving(Passwords):
    """Passwords whose check lets the next guess in while it runs, as a parallel request
    would: the guesses overlap deterministically, without threads or timing."""

    def __init__(self, guesses: int, guess: Any) -> None:
        super().__init__(_CHEAP)
        self.left = guesses
        self.guess = guess

    def check(self, password: str, stored: str | None) -> bool:
        if self.left > 0:
            self.left -= 1
            self.guess()
        return super().check(password, stored)


def test_parallel_guesses_are_counted_before_any_password_is_checked(
    dash_service: UseCases, people: People, clock: HandClock
) -> None:
    outcomes: list[str] = []
    origin = _address()

    def guess() -> None:
        outcomes.append(_outcome(auth, people.email_a, "a wrong guess!", origin))
        if outcomes[-1] == "throttled" and passwords.left > 0:
            passwords.left -= 1  # refused at once: the next guess in flight arrives now
            guess()

    passwords = _Interleaving(12, guess)
    auth = DashboardAuth(dash_service.database, clock=clock, passwords=passwords)
    guess()
    assert len(outcomes) == 13
    assert outcomes.count("wrong") == EMAIL_RULE.limit
    assert outcomes.count("throttled") == 13 - EMAIL_RULE.limit


def test_signing_in_as_oneself_does_not_reset_the_address_throttle(
    dash_service: UseCases, people: People
) -> None:
    # The sprayer owns account B (email_b) and sprays other people's emails.
    origin = _address()
    auth = dash_service.people
    sprayed = [f"victim-{secrets.token_hex(4)}@example.com" for _ in range(ADDRESS_RULE.limit + 1)]
    for email in sprayed[: ADDRESS_RULE.limit - 1]:
        assert _outcome(auth, email, "spray password", origin) == "wrong"
    assert _outcome(auth, people.email_b, PASSWORD, origin) == "signed in"
    assert _outcome(auth, sprayed[-2], "spray password", origin) == "wrong"
    assert _outcome(auth, sprayed[-1], "spray password", origin) == "throttled"


def test_one_ipv6_slash_64_is_one_address_for_the_throttle(
    dash_service: UseCases, people: People
) -> None:
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    outcomes = []
    for i in range(ADDRESS_RULE.limit + 1):
        email = f"victim-{secrets.token_hex(4)}@example.com"
        origin = f"{prefix}:{i + 1:x}:0:0:{secrets.randbelow(65536):x}"
        outcomes.append(_outcome(dash_service.people, email, "spray password", origin))
    assert outcomes == ["wrong"] * ADDRESS_RULE.limit + ["throttled"]


def test_stale_throttle_rows_are_pruned(
    dash_service: UseCases, people: People, clock: HandClock
) -> None:
    addresses = [_address() for _ in range(30)]
    for origin in addresses:
        _outcome(dash_service.people, f"x-{secrets.token_hex(4)}@example.com", "flood!", origin)
    clock.advance(ADDRESS_RULE.window + ADDRESS_RULE.max_block + timedelta(seconds=1))
    _outcome(dash_service.people, "last@example.com", "flood!", _address())
    keys = [f"address:{a}" for a in addresses]
    with dash_service.database.read() as tx:
        left = tx.connection.execute(
            text("SELECT count(*) FROM login_throttle WHERE key IN :keys").bindparams(
                bindparam("keys", expanding=True)
            ),
            {"keys": keys},
        ).scalar()
    assert left == 0


# -- the secret shown once -------------------------------------------------------------------


@pytest.mark.postgres
def test_two_tabs_racing_for_a_secret_get_it_once(postgres_database: str) -> None:
    engine = make_engine(postgres_database, pool_size=4)
    upgrade(engine)
    service = build_use_cases(Database(engine), clock=HandClock())
    try:
        people = make_people(service)
        signed = service.people.sign_in(people.email_a, PASSWORD, origin=_address(), device=None)
        session = signed.session_id
        service.people.hold_secret(session, "t-1", "the secret")
        shown: list[str | None] = []
        raced = False

        def second_tab(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            # The first tab has read the held secret and is about to erase it: the second
            # tab's whole request runs now.
            nonlocal raced
            if not raced and statement.lstrip().upper().startswith("UPDATE DASHBOARD_SESSIONS"):
                raced = True
                shown.append(service.people.take_secret(session, "t-1"))

        event.listen(engine, "before_cursor_execute", second_tab)
        shown.append(service.people.take_secret(session, "t-1"))
        event.remove(engine, "before_cursor_execute", second_tab)
        assert raced
        assert shown.count("the secret") == 1
        assert shown.count(None) == 1
    finally:
        engine.dispose()


def test_a_head_request_does_not_swallow_the_secret(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    created = browser.post(
        f"/accounts/{people.account_a}/tokens",
        data={"csrf_token": csrf, "name": "head", "duration": "24h"},
    )
    secret_url = created.headers["location"]
    assert browser.head(secret_url).status_code == 200
    page = browser.get(secret_url)
    assert re.search(r'id="client-secret" type="text" readonly value="[^"]+"', page.text)


# -- hostile values --------------------------------------------------------------------------


def _is_our_page(response: Any, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_last_day_of_the_calendar_is_a_field_error(browser: TestClient, people: People) -> None:
    sign_in(browser, people.email_a)
    response = browser.get(f"/accounts/{people.account_a}/audit?until=9999-12-31")
    _is_our_page(response, 400)
    assert 'id="until-error"' in response.text


def test_nul_in_any_field_is_a_page_of_ours(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    base = f"/accounts/{people.account_a}"
    for query in ("token=a%00b", "actor=a%00b", "action=a%00b"):
        _is_our_page(browser.get(f"{base}/audit?{query}"), 400)
    policy = {"csrf_token": csrf, "name": "p", "decision": "non_identity", "token": "a\x00b"}
    _is_our_page(browser.post(f"{base}/policies", data=policy), 400)
    app = {"csrf_token": csrf, "domain": "nul.example.com", "policy": "a\x00b"}
    _is_our_page(browser.post(f"{base}/apps", data=app), 400)
    browser.cookies.delete("st_session")
    form = browser.get("/sign-in")
    signing = {"csrf_token": csrf_of(form.text), "email": "a\x00@example.com", "password": "x"}
    _is_our_page(browser.post("/sign-in", data=signing), 400)
