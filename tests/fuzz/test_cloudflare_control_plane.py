"""Schemathesis against Cloudflare's own OpenAPI for the Access control plane (base URL
`/client/v4`, real ids, a Write token): no 5xx, status, content type and body as the spec
declares, and the v4 envelope.

Bodies the schema forbids (negative cases) are held to everything but the response schema:
identity and unavailable rules are kept as sent, loosely checked (ACCESS_CONTROL_PLANE.md
§3.1; docs/compatibility.md), so a rule such as `{"device_posture": {}}` is accepted and
echoed, and the 2024 schema, which requires `integration_uid` there, would call the echo
wrong. Schema-valid bodies get the full check, response schema included."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import CONTROL_PLANE_SPEC, QUICK_PHASES, FuzzEnv, deep, v4_envelope

schema = schemathesis.openapi.from_path(CONTROL_PLANE_SPEC)
# Credentials come from the test (a real Write token), not from generated security headers.
schema.config.generation.update(with_security_parameters=False)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    v4_envelope,
]
BASE_URL = "http://localhost/client/v4"
_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}


def _run(case: schemathesis.Case, env: FuzzEnv) -> None:
    env.aim(case.path_parameters)
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    checks = [c for c in CHECKS if not (negative and c is response_schema_conformance)]
    case.call_and_validate(app=env.app, base_url=BASE_URL, headers=env.headers, checks=checks)


@schema.parametrize()
@settings(max_examples=10, phases=QUICK_PHASES, **_SETTINGS)
def test_control_plane_contract(case: schemathesis.Case, fuzz_env: FuzzEnv) -> None:
    _run(case, fuzz_env)


@pytest.mark.slow
@schema.parametrize()
# 40, not the token suite's 100: generating from the applications' schema (13 app types,
# each with every rule shape) takes most of a minute per 100 cases.
@settings(max_examples=deep(40), **_SETTINGS)
def test_control_plane_contract_deep(case: schemathesis.Case, engine_env: FuzzEnv) -> None:
    _run(case, engine_env)
