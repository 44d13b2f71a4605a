"""Contract fuzzing fixtures: an in-process API on a fresh database, a world of credentials,
and the checks every response must pass.

Schemathesis' lazy `from_fixture` loader does not work with pytest 9 (it sets
`Function._nodeid`), so schemas are loaded at import time and the application, which needs a
database, is handed to `case.call_and_validate(app=...)` from a module-scoped fixture.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from _pytest.mark.expression import Expression
from fastapi import FastAPI
from hypothesis import Phase
from schemathesis.pytest.plugin import SchemathesisCase

from servicetokens.api import create_app
from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from tests.conftest import World, make_world

# Cloudflare's OpenAPI subset, copied into the database (its README names the source).
SPEC_DIR = Path(__file__).resolve().parent / "cloudflare"
CLOUDFLARE_SPEC = SPEC_DIR / "cloudflare-access-service-tokens.openapi.json"
CONTROL_PLANE_SPEC = SPEC_DIR / "cloudflare-access-control-plane.openapi.json"


@dataclass
class FuzzEnv:
    """The application under test, its service and a world of credentials."""

    service: UseCases
    world: World
    app: FastAPI

    @property
    def headers(self) -> dict[str, str]:
        """An account-level Write token of account A: reaches every account and zone path."""
        return self.world.bearer(self.world.write_a)

    def real_token(self, kind: ContainerKind) -> str:
        """The id of a fresh service token in account A or zone A."""
        container = self.world.account_a if kind is ContainerKind.ACCOUNT else self.world.zone_a
        principal = self.service.authentication.principal_for_api_token(self.world.write_a)
        ref = ContainerRef(kind, container, "/")
        token, _ = self.service.tokens.create(principal, ref, TokenFields(name="fuzz target"))
        return token.id

    def _ref(self, kind: ContainerKind) -> tuple[Principal, ContainerRef]:
        container = self.world.account_a if kind is ContainerKind.ACCOUNT else self.world.zone_a
        principal = self.service.authentication.principal_for_api_token(self.world.write_a)
        return principal, ContainerRef(kind, container, "/")

    def real_app(self, kind: ContainerKind) -> tuple[str, str]:
        """A fresh application in account A or zone A, and the id of its own policy."""
        principal, ref = self._ref(kind)
        domain = f"fuzz-{uuid.uuid4().hex[:12]}.a.example"
        policy = {"name": "own", "decision": "non_identity", "include": [{"everyone": {}}]}
        body = {"type": "self_hosted", "domain": domain, "policies": [policy]}
        app = self.service.applications.create(principal, ref, body)
        return app.app.id, app.policies[0].policy.id

    def real_policy(self) -> str:
        """A fresh reusable policy of account A."""
        principal, ref = self._ref(ContainerKind.ACCOUNT)
        body = {"name": "fuzz", "decision": "non_identity", "include": [{"everyone": {}}]}
        return self.service.policies.create(principal, ref, body).policy.id

    def aim(self, path_parameters: dict[str, Any]) -> None:
        """Point generated path parameters at real containers, and half the token,
        application and policy ids at real ones (chosen from the generated value, so a case
        always maps the same way)."""
        kind = ContainerKind.ACCOUNT
        if "account_id" in path_parameters:
            path_parameters["account_id"] = self.world.account_a
        if "zone_id" in path_parameters:
            path_parameters["zone_id"] = self.world.zone_a
            kind = ContainerKind.ZONE

        def real(name: str) -> bool:
            generated = path_parameters.get(name)
            return generated is not None and zlib.crc32(repr(generated).encode()) % 2 == 0

        if real("service_token_id"):
            path_parameters["service_token_id"] = self.real_token(kind)
        if real("app_id"):
            app_id, own_policy = self.real_app(kind)
            path_parameters["app_id"] = app_id
            if "policy_id" in path_parameters:
                path_parameters["policy_id"] = own_policy
        elif real("policy_id") and "app_id" not in path_parameters:
            path_parameters["policy_id"] = self.real_policy()


# How deep `make test-slow` fuzzes: a factor on each deep test's number of random cases
# (1 fits CI's time on a two-CPU machine; 3 is about the depth of earlier releases).
DEPTH_VARIABLE = "SERVICETOKENS_TEST_FUZZ_DEPTH"


def deep(examples: int) -> int:
    """A deep fuzz test's number of random cases, scaled by `SERVICETOKENS_TEST_FUZZ_DEPTH`."""
    return max(1, round(examples * float(os.environ.get(DEPTH_VARIABLE) or 1)))


# The quick fuzz of `make test`: random cases only. The explicit phase (the schema's examples
# and Schemathesis' coverage cases: every boundary and negative value of every field) is
# built while collecting and runs hundreds of cases per operation; the deep tests of
# `make test-slow` keep it.
QUICK_PHASES = tuple(phase for phase in Phase if phase is not Phase.explicit)

# Marks a fuzz test's items may get from the parameters of the fixtures it uses (`engine_env`).
PARAMETER_MARKS = (frozenset(), frozenset({"postgres"}))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: Any
) -> Iterator[None] | Any:
    """Leave out a Schemathesis test that `-m` deselects before Schemathesis builds it.

    Schemathesis builds each operation's explicit and coverage-phase cases while collecting
    (tens of seconds per test function, paid again by every pytest-xdist worker), before `-m`
    deselects anything: `make test` would build the deep fuzz it never runs, and
    `make test-slow` the quick one. A test none of whose items the expression could select
    (with or without the marks its fixtures' parameters add) is not collected at all."""
    result = yield
    expression = collector.config.option.markexpr
    if not expression or not isinstance(result, SchemathesisCase):
        return result
    marks = [*getattr(collector.obj, "pytestmark", []), *getattr(obj, "pytestmark", [])]
    own = {mark.name for mark in marks}
    compiled = Expression.compile(expression)
    for extra in PARAMETER_MARKS:
        names = own | extra
        if compiled.evaluate(lambda name, /, names=names, **_: name in names):
            return result
    return []


def _env(database_url: str) -> Iterator[FuzzEnv]:
    # Every case aimed at an application makes one: no limit on how many.
    settings = Settings(database_url=database_url, pool_size=4, max_applications=10**9)
    service = build_service(settings)
    try:
        yield FuzzEnv(service=service, world=make_world(service), app=create_app(service))
    finally:
        service.database.engine.dispose()


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzEnv]:
    """The API on a fresh SQLite file."""
    yield from _env(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def engine_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzEnv]:
    """The API on a fresh SQLite file, then on the machine's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    yield from _env(url)


def check_envelope(status: int, content_type: str, body: Any) -> None:
    """The v4 envelope: four keys; a failure has at least one `{code >= 1000, message}`."""
    assert content_type.startswith("application/json"), f"{status} with {content_type!r}"
    assert isinstance(body, dict), f"{status}: body is not a JSON object: {body!r}"
    assert {"success", "errors", "messages", "result"} <= body.keys(), f"{status}: {body!r}"
    assert isinstance(body["messages"], list), body
    if status >= 400:
        assert body["success"] is False, body
        assert body["result"] is None, body
        assert body["messages"] == [], body
        errors = body["errors"]
        assert isinstance(errors, list), body
        assert errors, f"{status} without an error: {body!r}"
        for item in errors:
            assert isinstance(item, dict), body
            assert isinstance(item.get("code"), int), body
            assert not isinstance(item["code"], bool), body
            assert item["code"] >= 1000, body
            assert isinstance(item.get("message"), str), body
            assert item["message"].strip(), f"{status}: empty message: {body!r}"
    else:
        assert body["success"] is True, body
        assert body["errors"] == [], body


@schemathesis.check
def v4_envelope(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any) -> None:
    """Every answer of the v4 API, success or failure, is the v4 envelope (4xx: the failure
    envelope). `/healthz` and `/cdn-cgi/access/certs` are not part of the v4 API."""
    if "/client/v4/" not in str(response.request.url):
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.content[:200]!r}"
        ) from None
    content_type = next(
        (v[0] for k, v in response.headers.items() if k.lower() == "content-type" and v), ""
    )
    check_envelope(response.status_code, content_type, body)
    return None
