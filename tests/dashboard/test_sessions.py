"""Sessions as configured and as a browser re-uses them: the idle and absolute timeouts come
from `Settings` through `bootstrap`, the cookie lives as long as the session may, and
signing in again ends the session the browser held."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from starlette.testclient import TestClient

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.sign_in import DEVICE_REMEMBERED
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock
from tests.dashboard.conftest import PASSWORD, People, csrf_of, dashboard_app, make_people, sign_in


def test_the_timeouts_come_from_the_settings(database_url: str) -> None:
    clock = HandClock()
    settings = Settings(database_url=database_url, session_idle_minutes=5, session_lifetime_hours=1)
    service = build_service(settings, clock=clock)
    try:
        people = make_people(service)
        with dashboard_app(service) as browser:
            form = browser.get("/sign-in")
            signed = browser.post(
                "/sign-in",
                data={
                    "csrf_token": csrf_of(form.text),
                    "email": people.email_a,
                    "password": PASSWORD,
                },
            )
            cookie = next(
                c for c in signed.headers.get_list("set-cookie") if c.startswith("st_session=")
            )
            assert "Max-Age=3600" in cookie  # the configured lifetime, not the default's
            tokens = f"/accounts/{people.account_a}/tokens"
            clock.advance(timedelta(minutes=4))
            assert browser.get(tokens).status_code == 200
            clock.advance(timedelta(minutes=5, seconds=1))  # idle past 5 minutes
            assert browser.get(tokens).status_code == 303
    finally:
        service.close()


def test_signing_in_again_ends_the_old_session(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    sign_in(browser, people.email_a)
    old = browser.cookies.get("st_session")
    assert old is not None
    sign_in(browser, people.email_a)
    new = browser.cookies.get("st_session")
    assert new is not None
    assert new != old
    assert dash_service.people.resume(old) is None  # ended, not merely replaced
    assert dash_service.people.resume(new) is not None


def test_a_planted_cookie_is_ended_by_signing_in(
    browser: TestClient, people: People, dash_service: UseCases
) -> None:
    # Someone signs in as B and plants that session's cookie in A's browser: when A signs
    # in, the planted session ends (A never works inside a session someone else holds).
    with dashboard_app(dash_service) as other:
        sign_in(other, people.email_b)
        planted = other.cookies.get("st_session")
    assert planted is not None
    browser.cookies.set("st_session", planted)
    sign_in(browser, people.email_a)
    assert dash_service.people.resume(planted) is None


def _device_known(service: UseCases, device: str) -> bool:
    key = "device:" + hashlib.sha256(device.encode()).hexdigest()
    with service.database.read() as tx:
        return tx.dashboard.attempts(key) is not None


def test_a_browser_unused_for_longer_than_its_cookie_lives_is_forgotten(
    browser: TestClient, people: People, dash_service: UseCases, clock: HandClock
) -> None:
    sign_in(browser, people.email_a)
    old_device = browser.cookies.get("st_device")
    assert old_device is not None
    assert _device_known(dash_service, old_device)
    clock.advance(DEVICE_REMEMBERED - timedelta(days=1))
    with dashboard_app(dash_service) as other:  # someone else signs in: rows are pruned
        sign_in(other, people.email_b)
        recent_device = other.cookies.get("st_device")
    assert recent_device is not None
    assert _device_known(dash_service, old_device)  # still within its cookie's life
    clock.advance(timedelta(days=2))
    with dashboard_app(dash_service) as third:
        sign_in(third, people.email_b)
    assert not _device_known(dash_service, old_device)  # its cookie has expired by now
    assert _device_known(dash_service, recent_device)
