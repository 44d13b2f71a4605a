"""Dashboard fixtures: the app `servicetokens serve` runs (API + dashboard) over the use
cases of one database, a hand-moved clock, people with passwords in two accounts, and a
browser-like client that signs in through the form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.dashboard import mount_dashboard
from servicetokens.domain.network import TrustedProxies
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.facade import UseCases
from tests.clocks import HandClock

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class People:
    """Two accounts, each with a member who has a password."""

    account_a: str
    account_b: str
    email_a: str
    email_b: str


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def dash_service(database_url: str, clock: HandClock) -> Iterator[UseCases]:
    """The use cases on a migrated database, telling time by `clock`."""
    engine = make_engine(database_url, pool_size=4)
    upgrade(engine)
    service = build_use_cases(Database(engine), clock=clock)
    try:
        yield service
    finally:
        engine.dispose()


def make_people(service: UseCases) -> People:
    import secrets

    a = service.admin.create_account("A")
    b = service.admin.create_account("B")
    email_a = f"a-{secrets.token_hex(4)}@example.com"
    email_b = f"b-{secrets.token_hex(4)}@example.com"
    service.admin.create_user(email_a, account_id=a)
    service.admin.create_user(email_b, account_id=b)
    service.people.set_password(email_a, PASSWORD)
    service.people.set_password(email_b, PASSWORD)
    return People(a, b, email_a, email_b)


@pytest.fixture
def people(dash_service: UseCases) -> People:
    return make_people(dash_service)


def dashboard_app(service: UseCases, *, address: str | None = None) -> TestClient:
    """A browser of the app at its own loopback address (a random one unless given): the
    sign-in throttle counts per address, and the test database outlives one test."""
    import secrets

    app = create_app(service)
    mount_dashboard(app, service, trusted_proxies=TrustedProxies())
    address = (
        address
        or f"127.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"
    )
    return TestClient(
        app, raise_server_exceptions=False, client=(address, 50000), follow_redirects=False
    )


@pytest.fixture
def browser(dash_service: UseCases) -> Iterator[TestClient]:
    """A client of the app with no session yet."""
    with dashboard_app(dash_service) as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; the session's CSRF token (from the page it lands on)."""
    form = client.get("/sign-in")
    assert form.status_code == 200
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "email": email, "password": password, "next": "/"},
    )
    assert response.status_code == 303, response.text
    landing = client.get(response.headers["location"])
    while landing.status_code == 303:
        landing = client.get(landing.headers["location"])
    assert landing.status_code == 200, landing.text
    return csrf_of(landing.text)
