"""Stateful fuzzing of the HTTP API: random sequences of create, get, list, update, refresh,
rotate and delete in both scopes, checked against a model after every step.

Cloudflare's OpenAPI declares no links, so schemathesis cannot chain calls by itself; this is
a hypothesis state machine over the real HTTP API instead. Every response is validated
against Cloudflare's schema where the operation exists there, and must be the v4 envelope.
After every step each live token's current secret authenticates and every secret that was
rotated away does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from schemathesis.core.errors import OperationNotFound
from starlette.testclient import TestClient

from servicetokens.domain.tokens import verify_secret
from tests.conftest import World, make_world
from tests.fuzz.conftest import CLOUDFLARE_SPEC, FuzzEnv, check_envelope, deep

CLOUDFLARE = schemathesis.openapi.from_path(CLOUDFLARE_SPEC)
V4 = "/client/v4"
SCOPES = ("accounts", "zones")
NAMES = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")
DURATIONS = st.sampled_from([None, "60m", "8760h", "1h30m", "forever", "2.5h", "90000s"])


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Model:
    """What the API must show for one token."""

    id: str
    scope: str
    name: str
    client_id: str
    version: int
    secret: str
    expires_at: str
    retired: list[str] = field(default_factory=list)


class TokenLifecycle(RuleBasedStateMachine):
    """Random lifecycles of service tokens against a fresh pair of accounts."""

    env: FuzzEnv
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.world: World = make_world(self.env.service)
        self.client = TestClient(self.env.app, raise_server_exceptions=False)
        self.headers = self.world.bearer(self.world.write_a)
        self.live: dict[str, Model] = {}
        self.deleted: list[Model] = []

    def teardown(self) -> None:
        self.client.close()

    # -- helpers ---------------------------------------------------------------------------

    def _base(self, scope: str) -> str:
        container = self.world.account_a if scope == "accounts" else self.world.zone_a
        return f"{V4}/{scope}/{container}/access/service_tokens"

    def _call(self, method: str, scope: str, suffix: str = "", **kwargs: Any) -> httpx.Response:
        response = self.client.request(
            method, self._base(scope) + suffix, headers=self.headers, **kwargs
        )
        assert response.status_code < 500, response.text
        check_envelope(response.status_code, response.headers["content-type"], response.json())
        template = f"/{scope}/{{{scope[:-1]}_id}}/access/service_tokens"
        if suffix:
            _, _token_id, *action = suffix.split("/")
            template = "/".join([template, "{service_token_id}", *action])
        try:
            operation = CLOUDFLARE[template][method]
        except (KeyError, OperationNotFound):
            return response  # e.g. zone refresh/rotate: not in Cloudflare's document
        operation.validate_response(response)
        return response

    def _item(self, method: str, token: Model, action: str = "", **kw: Any) -> httpx.Response:
        suffix = f"/{token.id}" + (f"/{action}" if action else "")
        return self._call(method, token.scope, suffix, **kw)

    @staticmethod
    def _same(model: Model, shown: dict[str, Any]) -> None:
        assert shown["id"] == model.id
        assert shown["name"] == model.name
        assert shown["client_id"] == model.client_id
        assert shown["client_secret_version"] == model.version
        assert shown["expires_at"] == model.expires_at

    # -- rules -----------------------------------------------------------------------------

    @rule(target=tokens, scope=st.sampled_from(SCOPES), name=NAMES, duration=DURATIONS)
    def create(self, scope: str, name: str, duration: str | None) -> Model:
        body: dict[str, Any] = {"name": name}
        if duration is not None:
            body["duration"] = duration
        response = self._call("POST", scope, json=body)
        assert response.status_code == 201, response.text
        result = response.json()["result"]
        assert result["name"] == name
        assert result["duration"] == (duration or "8760h")
        model = Model(
            id=result["id"],
            scope=scope,
            name=name,
            client_id=result["client_id"],
            version=result["client_secret_version"],
            secret=result["client_secret"],
            expires_at=result["expires_at"],
        )
        self.live[model.id] = model
        return model

    @rule(token=tokens)
    def get(self, token: Model) -> None:
        response = self._item("GET", token)
        if token.id not in self.live:
            assert response.status_code == 404, response.text
            return
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert "client_secret" not in result
        self._same(token, result)

    @rule(scope=st.sampled_from(SCOPES))
    def list_all(self, scope: str) -> None:
        response = self._call("GET", scope, params={"per_page": 1000})
        assert response.status_code == 200, response.text
        shown = {t["id"]: t for t in response.json()["result"]}
        expected = {k: m for k, m in self.live.items() if m.scope == scope}
        assert shown.keys() == expected.keys()
        for token_id, model in expected.items():
            self._same(model, shown[token_id])
        assert response.json()["result_info"]["total_count"] == len(expected)

    @rule(token=tokens, name=NAMES)
    def rename(self, token: Model, name: str) -> None:
        response = self._item("PUT", token, json={"name": name})
        if token.id not in self.live:
            assert response.status_code == 404, response.text
            return
        assert response.status_code == 200, response.text
        token.name = name
        self._same(token, response.json()["result"])

    @rule(token=tokens)
    def refresh(self, token: Model) -> None:
        response = self._item("POST", token, "refresh")
        if token.id not in self.live:
            assert response.status_code == 404, response.text
            return
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert _parse(result["expires_at"]) >= _parse(token.expires_at)
        token.expires_at = result["expires_at"]
        self._same(token, result)

    @rule(token=tokens)
    def rotate(self, token: Model) -> None:
        response = self._item("POST", token, "rotate", json={})
        if token.id not in self.live:
            assert response.status_code == 404, response.text
            return
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert result["client_secret"] != token.secret
        token.retired.append(token.secret)
        token.secret = result["client_secret"]
        token.version += 1
        self._same(token, result)

    @rule(token=consumes(tokens))
    def delete(self, token: Model) -> None:
        response = self._item("DELETE", token)
        if token.id not in self.live:
            assert response.status_code == 404, response.text
            return
        assert response.status_code == 200, response.text
        self._same(token, response.json()["result"])
        del self.live[token.id]
        self.deleted.append(token)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def secrets_are_exactly_the_current_ones(self) -> None:
        now = self.env.service.clock()
        with self.env.service.database.read() as tx:
            for model in self.live.values():
                stored = tx.tokens.by_client_id(model.client_id)
                assert stored is not None
                assert stored.client_secret_version == model.version
                assert verify_secret(stored, model.secret, now=now).admitted
                for old in model.retired:
                    assert not verify_secret(stored, old, now=now).admitted
            for model in self.deleted:
                assert tx.tokens.by_client_id(model.client_id) is None


def _run(env: FuzzEnv, *, examples: int, steps: int) -> None:
    machine = type("Lifecycle", (TokenLifecycle,), {"env": env})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_token_lifecycles(fuzz_env: FuzzEnv) -> None:
    _run(fuzz_env, examples=15, steps=25)


@pytest.mark.slow
def test_token_lifecycles_deep(engine_env: FuzzEnv) -> None:
    _run(engine_env, examples=deep(60), steps=50)
