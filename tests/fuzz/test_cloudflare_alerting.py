"""Schemathesis against Cloudflare's own OpenAPI for Notifications (alerting v3): webhook
destinations, policies, available alerts, eligible destinations, history — no 5xx, status,
content type and body as the spec declares, and the v4 envelope.

Generated path ids point half the time at a real webhook or policy of account A, and a
generated webhook `url` half the time at a real loopback receiver (the server is allowed
private targets for it), so creates and updates get past the test message as often as
they are refused; the other half goes wherever it was generated (refused by the target
rules or by the failed test message: a 400, never a 5xx). Bodies the schema forbids are
held to everything but the response schema, as in the other contract suites."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.domain.notifications.limits import AlertLimits
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from tests.conftest import World, make_world
from tests.fuzz.conftest import QUICK_PHASES, SPEC_DIR, deep, v4_envelope
from tests.notifications.receiver import Receiver

ALERTING_SPEC = SPEC_DIR / "cloudflare-alerting.openapi.json"


# Optional fields Cloudflare echoes as `null` when unset (NOTIFICATIONS_API.md, with the
# live reports it cites: a destination's `last_success`/`last_failure` until a real
# dispatch, a policy's `description`, `alert_interval`, `filters`); the 2024 text declares
# them plain strings / objects.
_NULLABLE = (
    "aaa_last_success",
    "aaa_last_failure",
    "aaa_schemas-description",
    "aaa_alert_interval",
    "aaa_filters",
)


def _document() -> dict[str, Any]:
    """The copied document, corrected here, in memory (the file stays verbatim): the
    fields in `_NULLABLE` may be `null`, and a mechanism's `id` is `anyOf` a UUID or an
    email address — as `oneOf` no id could conform, since every UUID string is also a
    string."""
    document: dict[str, Any] = json.loads(ALERTING_SPEC.read_text())
    schemas = document["components"]["schemas"]
    for name in _NULLABLE:
        schemas[name]["nullable"] = True
    mechanism_id = schemas["aaa_mechanisms"]["additionalProperties"]["items"]["properties"]["id"]
    mechanism_id["anyOf"] = mechanism_id.pop("oneOf")
    return document


schema = schemathesis.openapi.from_dict(_document())
schema.config.generation.update(with_security_parameters=False)


@schemathesis.check
def success_schema_conformance(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any
) -> bool | None:
    """The response schema, for successes. Cloudflare's alerting document gives its `4XX`
    answers the success schemas (`success: enum [true]`, a `result` object), which no
    failure can meet; failures are held to the v4 failure envelope (`v4_envelope`)."""
    if response.status_code >= 400:
        return None
    return response_schema_conformance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    success_schema_conformance,
    v4_envelope,
]
BASE_URL = "http://localhost/client/v4"
_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}


@dataclass
class AlertingEnv:
    app: Any
    world: World
    client: TestClient
    receiver: Receiver

    @property
    def headers(self) -> dict[str, str]:
        return self.world.bearer(self.world.write_a)

    def _base(self) -> str:
        return f"/client/v4/accounts/{self.world.account_a}/alerting/v3"

    def real_webhook(self) -> str:
        made = self.client.post(
            f"{self._base()}/destinations/webhooks",
            json={"name": "fuzz", "url": self.receiver.url, "secret": "s3cret"},
            headers=self.headers,
        )
        assert made.status_code == 201, made.text
        webhook_id: str = made.json()["result"]["id"]
        return webhook_id

    def real_policy(self) -> str:
        body = {
            "name": "fuzz",
            "alert_type": "expiring_service_token_alert",
            "mechanisms": {"webhooks": [{"id": self.real_webhook()}]},
        }
        made = self.client.post(f"{self._base()}/policies", json=body, headers=self.headers)
        assert made.status_code == 200, made.text
        policy_id: str = made.json()["result"]["id"]
        return policy_id

    def aim(self, case: schemathesis.Case) -> None:
        def heads(value: object) -> bool:
            return zlib.crc32(repr(value).encode()) % 2 == 0

        params = case.path_parameters or {}
        if "account_id" in params:
            params["account_id"] = self.world.account_a
        if "webhook_id" in params and heads(params["webhook_id"]):
            params["webhook_id"] = self.real_webhook()
        if "policy_id" in params and heads(params["policy_id"]):
            params["policy_id"] = self.real_policy()
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("url"), str) and heads(body["url"]):
            body["url"] = self.receiver.url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def alerting_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertingEnv]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'alerting.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = make_engine(url, pool_size=4)
    upgrade(engine)
    # Every example may make a real destination and policy: limits no fuzz run reaches
    # (the limits themselves are tests/notifications/test_fanout.py's).
    limits = AlertLimits(webhooks=1_000_000, policies=1_000_000)
    service = build_use_cases(Database(engine), allow_private_webhooks=True, alert_limits=limits)
    app = create_app(service)
    with Receiver() as receiver, TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield AlertingEnv(app, make_world(service), client, receiver)
    service.close()


def _run(case: schemathesis.Case, env: AlertingEnv) -> None:
    env.aim(case)
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    checks = [c for c in CHECKS if not (negative and c is success_schema_conformance)]
    case.call_and_validate(app=env.app, base_url=BASE_URL, headers=env.headers, checks=checks)


@schema.parametrize()
@settings(max_examples=15, phases=QUICK_PHASES, **_SETTINGS)
def test_alerting_contract(case: schemathesis.Case, alerting_env: AlertingEnv) -> None:
    _run(case, alerting_env)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=deep(15), **_SETTINGS)  # and the explicit phase: the spec's coverage cases
def test_alerting_contract_deep(case: schemathesis.Case, alerting_env: AlertingEnv) -> None:
    _run(case, alerting_env)
